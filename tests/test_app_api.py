"""app.py through gradio_client, against the app served on 127.0.0.1: what an API client sees."""

import base64
import json
import os
import threading
import time

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

import httpx
import numpy as np
import pytest
from gradio_client import Client
from gradio_client.exceptions import AppError, ValidationError
from PIL import Image
from wire_decode import decode_points

from diffusion_core.weights.pipeline import CHECKPOINTS_DIR

ARGS = ("model", "sampler", "steps", "eta", "class_name", "guidance", "num_samples", "seed", "show_x0", "field")


@pytest.fixture(scope="module")
def served(served_app):
    return served_app[:2]


@pytest.fixture(scope="module")
def client(served):
    return Client(served[1], verbose=False)


def sample(client, **request):
    values = {"model": "moons", "sampler": "ddim", "steps": 5, "eta": 0.0, "class_name": "unconditional",
              "guidance": 0.0, "num_samples": 50, "seed": 0, "show_x0": False, "field": "off", **request}
    return client.predict(*(values[name] for name in ARGS), api_name="/sample")


def plotted_samples(plot) -> np.ndarray:
    """The 'samples' trace of the final plotly figure as (N, 2)."""
    figure = json.loads(plot["plot"])
    trace = next(t for t in figure["data"] if t["name"] == "samples")

    def values(array):
        if isinstance(array, dict):
            return np.frombuffer(base64.b64decode(array["bdata"]), dtype=array["dtype"])
        return np.asarray(array)

    return np.stack([values(trace["x"]), values(trace["y"])], axis=1)


def test_every_model_and_sampler_ends_with_a_result_of_the_right_shape(served, client):
    cache, _ = served
    for model in cache.names():
        info = cache.info(model)
        n = 30 if info.kind == "points" else 6
        label = info.class_names[0]
        for sampler in ("ddpm", "ddim"):
            live, plot, images, summary, _, _, _ = sample(client, model=model, sampler=sampler, steps=8,
                                                        class_name=label, guidance=1.0, num_samples=n)
            assert summary["sample_shape"] == [n, *info.sample_shape], (model, sampler)
            assert (summary["model"], summary["sampler"], summary["class"]) == (model, sampler, label)
            if info.kind == "points":
                assert plotted_samples(plot).shape == (n, 2) and images is None
            else:
                with Image.open(images) as grid:
                    # 6 characters in a 3×2 grid with 2 px padding (92×62), enlarged 5×
                    assert grid.size == (5 * (3 * 30 + 2), 5 * (2 * 30 + 2))
                assert plot is None
            assert json.loads(live)["final"] is True


def test_stream_yields_several_frames_before_the_last(client):
    # "paced" takes ≥ 4 ms a step: ≥ 1.6 s in all, so ≥ 4 batches at ≤ 10 a second, on any machine.
    job = client.submit("paced", "ddpm", 400, 0.0, "unconditional", 0.0, 200, 1, False, api_name="/sample")
    result = job.result()
    outputs = job.outputs()
    live_messages = [json.loads(output[0]) for output in outputs]
    assert len(outputs) >= 4
    assert [m["final"] for m in live_messages] == [False] * (len(outputs) - 1) + [True]
    frames = [f for m in live_messages for f in m["frames"]]
    assert [f["index"] for f in frames] == sorted(f["index"] for f in frames)
    assert frames[-1]["index"] == 399 and len(frames) < 400
    assert result[3]["frames_sent"] == len(frames)
    # While it plays, the summary says how far the run has got: the last step each message shows.
    progress = [output[3] for output in outputs[:-1]]
    assert {p["status"] for p in progress} == {"sampling"} and {p["num_steps"] for p in progress} == {400}
    assert [p["step"] for p in progress] == [m["frames"][-1]["index"] + 1 for m in live_messages[:-1]]
    assert all(output[1] is None and output[2] is None for output in outputs[:-1])  # the old run's pictures go


def test_summary_is_right_and_the_plot_holds_the_summarised_samples(client):
    live, plot, _, summary, scrub, _, _ = sample(client, model="moons", sampler="ddim", steps=12, eta=0.5,
                                           class_name="lower moon", guidance=4.0, num_samples=77, seed=42)
    keys = ("model", "sampler", "steps", "eta", "class", "guidance", "num_samples", "seed")
    assert {k: summary[k] for k in keys} == {
        "model": "moons", "sampler": "ddim", "steps": 12, "eta": 0.5, "class": "lower moon", "guidance": 4.0,
        "num_samples": 77, "seed": 42,
    }
    assert summary["elapsed_s"] > 0 and set(summary["quality"]) == {"sw_ratio", "strays", "class_conformity"}
    last = json.loads(live)["frames"][-1]
    streamed = decode_points(last["xy"], last["limit"])
    assert np.abs(streamed - plotted_samples(plot)).max() < 2e-3  # the last frame shows the final samples
    assert scrub["maximum"] == 11 and scrub["interactive"] is True


def test_same_seed_gives_the_same_samples(client):
    first = plotted_samples(sample(client, seed=9, sampler="ddpm")[1])
    second = plotted_samples(sample(client, seed=9, sampler="ddpm")[1])
    other = plotted_samples(sample(client, seed=10, sampler="ddpm")[1])
    assert np.array_equal(first, second) and not np.array_equal(first, other)


def test_no_arguments_run_the_ui_defaults(client):
    summary = client.predict(api_name="/sample")[3]
    assert {k: summary[k] for k in ("model", "sampler", "steps", "eta", "class", "num_samples", "seed")} == {
        "model": "moons", "sampler": "ddpm", "steps": 100, "eta": None, "class": "unconditional",
        "num_samples": 2000, "seed": 0,
    }
    assert summary["show_x0"] is False and summary["field"] == "off"


BAD_REQUESTS = [
    ({"model": "nope"}, "unknown model 'nope'; choose one of:"),
    ({"model": ""}, "unknown model ''"),
    ({"sampler": "euler"}, "unknown sampler 'euler'; choose one of ddpm, ddim, dpmpp_2m, heun, euler_ancestral"),
    ({"steps": 0}, "steps must be a whole number from 1 to 1000, got 0"),
    ({"steps": 1001}, "steps must be a whole number from 1 to 1000, got 1001"),
    ({"steps": -5}, "got -5"),
    ({"steps": 2.5}, "got 2.5"),
    ({"steps": "ten"}, "got 'ten'"),
    ({"steps": None}, "got None"),
    ({"eta": 2}, "eta (η) must be a number from 0 to 1, got 2"),
    ({"eta": -0.5}, "got -0.5"),
    ({"class_name": "no such class"},
     "class 'no such class' is not a class of moons; choose one of: unconditional"),
    ({"class_name": 0}, "class 0 is not a class of moons"),
    ({"guidance": -1}, "guidance weight w must be a number from 0 to 20, got -1"),
    ({"guidance": 21}, "got 21"),
    ({"guidance": "3"}, "got '3'"),
    ({"num_samples": 0}, "number of points for moons must be a whole number from 1 to 5000, got 0"),
    ({"num_samples": 10**9}, "got 1000000000"),
    ({"model": "emnist", "num_samples": 65},
     "number of images for emnist must be a whole number from 1 to 64"),
    ({"seed": -1}, "seed must be a whole number from 0 to 2147483647, got -1"),
    ({"seed": 2**40}, "got 1099511627776"),
    ({"seed": 0.5}, "got 0.5"),
    ({"seed": [1]}, "got [1]"),
    ({"show_x0": "yes"}, "show_x0 must be true or false, got 'yes'"),
    ({"field": "sideways"}, "field must be one of off, guided, all, got 'sideways'"),
]


@pytest.mark.parametrize("bad, message", BAD_REQUESTS, ids=[str(b) for b, _ in BAD_REQUESTS])
def test_bad_request_gets_a_clear_error_and_the_next_good_request_succeeds(client, bad, message):
    with pytest.raises(ValidationError) as error:  # refused by the validator, before the queue
        sample(client, **bad)
    assert message in str(error.value)
    assert sample(client, steps=1, num_samples=2)[3]["sample_shape"] == [2, 2]


@pytest.mark.parametrize("token, shown", [("NaN", "nan"), ("Infinity", "inf"), ("-Infinity", "-inf")])
def test_non_finite_guidance_over_raw_http_gets_a_clear_error(served, client, token, shown):
    # gradio_client cannot send NaN or ±inf (strict JSON); a raw HTTP client can.
    url = served[1]
    body = f'{{"data": ["moons", "ddim", 5, 0.0, "upper moon", {token}, 50, 0, false, "off", "classifier-free", 0.0, "default"]}}'
    headers = {"content-type": "application/json"}
    posted = httpx.post(f"{url}gradio_api/call/sample", content=body, headers=headers)
    # Refused by the validator before the queue: 422, the message naming the input in the reply.
    assert posted.status_code == 422
    refusal = posted.json()["detail"]
    assert [item["parameter_name"] for item in refusal if not item["is_valid"]] == ["guidance"]
    assert f"guidance weight w must be a number from 0 to 20, got {shown}" in posted.text
    assert sample(client, steps=1, num_samples=2)[3]["sample_shape"] == [2, 2]


def test_eight_concurrent_clients_all_succeed(served):
    url = served[1]
    results, errors = {}, []

    def one(seed):
        try:
            client = Client(url, verbose=False)
            results[seed] = sample(client, sampler="ddpm", steps=40, num_samples=300, seed=seed)[3]
        except Exception as error:  # noqa: BLE001 - collected and reported below
            errors.append(error)

    threads = [threading.Thread(target=one, args=(seed,)) for seed in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert errors == [] and sorted(results) == list(range(8))
    assert all(result["seed"] == seed for seed, result in results.items())
    assert all(result["sample_shape"] == [300, 2] for result in results.values())


def test_scrub_and_gif_work_on_the_clients_last_run(served):
    client = Client(served[1], verbose=False)
    sample(client, sampler="ddpm", steps=20, num_samples=40)
    frame = json.loads(client.predict(3, api_name="/scrub"))["frames"][0]
    assert frame["index"] == 3 and frame["num_steps"] == 20
    with Image.open(client.predict(api_name="/gif")) as gif:
        assert gif.format == "GIF" and gif.n_frames == 20


def test_scrub_before_any_run_says_to_run_first(served):
    with pytest.raises(AppError, match="press Run again"):
        Client(served[1], verbose=False).predict(0, api_name="/scrub")


def test_changing_the_model_updates_classes_steps_and_sample_limit(served, client):
    cache = served[0]
    info = cache.info("emnist")
    classes, steps, count, _, plot, images, *_ = client.predict(
        "emnist", "upper moon", 50, 2000, api_name="/model_controls"
    )
    assert [c[0] for c in classes["choices"]] == ["unconditional", *info.class_names]
    assert classes["value"] == "unconditional"
    assert steps["maximum"] == info.num_train_steps and count["maximum"] == 64 and count["value"] == 16
    assert plot["visible"] is False and images["visible"] is True


def test_a_cancelled_run_leaves_the_server_serving(client):
    job = client.submit("moons", "ddpm", 1000, 0.0, "unconditional", 0.0, 3000, 5, False, api_name="/sample")
    deadline = time.time() + 60
    while not job.outputs() and time.time() < deadline:
        time.sleep(0.02)
    job.cancel()
    started = time.perf_counter()
    assert sample(client, steps=2, num_samples=5)[3]["sample_shape"] == [5, 2]
    assert time.perf_counter() - started < 30


def test_explain_follows_the_controls_and_rejects_bad_values(client):
    text = client.predict("moons", "ddpm", 100, 0.0, "upper moon", 2.0, api_name="/explain")
    assert "respaced" in text and "class **upper moon**" in text and "$$" in text
    text = client.predict("moons", "ddim", 50, 1.0, "unconditional", 0.0, api_name="/explain")
    assert "as much fresh noise as DDPM" in text and "**unconditional**" in text
    with pytest.raises(AppError, match="greater than maximum value 1000|steps must be a whole number"):
        client.predict("moons", "ddim", 5000, 0.0, "unconditional", 0.0, api_name="/explain")


def test_papers_tables_show_the_evaluated_figures_of_the_chosen_model(served, client):
    cache, _ = served
    evaluated = [name for name in cache.names() if cache.folder(name) and (cache.folder(name) / "eval.json").is_file()]
    assert evaluated, "the shipped 2D models carry eval.json"
    guidance, steps = client.predict(evaluated[0], "unconditional", 50, 16, api_name="/model_controls")[8:10]
    assert guidance["visible"] is True and steps["visible"] is True
    names = [trace["name"] for trace in json.loads(guidance["value"]["plot"])["data"]]
    assert any(name.startswith("conformity") for name in names)
    guidance, steps = client.predict("paced", "unconditional", 50, 16, api_name="/model_controls")[8:10]  # never evaluated
    assert guidance["visible"] is False and steps["visible"] is False


def test_the_field_reaches_an_api_client_in_the_stream(client):
    job = client.submit("moons", "ddim", 6, 0.0, "upper moon", 2.0, 40, 0, False, "guided", api_name="/sample")
    result = job.result()
    frames = [f for update in job.outputs() for f in json.loads(update[0])["frames"]]
    assert len(frames) == 6 and all(set(f["field"]) == {"size", "guided"} for f in frames)
    assert result[3]["field"] == "guided"


def test_compare_runs_both_sides_from_the_same_noise_and_validates_each(client):
    picture, summary = client.predict("moons", "upper moon", 40, 2, "ddpm", 1000, 0.0, 0.0, "classifier-free", 0.0,
                                      "ddim", 1000, 1.0, 0.0, "classifier-free", 0.0, api_name="/compare")
    assert summary["same_initial_noise"] is True and [s["sampler"] for s in summary["sides"]] == ["ddpm", "ddim"]
    assert summary["mean_distance_between_paired_samples"] < 1e-3  # DDIM η=1 on all steps is DDPM
    with Image.open(picture) as image:
        assert image.width > 2 * image.height - 100
    with pytest.raises(ValidationError, match="b_eta: eta \\(η\\) must be a number from 0 to 1, got 3"):
        client.predict("moons", "upper moon", 40, 2, "ddpm", 10, 0.0, 0.0, "classifier-free", 0.0,
                       "ddim", 10, 3, 0.0, "classifier-free", 0.0, api_name="/compare")


def test_recomputing_the_tables_measures_a_2d_model_now_and_explains_why_not_for_images(client):
    guidance, steps = client.predict("moons", api_name="/recompute_tables")
    lines = {trace["name"]: trace for trace in json.loads(steps["value"]["plot"])["data"]}
    assert {"DDIM η=0", "DDIM η=1", "DDPM, 1000 steps", "real data"} <= set(lines)
    assert list(lines["DDIM η=0"]["x"]) == [10, 20, 50]
    assert guidance["visible"] is True
    if (CHECKPOINTS_DIR / "moons-guide").is_dir():  # with its guide: classifier guidance's panel beside CFG's
        panels = {trace.get("xaxis", "x") for trace in json.loads(guidance["value"]["plot"])["data"]}
        assert {"x", "x2"} <= panels
    with pytest.raises(AppError, match="the sweeps of an image model take minutes"):
        client.predict("emnist", api_name="/recompute_tables")


def test_the_guess_and_the_character_meter_reach_an_api_client(client):
    job = client.submit("moons", "ddim", 5, 0.0, "upper moon", 2.0, 30, 0, True, "off", api_name="/sample")
    job.result()
    frames = [f for update in job.outputs() for f in json.loads(update[0])["frames"]]
    assert len(frames) == 5 and all(decode_points(f["x0"], f["limit"]).shape == (30, 2) for f in frames)
    summary = sample(client, model="emnist", class_name="B", num_samples=6, steps=4, guidance=3.0)[3]
    quality = summary["quality"]
    assert quality["judge"] == "emnist-classifier" and quality["characters"] == 6
    assert 0.0 <= quality["class_conformity"] <= 1.0 and quality["diversity"] >= 0.0
