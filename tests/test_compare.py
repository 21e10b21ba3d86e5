"""Two samplers from the same noise: the same x_T, side-by-side pictures, timings and the paired gap."""

import threading
import types

import numpy as np
import pytest
from app_standins import standin_cache

from diffusion_core.demo import plots
from diffusion_core.demo.compare import CompareProgress, compare, compare_steps
from diffusion_core.demo.handlers import Handlers
from diffusion_core.demo.requests import validate_request

pytestmark = pytest.mark.usefixtures("single_thread")


@pytest.fixture(scope="module")
def cache():
    return standin_cache()


def side(cache, **changes):
    values = {"model": "moons", "sampler": "ddim", "steps": 20, "eta": 0.0, "class_name": "upper moon",
              "guidance": 0.0, "num_samples": 30, "seed": 4, **changes}
    return validate_request(cache, **values)


def test_ddpm_and_ddim_with_eta_one_on_all_steps_start_from_the_same_noise_and_agree(cache):
    # DDIM η=1 over every timestep is DDPM's ancestral sampler: from the same x_T and the same
    # later draws the two runs coincide, which they could not if either started from other noise.
    _, summary = compare(cache, side(cache, sampler="ddpm", steps=1000), side(cache, steps=1000, eta=1.0))
    assert summary["same_initial_noise"] is True
    assert summary["mean_distance_between_paired_samples"] < 1e-3


def test_different_samplers_differ_and_each_side_reports_its_settings_time_and_quality(cache):
    picture, summary = compare(cache, side(cache, steps=10), side(cache, steps=10, guidance=3.0))
    assert picture.ndim == 3 and picture.shape[2] == 3 and picture.shape[1] > 2 * picture.shape[0] - 100
    first, second = summary["sides"]
    assert (first["sampler"], first["steps"], first["guidance"]) == ("ddim", 10, 0.0)
    assert second["guidance"] == 3.0 and first["seconds"] > 0 and second["seconds"] > 0
    assert "sw_ratio" in first["quality"] and "class_conformity" in second["quality"]
    assert summary["mean_distance_between_paired_samples"] > 1e-3
    repeat, again = compare(cache, side(cache, steps=10), side(cache, steps=10))
    assert again["mean_distance_between_paired_samples"] == 0.0
    panel = (repeat.shape[1] - 12) // 2  # two panels 12 px apart, each above a caption with its time
    pictures = repeat[: -plots.CAPTION_PIXELS]
    assert np.array_equal(pictures[:, :panel], pictures[:, panel + 12 :])


def test_images_compare_as_grids_and_sides_must_share_model_class_count_and_seed(cache):
    picture, summary = compare(cache, side(cache, model="emnist", class_name="B", num_samples=4, steps=3),
                               side(cache, model="emnist", class_name="B", num_samples=4, steps=3, eta=1.0))
    assert picture.shape[2] == 3 and len(summary["sides"]) == 2
    with pytest.raises(ValueError, match="they differ in seed"):
        compare(cache, side(cache), side(cache, seed=5))


def test_the_comparison_streams_each_side_s_progress_then_its_result(cache):
    items = list(compare_steps(cache, side(cache, sampler="ddpm", steps=200), side(cache, steps=30), interval=0.0))
    *progress, (picture, summary) = items
    assert all(isinstance(item, CompareProgress) for item in progress)
    a = [item.step for item in progress if item.side == "A"]
    b = [item.step for item in progress if item.side == "B"]
    assert a == list(range(0, 201)) and b == list(range(0, 31))  # every step with interval 0, A before B
    assert {item.num_steps for item in progress if item.side == "A"} == {200}
    assert picture.ndim == 3 and len(summary["sides"]) == 2


def test_a_stopped_comparison_ends_at_the_next_step_with_how_far_it_got(cache):
    stop = threading.Event()
    stream = compare_steps(cache, side(cache, sampler="ddpm", steps=200), side(cache, steps=30), stop=stop,
                           interval=0.0)
    seen = []
    for item in stream:
        seen.append(item)
        if isinstance(item, CompareProgress) and item.step == 5:
            stop.set()
    assert all(isinstance(item, CompareProgress) for item in seen)  # no result
    assert seen[-1] == CompareProgress("A", 6, 200)


def test_the_compare_handler_reports_progress_and_a_stop_in_words(cache):
    handlers = Handlers(cache)
    request = types.SimpleNamespace(session_hash="visitor-1")
    args = ("moons", "upper moon", 30, 4, "ddpm", 300, 0.0, 0.0, "classifier-free", 0.0,
            "ddim", 20, 0.0, 0.0, "classifier-free", 0.0)
    stream = handlers.compare_samplers(*args, request=request, progress=lambda *a, **k: None)
    outputs = [next(stream)]
    handlers.stop_compare(request)
    outputs += list(stream)
    summary = outputs[-1][1]
    assert summary["status"] == "stopped" and summary["side"] == "A" and 0 < summary["step"] < 300
    assert handlers.compare_words(summary).startswith(f"**Stopped** at step {summary['step']} of 300 of side A")
    # A new comparison in the same session runs to its end: Stop is cleared when it starts.
    *_, (picture, finished) = handlers.compare_samplers(*args[:5], 10, *args[6:], request=request,
                                                        progress=lambda *a, **k: None)
    assert len(finished["sides"]) == 2
