"""A round trip through the real Hugging Face Hub; runs only with HF_TOKEN set and the Hub reachable.

It pushes a tiny checkpoint to a private repo of the token's owner (DIFFUSION_HUB_LIVE_REPO, default
USER/diffusion-demo-live-test), pulls it back at the pushed commit into an empty cache, compares
samples, and deletes the repo.
"""

import os

import httpx2
import pytest
import torch
from huggingface_hub import HfApi, constants
from huggingface_hub.errors import HfHubHTTPError
from test_hub import make_checkpoint, samples

from diffusion_core.weights import hub


def live_api() -> HfApi:
    """An authenticated client, or a skip saying why the live test cannot run."""
    if not os.environ.get("HF_TOKEN"):
        pytest.skip("HF_TOKEN is not set: the live Hub round trip needs a token with write access")
    if constants.is_offline_mode():
        pytest.skip("HF_HUB_OFFLINE is set: the live Hub round trip needs the network")
    api = HfApi()
    try:
        api.model_info("openai-community/gpt2", timeout=hub.TIMEOUT_S)
    except (httpx2.TransportError, HfHubHTTPError) as error:
        pytest.skip(f"the Hub at {api.endpoint} is not reachable: {type(error).__name__}")
    return api


def test_live_push_and_pinned_pull_give_bit_identical_samples(tmp_path):
    api = live_api()
    repo_id = os.environ.get("DIFFUSION_HUB_LIVE_REPO") or f"{api.whoami()['name']}/diffusion-demo-live-test"
    local = make_checkpoint(tmp_path / "moons")
    try:
        pushed = hub.push_checkpoint(local, repo_id, private=True)
        pulled = hub.pull(repo_id, "moons", revision=pushed.commit, cache_dir=tmp_path / "cache")
        assert pulled.commit == pushed.commit and not pulled.from_cache_only
        assert torch.equal(samples(pulled.folder), samples(local))
    finally:
        api.delete_repo(repo_id, missing_ok=True)
