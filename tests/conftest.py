import pytest
import torch
from app_standins import launch_app, serving_cache
from browser_helpers import CHROMIUM, CHROMIUM_ARGS
from fake_hub import FakeHub
from hub_helpers import FAKE_TOKEN
from huggingface_hub import constants


@pytest.fixture
def single_thread():
    """Run a test on one torch thread: tiny models spend more time synchronising threads than computing."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture
def fake_hub(monkeypatch, tmp_path):
    """A running fake Hub that huggingface_hub talks to, as if HF_ENDPOINT had been set before import."""
    with FakeHub() as server:
        monkeypatch.setenv("HF_ENDPOINT", server.url)
        # huggingface_hub reads HF_ENDPOINT and HF_HUB_OFFLINE once, at import: set what it derived from them.
        monkeypatch.setattr(constants, "ENDPOINT", server.url)
        monkeypatch.setattr(constants, "HUGGINGFACE_CO_URL_TEMPLATE", server.url + "/{repo_id}/resolve/{revision}/{filename}")
        monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
        monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "default-cache"))
        monkeypatch.setattr(constants, "AGENT_HARNESSES_PATH", str(tmp_path / "agent-harnesses.json"))
        monkeypatch.setattr(constants, "HF_HUB_DISABLE_XET", True)  # plain HTTP only; hf_xet would log to ~/.cache
        monkeypatch.setenv("HF_TOKEN", FAKE_TOKEN)
        yield server
    assert server.unexpected == [], f"requests the fake hub does not implement: {server.unexpected}"


# The app served on 127.0.0.1 (one per test module), and Chromium for the browser tests (each browser
# test module skips itself first where Chromium or playwright is missing).
@pytest.fixture(scope="module")
def served_app():
    """(the serving cache, the app's URL, the Blocks) of the module's app."""
    threads = torch.get_num_threads()
    cache = serving_cache()
    demo, url = launch_app(cache)
    yield cache, url, demo
    demo.close()
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def app_url(served_app):
    return served_app[1]


@pytest.fixture(scope="module")
def chromium():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield launched
        launched.close()
