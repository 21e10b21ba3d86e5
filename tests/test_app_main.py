"""`python app.py` as Hugging Face Spaces runs it: served where GRADIO_SERVER_NAME and _PORT say."""

import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from app_standins import free_port

from diffusion_core.demo import live, server
from diffusion_core.demo.cache import ModelCache

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.slow
def test_python_app_py_serves_on_the_host_and_port_from_the_environment():
    cache = ModelCache()
    cache.preload()
    if not cache.names():
        pytest.skip("no loadable checkpoint in checkpoints/ (app.py refuses to start without one)")
    port = free_port()
    env = {**os.environ, "GRADIO_SERVER_NAME": "127.0.0.1", "GRADIO_SERVER_PORT": str(port),
           "GRADIO_ANALYTICS_ENABLED": "False"}
    child = subprocess.Popen([sys.executable, "app.py"], cwd=ROOT, env=env,
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline, config = time.time() + 120, None
        while time.time() < deadline and child.poll() is None:
            try:
                config = httpx.get(f"http://127.0.0.1:{port}/config", timeout=2).json()
                break
            except httpx.HTTPError:
                time.sleep(0.5)
        assert config is not None, child.stderr.read().decode() if child.poll() is not None else "no answer"
        api_names = {dependency.get("api_name") for dependency in config["dependencies"]}
        assert {"sample", "scrub", "gif", "stop", "model_controls"} <= api_names
    finally:
        child.terminate()  # SIGTERM, as a Space stops its app
        try:
            errors = child.communicate(timeout=30)[1].decode()
        except subprocess.TimeoutExpired:
            child.kill()
            raise
    assert child.returncode == 0, errors  # exited, not killed
    assert "leaked semaphore" not in errors  # the sampling workers finished and released theirs


def test_the_idle_queue_polls_gently_so_runs_keep_their_cores():
    from app_standins import standin_cache

    import app

    demo = app.build_demo(standin_cache())
    # A private Gradio attribute: if a Gradio upgrade moves it, this test says so.
    expected = server.QUEUE_POLL_WORKERS_S if live.WORKERS.running else server.QUEUE_POLL_S
    assert demo._queue.sleep_when_free == expected
    assert server.slow_queue_polling(demo, 0.0001) and demo._queue.sleep_when_free == expected  # never faster


def test_sigterm_exits_as_sys_exit_once_and_a_handler_set_by_others_is_left_alone():
    import signal

    previous = signal.getsignal(signal.SIGTERM)
    try:
        def theirs(signum, frame):
            pass

        signal.signal(signal.SIGTERM, theirs)
        assert not server.exit_on_sigterm() and signal.getsignal(signal.SIGTERM) is theirs
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        assert server.exit_on_sigterm()
        with pytest.raises(SystemExit) as leaving:
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(5)  # the handler runs in this (main) thread at once
        assert leaving.value.code == 0
        assert signal.getsignal(signal.SIGTERM) == signal.SIG_DFL  # a second SIGTERM kills, exit hooks or not
    finally:
        signal.signal(signal.SIGTERM, previous)
