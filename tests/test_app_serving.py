"""diffusion_core/demo: request validation (requests.py), the model cache (cache.py), the ZeroGPU wrapper (gpu.py)."""

import sys
import threading
import time
import types

import numpy as np
import pytest
from app_standins import ImagePipeline, points_pipeline, standin_cache

from diffusion_core.demo.cache import ModelCache, describe
from diffusion_core.demo.gpu import on_gpu_when_available
from diffusion_core.demo.requests import RequestError, SampleRequest, validate_request


@pytest.fixture(scope="module")
def cache():
    return standin_cache()


GOOD = {"model": "moons", "sampler": "ddim", "steps": 10, "eta": 0.0, "class_name": "upper moon",
        "guidance": 2.0, "num_samples": 64, "seed": 3}


def request(cache, **changes):
    return validate_request(cache, **{**GOOD, **changes})


BAD_INPUTS = [
    ({"model": "nope"}, "unknown model 'nope'; choose one of: moons, emnist"),
    ({"model": None}, "unknown model None"),
    ({"model": 3}, "unknown model 3"),
    ({"sampler": "euler"}, "unknown sampler 'euler'; choose one of ddpm, ddim, dpmpp_2m, heun, euler_ancestral"),
    ({"sampler": None}, "unknown sampler None"),
    ({"steps": 0}, "steps must be a whole number from 1 to 1000, got 0"),
    ({"steps": 1001}, "steps must be a whole number from 1 to 1000, got 1001"),
    ({"steps": 2.5}, "got 2.5"),
    ({"steps": "50"}, "got '50'"),
    ({"steps": True}, "got True"),
    ({"steps": float("nan")}, "got nan"),
    ({"eta": -0.1}, "eta (η) must be a number from 0 to 1, got -0.1"),
    ({"eta": 1.5}, "got 1.5"),
    ({"class_name": "A"},
     "class 'A' is not a class of moons; choose one of: unconditional, upper moon, lower moon"),
    ({"class_name": ["upper moon"]}, "class ['upper moon'] is not a class of moons"),
    ({"guidance": -1}, "guidance weight w must be a number from 0 to 20, got -1"),
    ({"guidance": 20.5}, "got 20.5"),
    ({"guidance": float("inf")}, "got inf"),
    ({"guidance": float("nan")}, "got nan"),
    ({"guidance": None}, "got None"),
    ({"num_samples": 0}, "number of points for moons must be a whole number from 1 to 5000, got 0"),
    ({"num_samples": 5001}, "got 5001"),
    ({"model": "emnist", "class_name": "A", "num_samples": 65},
     "number of images for emnist must be a whole number from 1 to 64, got 65"),
    ({"seed": -1}, "seed must be a whole number from 0 to 2147483647, got -1"),
    ({"seed": 2**31}, "got 2147483648"),
    ({"seed": 1.5}, "got 1.5"),
    ({"seed": None}, "got None"),
    ({"show_x0": "yes"}, "show_x0 must be true or false, got 'yes'"),
    ({"show_x0": 1}, "show_x0 must be true or false, got 1"),
    ({"field": True}, "field must be one of off, guided, all, got True"),
]


@pytest.mark.parametrize("changes, message", BAD_INPUTS, ids=[str(c) for c, _ in BAD_INPUTS])
def test_each_bad_input_is_refused_with_a_message_naming_value_and_allowed_range(cache, changes, message):
    with pytest.raises(RequestError) as error:
        request(cache, **changes)
    assert message in str(error.value)


def test_long_bad_values_are_shortened_in_the_message(cache):
    with pytest.raises(RequestError) as error:
        request(cache, model="x" * 10_000)
    assert len(str(error.value)) < 200


def test_valid_inputs_are_normalised(cache):
    checked = request(cache, sampler="DDPM", steps=20.0, seed=np.int64(5), class_name=None)
    # Normal form: DDPM has no η and w only counts with a class, so both are dropped here; DDPM's Σ is
    # resolved to the model's own (β̃ for a model that did not learn it).
    assert checked == SampleRequest("moons", "ddpm", 20, None, "unconditional", 0.0, 64, 5, False,
                                    variance="fixed_small")
    ddim = request(cache, sampler="ddim", class_name="upper moon", guidance=2.0, classifier_scale=5.0)
    assert (ddim.variance, ddim.guidance_kind, ddim.classifier_scale, ddim.guidance) == (None, "classifier-free", 0.0, 2.0)
    assert checked.label is None


def test_describe_tells_points_from_images(cache):
    points, images = cache.info("moons"), cache.info("emnist")
    assert (points.kind, points.sample_shape, points.max_samples) == ("points", (2,), 5000)
    assert points.dataset == "moons"
    assert (images.kind, images.sample_shape, images.max_samples) == ("images", (1, 28, 28), 64)
    assert images.class_names == tuple("ABCDEFGHIJ") and images.num_train_steps == 1000


def test_describe_refuses_samples_that_are_neither_points_nor_images():
    schedule = types.SimpleNamespace(num_train_steps=10)
    odd = types.SimpleNamespace(sample_shape=(3,), class_names=(), schedule=schedule)
    with pytest.raises(ValueError, match=r"shape \(3,\) are neither 2D points nor \(C, H, W\) images"):
        describe("odd", odd)


def test_cache_loads_each_model_once_under_concurrent_first_requests(tmp_path):
    (tmp_path / "moons" ).mkdir()
    (tmp_path / "moons" / "config.json").write_text("{}")
    calls = []

    def slow_loader(path):
        calls.append(path)
        time.sleep(0.05)
        return points_pipeline()

    cache = ModelCache(root=tmp_path, loader=slow_loader)
    results = []
    threads = [threading.Thread(target=lambda: results.append(cache.get("moons"))) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(calls) == 1 and len(results) == 8 and all(r is results[0] for r in results)


def test_cache_drops_a_folder_that_fails_to_load_and_keeps_serving_the_rest(tmp_path):
    for name in ("moons", "emnist", "broken"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "config.json").write_text('{"architecture": "the loader decides"}')
    (tmp_path / "notes").mkdir()  # no config.json: not a checkpoint
    (tmp_path / "emnist-classifier").mkdir()  # the judge's config.json: not a diffusion model, not offered
    (tmp_path / "emnist-classifier" / "config.json").write_text('{"model": {}, "report": {}}')

    def loader(path):
        if path.name == "broken":
            raise ValueError("config.json: missing keys")
        return ImagePipeline() if path.name == "emnist" else points_pipeline()

    cache = ModelCache(root=tmp_path, loader=loader)
    assert cache.names() == ["moons", "emnist", "broken"]
    assert cache.preload() == {"broken": "config.json: missing keys"}
    assert cache.names() == ["moons", "emnist"]


def test_the_cached_listing_follows_folders_added_removed_and_configs_rewritten(tmp_path, monkeypatch):
    import shutil

    from diffusion_core.demo import cache as cache_module

    reads = []
    listing = cache_module.list_checkpoints
    monkeypatch.setattr(cache_module, "list_checkpoints", lambda root: reads.append(1) or listing(root))

    def model(name, config='{"architecture": "the loader decides"}'):
        (tmp_path / name).mkdir(exist_ok=True)
        (tmp_path / name / "config.json").write_text(config)

    model("moons")
    cache = ModelCache(root=tmp_path, loader=lambda path: points_pipeline())
    assert cache.names() == cache.names() == ["moons"] and len(reads) == 1  # nothing changed: read once
    model("circles")
    assert cache.names() == ["moons", "circles"]
    model("circles", '{"model": {}, "report": {}}')  # rewritten as a classifier's: no longer a model
    assert cache.names() == ["moons"]
    shutil.rmtree(tmp_path / "moons")
    assert cache.names() == [] and len(reads) == 4


def test_a_listing_taken_mid_swap_is_not_kept_so_a_killed_writer_s_model_comes_back(tmp_path):
    import os

    from diffusion_core.weights import atomic

    (tmp_path / "moons").mkdir()
    (tmp_path / "moons" / "config.json").write_text('{"architecture": "the loader decides"}')
    cache = ModelCache(root=tmp_path, loader=lambda path: points_pipeline())
    assert cache.names() == ["moons"]
    # A writer between its two renames: the model sits in its locked old copy, nothing is at moons/.
    old = tmp_path / ".moons.old-x1"
    old.mkdir()
    writer = atomic._lock(old)
    os.replace(tmp_path / "moons", old / "moons")
    assert cache.names() == []  # a live writer's folder is left alone
    os.close(writer)  # ... and then the writer is killed: its lock goes, the folder stays
    assert cache.names() == ["moons"]  # listed again, the old copy restored
    assert sorted(p.name for p in tmp_path.iterdir()) == ["moons"]


def test_gpu_wrapper_is_identity_without_spaces_and_spaces_gpu_with_it(monkeypatch):
    def fn():
        return 1

    monkeypatch.setitem(sys.modules, "spaces", None)  # import spaces → ImportError
    assert on_gpu_when_available(fn) is fn
    fake = types.ModuleType("spaces")
    fake.GPU = lambda f: ("wrapped", f)
    monkeypatch.setitem(sys.modules, "spaces", fake)
    assert on_gpu_when_available(fn) == ("wrapped", fn)


def test_a_settings_link_round_trips_and_a_bad_one_is_ignored(cache):
    from diffusion_core.demo.requests import settings_from_query, settings_query

    values = {"model": "moons", "sampler": "ddpm", "steps": 40, "eta": 0.0, "class_name": "lower moon",
              "guidance": 2.5, "num_samples": 300, "seed": 7}
    query = dict(pair.split("=") for pair in settings_query(values)[1:].split("&"))
    query["class_name"] = query["class_name"].replace("+", " ")
    back = settings_from_query(cache, query)
    assert {name: back[name] for name in values} == values
    assert settings_from_query(cache, {**query, "steps": "5000"}) == {}  # outside 1..T: not applied
    assert settings_from_query(cache, {"utm_source": "x"}) == {}
    # A link naming only the model opens with that model's own defaults (16 characters, not 2000 points).
    emnist = settings_from_query(cache, {"model": "emnist"})
    assert emnist["model"] == "emnist" and emnist["num_samples"] == cache.info("emnist").default_samples
    both = settings_from_query(cache, {**query, "guidance_kind": "classifier-free", "classifier_scale": "2.5"})
    assert (both["guidance_kind"], both["classifier_scale"]) == ("classifier-free", 2.5)
    # The stand-in moons has no guide: a link asking for classifier guidance is not applied.
    assert settings_from_query(cache, {**query, "guidance_kind": "classifier"}) == {}
