"""The app's weights source: Hub weights at a revision, at start-up and on demand, never breaking the demo."""

import os
import time

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

import pytest
import torch
from hub_helpers import REPO, make_checkpoint

import app
from diffusion_core.demo.cache import ModelCache
from diffusion_core.demo.requests import RequestError
from diffusion_core.weights import hub
from diffusion_core.weights import source as weights_source

pytestmark = pytest.mark.usefixtures("single_thread")


def weights_of(pipeline) -> dict:
    return {k: v.clone() for k, v in pipeline.model.state_dict().items()}


def same(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


@pytest.fixture
def shipped(tmp_path):
    """checkpoints/ with a shipped moons (seed 0); the Hub's moons is made from seed 1."""
    make_checkpoint(tmp_path / "checkpoints" / "moons", seed=0)
    return tmp_path / "checkpoints"


def test_loading_hub_weights_swaps_the_model_and_going_back_restores_the_shipped_ones(fake_hub, shipped, tmp_path):
    pushed = hub.push_checkpoint(make_checkpoint(tmp_path / "hub" / "moons", seed=1), REPO)
    cache = ModelCache(shipped, environ={}, hub_cache_dir=tmp_path / "cache")
    before = weights_of(cache.get("moons"))
    assert cache.weights_message("moons").startswith("moons: shipped weights")

    switched, message = cache.load_weights("moons", f" {REPO} ", "")
    assert switched and f"weights from {REPO} at commit {pushed.commit[:12]}" in message
    assert not same(weights_of(cache.get("moons")), before)
    assert cache.weights_message("moons") == message

    switched, message = cache.load_weights("moons", "", None)
    assert switched and message.startswith("moons: shipped weights")
    assert same(weights_of(cache.get("moons")), before)


FAULTS = {"down": "cannot reach the Hub", "404": "not found|404", "500": "HTTP 500", "corrupt": "checksum"}


@pytest.mark.parametrize("fault", FAULTS)
def test_every_hub_failure_keeps_the_weights_in_use_and_says_why(fault, fake_hub, shipped, tmp_path):
    hub.push_checkpoint(make_checkpoint(tmp_path / "hub" / "moons", seed=1), REPO)
    cache = ModelCache(shipped, environ={}, hub_cache_dir=tmp_path / "cache")
    in_use = cache.get("moons")
    if fault == "down":
        fake_hub.stop()
    else:
        fake_hub.fault = fault
    switched, message = cache.load_weights("moons", REPO, "main")
    assert not switched and "the weights in use stay" in message
    assert any(word in message for word in FAULTS[fault].split("|")), message
    assert cache.get("moons") is in_use and cache.weights_message("moons").startswith("moons: shipped weights")


def test_a_hub_model_of_another_kind_is_refused_and_an_unknown_name_is_a_request_error(fake_hub, shipped, tmp_path):
    cache = ModelCache(shipped, environ={}, hub_cache_dir=tmp_path / "cache")
    in_use = cache.get("moons")
    hub.push_checkpoint(make_checkpoint(tmp_path / "hub" / "moons", seed=1), REPO)
    switched, message = cache.load_weights("moons", "not a repo", None)
    assert not switched and "is not of the form USER/REPO" in message and cache.get("moons") is in_use
    with pytest.raises(RequestError, match="unknown model 'spiral'"):
        cache.load_weights("spiral", REPO, None)


def test_a_space_starts_on_the_repo_and_revision_its_environment_names(fake_hub, shipped, tmp_path):
    old = hub.push_checkpoint(make_checkpoint(tmp_path / "v1" / "moons", seed=1), REPO).commit
    hub.push_checkpoint(make_checkpoint(tmp_path / "v2" / "moons", seed=2), REPO)
    environ = {weights_source.HUB_REPO_ENV: REPO, weights_source.HUB_REVISION_ENV: old}
    cache = ModelCache(shipped, environ=environ, hub_cache_dir=tmp_path / "cache")
    expected = ModelCache(tmp_path / "v1", environ={}).get("moons")
    assert same(weights_of(cache.get("moons")), weights_of(expected))
    assert f"at commit {old[:12]}" in cache.weights_message("moons")


def test_a_space_whose_hub_is_unreachable_starts_on_the_shipped_weights_and_says_so(fake_hub, shipped, tmp_path):
    fake_hub.stop()
    cache = ModelCache(shipped, environ={weights_source.HUB_REPO_ENV: REPO}, hub_cache_dir=tmp_path / "cache")
    shipped_weights = weights_of(ModelCache(shipped, environ={}).get("moons"))
    assert same(weights_of(cache.get("moons")), shipped_weights)
    message = cache.weights_message("moons")
    assert "Hub weights not loaded, still using" in message and "cannot reach the Hub" in message


def test_the_app_weights_section_shows_the_source_and_any_failure(fake_hub, shipped, tmp_path):
    hub.push_checkpoint(make_checkpoint(tmp_path / "hub" / "moons", seed=1), REPO)
    cache = ModelCache(shipped, environ={}, hub_cache_dir=tmp_path / "cache")
    demo = app.build_demo(cache, allow_load=True)  # an operator's choice: off on a public Space
    load = next(fn for fn in demo.fns.values() if fn.api_name == "load_weights").fn
    status = load("moons", REPO, "")
    assert status.startswith("**In use:** moons: weights from alice/toy-diffusion at commit")
    fake_hub.fault = "500"
    status = load("moons", REPO, "no-such-branch")
    assert "**In use:** moons: weights from alice/toy-diffusion" in status and "**Not changed:**" in status


def test_once_the_hub_fails_at_start_up_the_other_models_do_not_ask_it(fake_hub, tmp_path):
    for name in ("moons", "circles", "swissroll"):
        make_checkpoint(tmp_path / "checkpoints" / name, seed=0)
    fake_hub.fault = "hang"  # a silent Hub: each ask waits out the timeouts
    cache = ModelCache(tmp_path / "checkpoints", environ={weights_source.HUB_REPO_ENV: REPO},
                       hub_cache_dir=tmp_path / "cache")
    started = time.perf_counter()
    assert cache.preload() == {}
    seconds = time.perf_counter() - started
    messages = [cache.weights_message(name) for name in ("moons", "circles", "swissroll")]
    asked = [m for m in messages if "Hub weights not loaded" in m]
    skipped = [m for m in messages if "the Hub was not asked again" in m]
    assert len(asked) == 1 and len(skipped) == 2  # the reason in full once, a pointer to it twice
    assert seconds < 2 * hub.TIMEOUT_S + 5  # one model's wait, not three
