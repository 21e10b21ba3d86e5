"""diffusion_core/live.py: one streamed run, its summary and quality meter, scrubbing and the GIF."""

import dataclasses
import json
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from app_standins import PacedPipeline, points_pipeline, standin_cache
from PIL import Image
from wire_decode import decode_arrows, decode_points

from diffusion_core.data import toy_dataset
from diffusion_core.demo import live, plots, quality
from diffusion_core.demo.cache import ModelCache, ModelInfo
from diffusion_core.demo.frames import SEND_INTERVAL_S, keyframe_indices
from diffusion_core.demo.requests import RequestError, validate_request
from diffusion_core.demo.threads import CoreShare
from diffusion_core.demo.wire import encode_arrows


@pytest.fixture(scope="module")
def cache():
    return standin_cache()


GOOD = {"model": "moons", "sampler": "ddim", "steps": 10, "eta": 0.0, "class_name": "upper moon",
        "guidance": 2.0, "num_samples": 64, "seed": 3}


def request(cache, **changes):
    return validate_request(cache, **{**GOOD, **changes})


def run(cache, **changes):
    return list(live.run_sample(request(cache, **changes), cache))


def test_streamed_run_is_exactly_the_samplers_run(cache):
    updates = run(cache, sampler="ddpm", steps=30, seed=11)
    result = updates[-1]
    expected = cache.get("moons").generate(64, sampler="ddpm", steps=30, label="upper moon", guidance=2.0,
                                           seed=11)
    assert isinstance(result, live.RunResult)
    assert all(isinstance(u, live.LiveFrames) for u in updates[:-1])
    assert np.array_equal(result.samples, expected.numpy())


def test_run_streams_the_first_frame_with_the_background_then_appends(cache):
    updates = list(live.run_sample(request(cache, steps=40), cache, send_interval=0.0))
    messages = [json.loads(u.message) for u in updates]
    assert messages[0]["mode"] == "replace" and messages[0]["background"]["key"] == "moons:0"
    assert all(m["mode"] == "append" and "background" not in m for m in messages[1:])
    assert [m["final"] for m in messages] == [False] * (len(messages) - 1) + [True]
    assert [f["index"] for m in messages for f in m["frames"]] == list(range(40))
    last = messages[-1]["frames"][-1]
    decoded = decode_points(last["xy"], last["limit"])
    assert np.abs(decoded - updates[-1].samples).max() < 1e-3
    assert last["title"] == "DDIM · step 40/40 · done: x₀, the samples"  # the finished samples, labelled so


def sampling_threads():
    return [t for t in threading.enumerate() if t.name.startswith("sample-") and t.is_alive()]


def test_sampling_runs_on_while_the_consumer_is_busy(cache):
    stream = live.run_sample(request(cache, sampler="ddpm", steps=300, num_samples=32), cache)
    first = next(stream)
    deadline = time.time() + 60
    while sampling_threads() and time.time() < deadline:  # nobody iterates the stream meanwhile
        time.sleep(0.01)
    assert not sampling_threads()
    rest = list(stream)
    assert isinstance(first, live.LiveFrames) and len(rest) == 1 and isinstance(rest[0], live.RunResult)
    assert json.loads(rest[0].message)["frames"][-1]["index"] == 299  # everything left came in one batch


class ThreadCounting(PacedPipeline):
    """Records torch's thread count in the sampling thread at every step."""

    def __init__(self, pipeline, step_s: float):
        super().__init__(pipeline, step_s)
        self.seen: list[int] = []

    def trajectory(self, *args, **kwargs):
        for step in super().trajectory(*args, **kwargs):
            self.seen.append(torch.get_num_threads())
            yield step


def test_a_lone_run_samples_on_every_core_and_two_runs_split_them():
    share = CoreShare(cores=2)
    first, second = ThreadCounting(points_pipeline(), 0.01), ThreadCounting(points_pipeline(), 0.01)
    cache = ModelCache(root=Path("/nonexistent"))
    cache.add("moons", first)
    cache.add("moons too", second)
    for name in ("moons", "moons too"):  # models that use both cores well (the thread probe may cap a tiny one)
        cache._served[name] = dataclasses.replace(cache._served[name], threads=None)
    first.seen.clear(), second.seen.clear()  # serving a model measures its step cost first
    before = torch.get_num_threads()
    try:
        stream = live.run_sample(request(cache, sampler="ddpm", steps=60), cache, share=share)
        next(stream)  # the first run is sampling, alone
        later = live.run_sample(request(cache, model="moons too", sampler="ddpm", steps=120), cache,
                                share=share)
        assert isinstance(list(later)[-1], live.RunResult) and isinstance(list(stream)[-1], live.RunResult)
    finally:
        torch.set_num_threads(before)
    assert first.seen[0] == 2  # alone: both cores
    assert 1 in first.seen  # halved once the second run started
    assert second.seen[0] == 1 and second.seen[-1] == 2  # and the second got both back when the first ended
    assert share.runs == 0


def test_closing_the_stream_stops_the_sampling_thread(cache):
    stream = live.run_sample(request(cache, sampler="ddpm", steps=1000, num_samples=500), cache)
    next(stream)
    stream.close()
    deadline = time.time() + 10
    while sampling_threads() and time.time() < deadline:
        time.sleep(0.01)
    assert not sampling_threads()


class FailingPipeline:
    """Yields two steps of a real run, then fails like a broken model would."""

    def __init__(self, pipeline):
        self.pipeline, self.class_names, self.schedule = pipeline, pipeline.class_names, pipeline.schedule
        self.sample_shape, self.dataset = pipeline.sample_shape, pipeline.dataset

    def trajectory(self, *args, **kwargs):
        steps = self.pipeline.trajectory(*args, **kwargs)
        yield next(steps)
        yield next(steps)
        raise RuntimeError("the model broke at step 3")


def test_an_error_in_the_sampling_thread_reaches_the_caller():
    cache = ModelCache(root=Path("/nonexistent"))
    cache.add("moons", FailingPipeline(points_pipeline()))
    with pytest.raises(RuntimeError, match="the model broke at step 3"):
        list(live.run_sample(request(cache), cache))


def test_summary_reports_the_request_the_shape_and_the_timing(cache):
    result = run(cache)[-1]
    summary = result.summary
    keys = ("model", "sampler", "steps", "eta", "class", "guidance", "num_samples", "seed")
    assert {k: summary[k] for k in keys} == {
        "model": "moons", "sampler": "ddim", "steps": 10, "eta": 0.0, "class": "upper moon", "guidance": 2.0,
        "num_samples": 64, "seed": 3,
    }
    assert summary["sample_shape"] == [64, 2]
    assert 0 < summary["first_frame_s"] <= summary["sampling_s"] <= summary["elapsed_s"]
    assert summary["frames_sent"] == 10 and summary["run_id"] == result.run_id
    assert set(summary["quality"]) == {"sw_ratio", "strays", "class_conformity"}
    json.dumps(summary)  # the API returns it as JSON


def test_unconditional_ddpm_summary_has_no_eta_and_no_guidance(cache):
    summary = run(cache, sampler="ddpm", class_name="unconditional", guidance=7.0, eta=0.5)[-1].summary
    assert summary["eta"] is None and summary["guidance"] == 0.0 and summary["class"] == "unconditional"
    assert set(summary["quality"]) == {"sw_ratio", "strays"}


def test_image_run_ends_with_a_grid_and_streams_image_frames(cache):
    updates = run(cache, model="emnist", class_name="C", num_samples=5, steps=4)
    result = updates[-1]
    assert result.samples.shape == (5, 1, 28, 28) and result.figure is None
    # 5 images in 3 columns with 2 px padding (62×92), enlarged 5× to fit 480 pixels
    assert result.grid.shape == (5 * (2 * 30 + 2), 5 * (3 * 30 + 2))
    assert result.summary["sample_shape"] == [5, 1, 28, 28] and result.summary["quality"] is None
    frames = [f for u in updates for f in json.loads(u.message)["frames"]]
    assert {f["kind"] for f in frames} == {"images"}
    assert -1.0 <= result.samples.min() and result.samples.max() <= 1.0


def test_thousand_step_run_sends_far_fewer_messages_than_steps(cache):
    updates = run(cache, sampler="ddpm", steps=1000, num_samples=16)
    summary = updates[-1].summary
    assert summary["frames_sent"] <= 60 + 30 * summary["sampling_s"] + 2
    assert len(updates) - 1 <= summary["sampling_s"] / SEND_INTERVAL_S + 2
    assert updates[-1].keyframes == 60


def test_scrubbing_shows_the_stored_keyframe(cache):
    result = run(cache, sampler="ddpm", steps=100)[-1]
    message = json.loads(live.scrub_message(cache, result.run, 59))
    frame = message["frames"][0]
    assert message["mode"] == "replace" and frame["index"] == 99
    assert np.abs(decode_points(frame["xy"], frame["limit"]) - result.samples).max() < 2e-3
    first = json.loads(live.scrub_message(cache, result.run, 0))["frames"][0]
    assert first["index"] == keyframe_indices(100)[0] == 0


def test_show_x0_streams_and_stores_the_models_guess(cache):
    updates = run(cache, steps=6, show_x0=True)
    options = {"sampler": "ddim", "steps": 6, "label": "upper moon", "guidance": 2.0, "seed": 3}
    expected = list(cache.get("moons").trajectory(64, **options))
    frames = [f for u in updates for f in json.loads(u.message)["frames"]]
    for frame, step in zip(frames, expected, strict=True):
        assert np.abs(decode_points(frame["x0"], frame["limit"]) - step.x0.numpy()).max() < 1e-3
    scrubbed = json.loads(live.scrub_message(cache, updates[-1].run, 2))["frames"][0]
    guess = decode_points(scrubbed["x0"], scrubbed["limit"])
    assert np.abs(guess - expected[2].x0.numpy()).max() < 2e-2  # stored as float16
    assert updates[-1].summary["show_x0"] is True


def test_images_show_the_guess_grid_beside_the_current_one(cache):
    updates = run(cache, model="emnist", class_name="B", num_samples=4, steps=3, show_x0=True)
    assert all("x0_pixels" in f for u in updates for f in json.loads(u.message)["frames"])


def test_scrubbing_an_unknown_run_or_frame_is_refused(cache):
    result = run(cache, steps=3)[-1]
    with pytest.raises(RequestError, match="press Run again"):
        live.scrub_message(cache, None, 0)
    with pytest.raises(RequestError, match="frame must be a whole number from 0 to 2, got 3"):
        live.scrub_message(cache, result.run, 3)


@pytest.mark.parametrize("model, label", [("moons", "upper moon"), ("emnist", "A")])
def test_gif_has_one_frame_per_stored_keyframe(cache, tmp_path, model, label):
    result = run(cache, model=model, class_name=label, steps=12, num_samples=9)[-1]
    path = live.trajectory_gif(cache, result.run, folder=tmp_path)
    with Image.open(path) as gif:
        assert gif.format == "GIF" and gif.n_frames == 12


def test_quality_meter_scores_real_data_near_one_and_shifted_data_far_worse():
    info = ModelInfo("moons", "points", (2,), ("upper moon", "lower moon"), 1000, "moons", 5000, 2000)
    points, labels = toy_dataset("moons", 6000, seed=123)
    upper = points[labels == 0][:1500].numpy()
    good = quality.quality_figures(info, 0, upper)
    shifted = quality.quality_figures(info, 0, upper + 1.0)
    assert good["class_conformity"] > 0.98 and good["sw_ratio"] < 1.6 and good["strays"] < 0.025
    assert shifted["sw_ratio"] > 5 * good["sw_ratio"] and shifted["strays"] > 0.5


def test_intro_shows_the_data_for_2d_models_and_a_prompt_for_image_models(cache):
    points = json.loads(live.intro_message(cache, "moons", "lower moon"))
    images = json.loads(live.intro_message(cache, "emnist"))
    assert points["background"]["key"] == "moons:1" and points["frames"][0]["kind"] == "blank"
    assert images["background"] is None and "Press Run" in images["frames"][0]["title"]


def test_the_field_streams_arrows_at_each_frames_timestep_and_never_for_images(cache):
    from diffusion_core.demo.field import grid_points, score_fields

    updates = run(cache, steps=5, field="all")
    frames = [f for u in updates for f in json.loads(u.message)["frames"]]
    assert len(frames) == 5 and updates[-1].summary["field"] == "all"
    pipeline = cache.get("moons")
    points = grid_points(frames[0]["limit"], frames[0]["field"]["size"])
    for frame in frames:
        assert set(frame["field"]) == {"size", "conditional", "unconditional", "guided"}
        exact = score_fields(pipeline.model, pipeline.schedule, pipeline.prediction, points, frame["t"], 0, 2.0)
        for name in ("conditional", "unconditional", "guided"):
            assert frame["field"][name] == encode_arrows(exact[name])
            assert decode_arrows(frame["field"][name]).shape == (len(points), 2)
    images = run(cache, model="emnist", class_name="B", num_samples=2, steps=2, field="all")
    assert images[-1].summary["field"] == "off"
    assert all("field" not in f for u in images[:-1] for f in json.loads(u.message)["frames"])


def test_the_gif_carries_the_guess_when_it_was_shown(cache, tmp_path):
    def crimson_pixels(path) -> int:
        with Image.open(path) as gif:
            gif.seek(gif.n_frames - 1)
            rgb = np.asarray(gif.convert("RGB")).astype(int)
        return int(((rgb[..., 0] > 150) & (rgb[..., 1] < 60) & (rgb[..., 2] < 90)).sum())

    plain = run(cache, steps=6, num_samples=200, seed=4)[-1]
    guessed = run(cache, steps=6, num_samples=200, seed=4, show_x0=True)[-1]
    assert crimson_pixels(live.trajectory_gif(cache, plain.run, folder=tmp_path)) == 0
    assert crimson_pixels(live.trajectory_gif(cache, guessed.run, folder=tmp_path)) > 100
    sizes = []
    for show_x0 in (False, True):
        images = run(cache, model="emnist", class_name="B", num_samples=4, steps=3, show_x0=show_x0)[-1]
        with Image.open(live.trajectory_gif(cache, images.run, folder=tmp_path)) as gif:
            sizes.append(gif.size)
    (w0, h0), (w1, h1) = sizes
    assert w1 / h1 > 1.5 * w0 / h0  # twice as wide a picture: x_t and the guess side by side


def test_scrubbing_a_run_with_the_field_on_shows_its_arrows_at_that_frame(cache):
    updates = run(cache, steps=5, field="all")
    streamed = [f for u in updates for f in json.loads(u.message)["frames"]]
    for position in (0, 2, 4):
        scrubbed = json.loads(live.scrub_message(cache, updates[-1].run, position))["frames"][0]
        assert scrubbed["field"] == streamed[position]["field"]
    plain = run(cache, steps=5)[-1]
    assert "field" not in json.loads(live.scrub_message(cache, plain.run, 2))["frames"][0]


def test_the_gif_carries_the_field_when_it_was_shown(cache, tmp_path):
    def pixels_of(path, color: str) -> int:
        target = np.array([int(color[k:k + 2], 16) for k in (1, 3, 5)])
        with Image.open(path) as gif:
            gif.seek(gif.n_frames // 2)
            rgb = np.asarray(gif.convert("RGB")).astype(int)[:-plots.CAPTION_PIXELS]  # above the caption's dark text
        return int((np.abs(rgb - target).max(axis=-1) < 24).sum())

    gifs = {mode: live.trajectory_gif(cache, run(cache, steps=6, num_samples=50, seed=4, field=mode)[-1].run,
                                      folder=tmp_path) for mode in ("off", "guided", "all")}
    guided, conditional = plots.ARROW_COLORS["guided"], plots.ARROW_COLORS["conditional"]
    assert pixels_of(gifs["off"], guided) < 20 and pixels_of(gifs["off"], conditional) < 20
    assert pixels_of(gifs["guided"], guided) > 300 and pixels_of(gifs["guided"], conditional) < 20
    assert pixels_of(gifs["all"], conditional) > 300
