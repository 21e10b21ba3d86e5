"""Runs sampled in worker processes (demo/workers.py): the same samples, Stop, a dying worker, the shared core count."""

import json
import os
import signal
import threading
import time

import numpy as np
import pytest
import torch

from diffusion_core.demo import live
from diffusion_core.demo.cache import ModelCache
from diffusion_core.demo.requests import input_values, validate_request
from diffusion_core.demo.threads import SHARE, shared_counter
from diffusion_core.demo.workers import SamplerWorkers, workers_wanted

pytestmark = pytest.mark.skipif(not (live.ModelCache().root / "moons" / "model.safetensors").is_file(),
                                reason="needs the shipped moons checkpoint")


@pytest.fixture(scope="module")
def cache():
    cache = ModelCache()
    cache.preload()
    return cache


REPLACED: list = []


def live_pool_workers() -> list:
    return [worker for pool in REPLACED for worker in pool.workers]


@pytest.fixture(scope="module")
def pool(cache):
    """A pool of its own for this module, standing in for the app's (live.WORKERS)."""
    workers = SamplerWorkers(SHARE.counter, SHARE.cores)
    workers.start(2, [("moons", str(cache.folder("moons")))])
    for worker in workers.workers:  # until a worker has loaded its models, runs stay in the server
        assert worker.ready.wait(timeout=120)
    previous, live.WORKERS = live.WORKERS, workers
    REPLACED[:] = [previous]  # the app's pool, still running when an app test in this process started it
    yield workers
    live.WORKERS = previous


def all_idle(pool, timeout=10.0) -> bool:
    deadline = time.time() + timeout
    while pool._idle.qsize() < len(pool.workers) and time.time() < deadline:
        time.sleep(0.02)
    return pool._idle.qsize() == len(pool.workers)


def request(cache, **values):
    return validate_request(cache, *input_values({"model": "moons", "num_samples": 500, **values}))


def run(cache, **values):
    *_, result = live.run_sample(request(cache, **values), cache)
    return result


def test_a_run_in_a_worker_draws_what_the_same_seed_draws_in_process(cache, pool):
    submitted = []
    original = pool.submit
    pool.submit = lambda job, mailbox: submitted.append(job.name) or original(job, mailbox)
    try:
        result = run(cache, sampler="ddim", steps=20, class_name="upper moon", guidance=2.0, seed=11, show_x0=True)
    finally:
        del pool.submit
    assert submitted == ["moons"]
    bare = cache.served("moons").pipeline.generate(500, sampler="ddim", steps=20, label=0, guidance=2.0, seed=11)
    assert torch.allclose(torch.from_numpy(result.samples), bare, atol=1e-6)
    assert result.summary["model_calls"] == 20 and result.keyframes == len(result.run.frames) > 0
    assert result.run.frames[-1].x0 is not None  # the guess travels back with the keyframes


def test_the_worker_measures_the_quality_meter_and_it_matches_the_servers(cache, pool, monkeypatch):
    from diffusion_core.demo.quality import quality_figures

    def not_here(*args):
        raise AssertionError("the server measured the meter of a run a worker sampled")

    monkeypatch.setattr(live, "quality_figures", not_here)
    result = run(cache, sampler="ddim", steps=10, class_name="upper moon", guidance=1.0, seed=5)
    expected = quality_figures(cache.info("moons"), 0, result.samples)
    assert result.summary["quality"] == expected and set(expected) == {"sw_ratio", "strays", "class_conformity"}
    assert 0.0 < result.summary["sampling_s"] <= result.summary["elapsed_s"]  # the worker's end, on the server's clock


@pytest.mark.parametrize("sampler, steps", [("ddim", 5), ("ddpm", 100)])
def test_a_run_in_a_worker_ends_with_a_message_that_carries_its_last_frame(cache, pool, sampler, steps):
    # Sent at once (no pacing), each batch is a message: the end must not come after the last frame went out
    # in a message of its own, or the canvas is told "final" with nothing to paint and never says the run ended.
    for _ in range(3):
        *updates, result = live.run_sample(request(cache, sampler=sampler, steps=steps), cache, send_interval=0.0)
        final = json.loads(result.message)
        assert final["final"] and final["frames"], f"{len(updates)} messages before an empty final one"
        assert final["frames"][-1]["index"] == steps - 1
        assert all(json.loads(update.message)["frames"][-1]["index"] < steps - 1 for update in updates)


def test_stop_reaches_the_worker_and_frees_it_for_the_next_run(cache, pool):
    stream = live.run_sample(request(cache, sampler="ddpm", steps=1000, num_samples=2000), cache)
    next(stream)  # the first frames have arrived: the worker is sampling
    start = time.perf_counter()
    stream.close()  # Stop, or a visitor who left
    result = run(cache, sampler="ddim", steps=5)  # gets a worker again: the stopped one is free at once
    assert result.summary["sampling_s"] < 5 and time.perf_counter() - start < 5
    assert result.samples.shape == (500, 2)


def pool_runs(pool) -> int:
    """The runs the pool's workers count, in their own slots of SHARE's counter."""
    return sum(SHARE.counter.runs[worker.slot] for worker in pool.workers)


def settled(pool, timeout=10.0) -> bool:
    """Whether the pool's workers count no run within `timeout` s (a stopped run ends its count once its
    worker sees the stop, after the stream is closed)."""
    deadline = time.time() + timeout
    while pool_runs(pool) and time.time() < deadline:
        time.sleep(0.02)
    return pool_runs(pool) == 0


def counts() -> str:
    """For a failure: the runs counted per slot, and the sampling threads alive in this process."""
    threads = [thread.name for thread in threading.enumerate() if thread.name.startswith("sample")]
    return f"runs per slot {list(SHARE.counter.runs)}, sampling threads here {threads}"


def test_the_runs_in_workers_count_in_the_servers_core_share(cache, pool):
    assert all_idle(pool) and settled(pool), counts()  # a stopped run before has ended its count
    assert {worker.slot for worker in pool.workers}.isdisjoint({worker.slot for worker in live_pool_workers()})
    stream = live.run_sample(request(cache, sampler="ddpm", steps=1000, num_samples=2000), cache)
    next(stream)
    try:
        # Counted by the worker in its slot of SHARE's counter, which the server's share sums (a run of an
        # earlier test still ending in this process may count in slot 0 beside it).
        assert pool_runs(pool) == 1, counts()
    finally:
        stream.close()
    assert settled(pool, 5), counts()


def test_a_worker_that_dies_mid_run_fails_that_run_clearly_and_the_next_one_runs(cache, pool):
    assert all_idle(pool) and settled(pool), counts()  # the runs before have handed their workers back
    stream = live.run_sample(request(cache, sampler="ddpm", steps=1000, num_samples=2000), cache)
    next(stream)
    assert pool._idle.qsize() == len(pool.workers) - 1  # this run is in a worker
    for worker in pool.workers:  # the busy one among them: killing the idle one too changes nothing here
        os.kill(worker.process.pid, signal.SIGKILL)
    with pytest.raises(RuntimeError, match="the sampling worker stopped unexpectedly"):
        for _ in stream:
            pass
    assert pool_runs(pool) == 0, counts()  # the killed worker's count is cleared: no cores kept for a dead run
    assert run(cache, sampler="ddim", steps=5).samples.shape == (500, 2)  # in-process, or on a live worker


def test_a_worker_that_died_while_idle_is_dropped_and_the_run_is_served_all_the_same(cache, monkeypatch):
    pool = SamplerWorkers(shared_counter(), SHARE.cores)  # its own: the module pool's workers stay
    pool.start(1, [("moons", str(cache.folder("moons")))])
    worker = pool.workers[0]
    assert worker.ready.wait(timeout=120)
    os.kill(worker.process.pid, signal.SIGKILL)
    monkeypatch.setattr(worker, "alive", lambda: True)  # killed a moment ago: the pool has not seen it die yet
    monkeypatch.setattr(live, "WORKERS", pool)
    result = run(cache, sampler="ddim", steps=5)  # handed over, never taken: it goes in-process instead
    assert result.samples.shape == (500, 2) and np.isfinite(result.samples).all()
    assert pool._idle.qsize() == 0  # the dead worker is out of the pool: no later run is sent to it


@pytest.mark.parametrize("value, expected", [("", 2), ("auto", 2), (" AUTO ", 2), ("0", 0), ("3", 3)])
def test_the_number_of_workers_follows_the_environment(value, expected):
    assert workers_wanted({"DIFFUSION_SAMPLE_WORKERS": value}, cores=2) == expected


def test_a_bad_number_of_workers_is_refused_naming_the_setting():
    with pytest.raises(ValueError, match="DIFFUSION_SAMPLE_WORKERS must be 'auto' or a whole number of processes"):
        workers_wanted({"DIFFUSION_SAMPLE_WORKERS": "many"}, cores=2)


def test_a_worker_that_falls_silent_mid_run_fails_the_run_instead_of_hanging_it(cache, monkeypatch):
    from diffusion_core.demo import workers as workers_module

    pool = SamplerWorkers(shared_counter(), SHARE.cores)  # its own counter: slot 1 is the module pool's
    pool.start(1, [("moons", str(cache.folder("moons")))])
    assert pool.workers[0].ready.wait(timeout=120)
    monkeypatch.setattr(workers_module, "STALL_S", 0.5)
    monkeypatch.setattr(live, "WORKERS", pool)
    stream = live.run_sample(request(cache, sampler="ddpm", steps=1000, num_samples=2000), cache)
    next(stream)
    os.kill(pool.workers[0].process.pid, signal.SIGSTOP)  # alive, but silent
    try:
        with pytest.raises(RuntimeError, match="no word from it for 0 s"):
            for _ in stream:
                pass
    finally:
        if pool.workers[0].alive():  # else dropped: killed and reaped before the run reported it
            os.kill(pool.workers[0].process.pid, signal.SIGCONT)
    assert not pool.workers[0].alive() or pool._idle.qsize() == 0  # the stuck worker takes no more runs
