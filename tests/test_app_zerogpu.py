"""ZeroGPU as the `spaces` package runs it: the wrapped run in a forked worker, its outputs sent back.

A stand-in `spaces` module forks a child for every call of a `spaces.GPU` function, as
the real one does, so whatever the run leaves in the worker's memory is lost; scrubbing
and the GIF must still work from what came back with the outputs.
"""

import json
import multiprocessing
import os
import sys
import types

import pytest
from app_standins import launch_app, serving_cache
from gradio_client import Client
from PIL import Image


def _child(fn, args, kwargs, send):
    try:
        send.send(("pid", os.getpid()))
        for item in fn(*args, **kwargs):
            send.send(("item", item))
        send.send(("done", None))
    except BaseException as error:  # noqa: BLE001 - handed to the parent, which re-raises it
        send.send(("error", error))


def forking_spaces(calls: list) -> types.ModuleType:
    """A `spaces` module whose GPU(fn, duration=...) runs each call of fn in a forked process."""

    def GPU(fn, duration=None):  # noqa: N802 - the real package's name
        def run(*args, **kwargs):
            calls.append({"duration": duration(*args, **kwargs) if callable(duration) else duration})
            context = multiprocessing.get_context("fork")
            receive, send = context.Pipe(duplex=False)
            child = context.Process(target=_child, args=(fn, args, kwargs, send), daemon=True)
            child.start()
            send.close()
            try:
                while True:
                    kind, value = receive.recv()
                    if kind == "pid":
                        calls[-1]["pid"] = value
                    elif kind == "item":
                        yield value
                    elif kind == "error":
                        raise value
                    else:
                        return
            finally:
                child.join(timeout=30)

        return run

    module = types.ModuleType("spaces")
    module.GPU = GPU
    return module


@pytest.fixture
def zero_gpu_app(monkeypatch):
    calls = []
    monkeypatch.setitem(sys.modules, "spaces", forking_spaces(calls))
    demo, url = launch_app(serving_cache())
    yield url, calls
    demo.close()


def test_scrub_and_gif_work_after_a_run_in_a_forked_gpu_worker(zero_gpu_app):
    url, calls = zero_gpu_app
    client = Client(url, verbose=False)
    summary = client.predict("moons", "ddpm", 20, 0.0, "upper moon", 2.0, 40, 3, False, "off",
                             api_name="/sample")[3]
    assert summary["steps"] == 20 and summary["sample_shape"] == [40, 2]
    assert len(calls) == 1 and calls[0]["pid"] != os.getpid()  # the run happened in another process
    assert 10 <= calls[0]["duration"] <= 120  # the lease it asked for, from the run's estimated cost
    frame = json.loads(client.predict(3, api_name="/scrub"))["frames"][0]
    assert frame["index"] == 3 and frame["num_steps"] == 20
    with Image.open(client.predict(api_name="/gif")) as gif:
        assert gif.format == "GIF" and gif.n_frames == 20


def test_a_longer_run_asks_for_a_longer_gpu_lease(zero_gpu_app):
    url, calls = zero_gpu_app
    client = Client(url, verbose=False)
    client.predict("moons", "ddim", 2, 0.0, "unconditional", 0.0, 10, 0, False, "off", api_name="/sample")
    client.predict("moons", "ddpm", 1000, 0.0, "upper moon", 3.0, 2000, 0, False, "all", api_name="/sample")
    assert calls[0]["duration"] < calls[1]["duration"] <= 120
