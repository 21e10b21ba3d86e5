"""Sampling in worker processes: a served run samples in a process's main thread, where OpenMP's threads pay.

Measured (`python -m bench.worker_sampling`, 2 cores): a run in a thread of the web server
takes 1.5-2.9 times the bare sampling, the same run in a worker process's main thread 1.1-1.25
times, every step's samples sent back through a pipe included. So the app keeps one worker
process per core (spawned, never forked from a threaded server), each holding the models it
has loaded from their checkpoint folders. A run is a job: the worker builds its frames exactly
as a server thread does (`sampling.sample_job`, in its main thread), a thread of the worker forwards them
through the pipe in batches (at most every FORWARD_S), the main thread sends the last batch with
the run's end and its quality meter, and a thread of the server puts them in the run's mailbox, so
the streaming generator cannot tell the two paths apart. Stop (the button, a client that goes
away) reaches the worker through an Event it checks every step. The runs in progress are
counted in one counter shared by the server and the workers (`threads.CoreShare`).

A run stays in the server's own thread where a worker cannot serve it: a model with no folder
(a visitor's own, a stand-in), a GPU (no OpenMP to speak of, and one CUDA context is enough),
ZeroGPU, every worker busy, or workers off (DIFFUSION_SAMPLE_WORKERS=0; the default, "auto", keeps
one per core).
"""

from __future__ import annotations

import atexit
import multiprocessing
import os
import queue
import threading
import time
from collections.abc import Mapping
from pathlib import Path

from .quality import prepare_meter, quality_figures
from .requests import RequestError
from .sampling import Job, new_mailbox, next_batch, sample_job

WORKERS_ENV = "DIFFUSION_SAMPLE_WORKERS"
POLL_S = 0.02  # how often the server's reader looks for a Stop while no message arrives
STALL_S = 60.0  # a worker silent this long mid-run is taken for stuck: the run fails, the worker is dropped
# The worker sends its frames in batches at most this often (the first at once): one message per frame
# costs a 2D DDIM-50 run a fifth of its time in pickling, pipe writes and wake-ups on both sides, and
# the server streams to the page only every `live.SEND_INTERVAL_S` anyway.
FORWARD_S = 0.025
TAKE_S = 5.0  # how long a worker may take to say it has a job (it answers at once unless dead or stuck)
MAX_LOADED = 16  # models a worker keeps loaded (the shipped ones are a few MB each)


def workers_wanted(environ: Mapping[str, str] = os.environ, cores: int = 1) -> int:
    """How many worker processes to keep: DIFFUSION_SAMPLE_WORKERS, a number (0: off, every run in the
    server) or "auto", the default: one per core."""
    text = environ.get(WORKERS_ENV, "").strip().lower()
    if text in ("", "auto"):
        return cores
    if not text.isdigit():
        raise ValueError(f"{WORKERS_ENV} must be 'auto' or a whole number of processes (0: off), got {text!r}")
    return int(text)


class _Worker:
    """One process and the server's end of its pipe and Stop event."""

    def __init__(self, context, counter, slot: int, cores: int):
        self.counter, self.slot = counter, slot
        self.connection, theirs = context.Pipe()
        self.stop = context.Event()
        self.ready = context.Event()  # set once it has loaded its models: until then runs stay in the server
        self.process = context.Process(target=_serve_jobs, args=(theirs, self.stop, self.ready, counter, slot, cores),
                                       daemon=True, name="diffusion-sampler")
        self.process.start()
        theirs.close()

    def alive(self) -> bool:
        return self.process.is_alive()


class SamplerWorkers:
    """The pool: `start()` once, then `submit(job, mailbox)` hands a run to an idle worker (False: none is)."""

    def __init__(self, counter, cores: int):
        self.counter, self.cores = counter, cores
        # Last in, first out: a visitor's runs one after another go to the same worker, whose own count
        # does not linger (threads.LINGER_S) and whose caches are warm.
        self._idle: queue.LifoQueue[_Worker] = queue.LifoQueue()
        self.workers: list[_Worker] = []  # every worker started, idle or not
        self._owner = os.getpid()  # a forked copy of the server (ZeroGPU's runs) cannot use them
        self._lock = threading.Lock()
        self._started = False

    def start(self, processes: int, preload: list[tuple[str, str]] = ()) -> None:
        """Spawn `processes` workers (once; they import torch in the background, a few seconds), each
        loading the models of `preload` ((name, folder) pairs) before its first job, so that job does not
        pay for loading."""
        with self._lock:
            if self._started or processes <= 0:
                return
            self._started = True
            atexit.register(self.close)
            context = multiprocessing.get_context("spawn")
            for _ in range(processes):
                slot = self.counter.claim()  # its own slot, even beside another pool on the same counter
                if slot is None:
                    break
                worker = _Worker(context, self.counter, slot, self.cores)
                worker.connection.send(("preload", list(preload)))
                self.workers.append(worker)
                self._idle.put(worker)

    def wait_ready(self, timeout: float) -> bool:
        """Wait until every live worker has loaded its models (at most `timeout` s in all); whether they
        have (False if none is alive)."""
        deadline = time.monotonic() + timeout
        for worker in self.workers:
            while worker.alive() and not worker.ready.wait(0.1):
                if time.monotonic() > deadline:
                    return False
        alive = [worker for worker in self.workers if worker.alive()]
        return bool(alive) and all(worker.ready.is_set() for worker in alive)

    @property
    def running(self) -> bool:
        """Whether this pool has workers (started, in this process: a forked copy's cannot be used)."""
        return bool(self.workers) and os.getpid() == self._owner

    def close(self) -> None:
        """Ask every worker to finish (at exit): each ends its loop when its pipe closes."""
        for worker in self.workers:
            worker.connection.close()
        for worker in self.workers:
            worker.process.join(timeout=2)
            if not worker.process.is_alive():  # one still finishing a run keeps its slot, and its count
                self.counter.release(worker.slot)

    def submit(self, job: Job, mailbox) -> bool:
        """Run `job` on an idle worker, its frames, keyframes and end landing in `mailbox`; False when no
        worker is free (the caller samples in its own thread).

        A worker has the run only once it says it has taken it: one that died while idle (killed, out
        of memory) is found here and dropped, and the run goes to the next idle worker or in-process,
        instead of failing after it was handed to a dead pipe."""
        if os.getpid() != self._owner:
            return False
        loading = []  # idle but still loading their models (the first seconds after start)
        try:
            while True:
                try:
                    worker = self._idle.get_nowait()
                except queue.Empty:
                    return False
                if not worker.ready.is_set() and worker.alive():
                    loading.append(worker)
                    continue
                worker.stop.clear()
                if self._hand_over(worker, job):
                    break
                self._drop(worker)
        finally:
            for waiting in loading:
                self._idle.put(waiting)
        threading.Thread(target=self._receive, args=(worker, mailbox), daemon=True, name="sample-reader").start()
        return True

    @staticmethod
    def _hand_over(worker: _Worker, job: Job) -> bool:
        """Send `job` and wait for the worker's word that it took it (False: it is dead or mute)."""
        if not worker.alive():
            return False
        try:
            worker.connection.send(job)
            return worker.connection.poll(TAKE_S) and worker.connection.recv() == ("taken",)
        except (OSError, EOFError):  # a closed or reset pipe: the process is gone
            return False

    @staticmethod
    def _drop(worker: _Worker) -> None:
        """A worker that cannot take runs: end it and clear its count of runs."""
        worker.process.kill()
        worker.process.join(timeout=2)  # gone before its slot is cleared: no late count of its own lands after
        worker.counter.clear(worker.slot)

    def _receive(self, worker: _Worker, mailbox) -> None:
        """Move the worker's messages into `mailbox` until the run ends; forward a Stop to the worker."""
        healthy, heard = True, time.monotonic()
        try:
            while True:
                if mailbox.stop.is_set():
                    worker.stop.set()
                if not worker.connection.poll(POLL_S):
                    if time.monotonic() - heard > STALL_S:
                        raise TimeoutError(f"no word from it for {STALL_S:.0f} s")
                    continue
                heard = time.monotonic()
                kind, *payload = worker.connection.recv()
                if kind == "frames":
                    frames, calls = payload
                    with mailbox.lock:
                        mailbox.frames.extend(frames)
                        mailbox.calls = calls
                        mailbox.lock.notify()
                    continue
                frames, keyframes, samples, calls, error, quality, finished_at = payload
                with mailbox.lock:  # the last frames and the end together, as in-process: the final message has them
                    mailbox.frames.extend(frames)
                    mailbox.keyframes.extend(keyframes)
                    mailbox.samples, mailbox.calls, mailbox.error = samples, calls, error
                    if quality is not None:
                        mailbox.quality, mailbox.quality_known = quality[0], True
                    # perf_counter is the machine's monotonic clock: the worker's end is the server's time too
                    mailbox.done, mailbox.finished_at = True, finished_at or time.perf_counter()
                    mailbox.lock.notify()
                return
        except Exception as error:  # noqa: BLE001 - the worker died, or sent what cannot be read: end the run
            healthy = False
            self._drop(worker)  # its pipe may hold half a message: it takes no more runs (first: its count goes)
            with mailbox.lock:
                mailbox.error = RuntimeError(f"the sampling worker stopped unexpectedly ({error!r}); run again")
                mailbox.done, mailbox.finished_at = True, time.perf_counter()
                mailbox.lock.notify()
        finally:
            if healthy:
                self._idle.put(worker)


def _serve_jobs(connection, stop, ready, counter, slot: int, cores: int) -> None:
    """A worker's main loop: take a job, sample it in this (main) thread, stream it back; until the pipe closes."""
    import torch

    from .allocator import keep_freed_memory
    from .threads import CoreShare

    keep_freed_memory()  # a fresh process: without it every step's activations are page-faulted in anew
    share = CoreShare(cores, counter=counter, slot=slot)
    torch.set_num_threads(cores)
    served: dict[tuple, object] = {}
    while True:
        try:
            job = connection.recv()
        except (EOFError, OSError):
            return
        if isinstance(job, tuple) and job[0] == "preload":
            _preload(served, job[1])
            _prepare_meters(served)
            ready.set()
            continue
        connection.send(("taken",))
        _run_job(job, served, connection, new_mailbox(stop), share)


def _run_job(job: Job, loaded: dict, connection, mailbox, share) -> None:
    """Sample `job` in this (main) thread while a thread forwards its frames; then the quality meter, here
    too (the main thread's cores, and none of the server's time), and one message with the end."""
    last: list[dict] = []
    forwarder = threading.Thread(target=_forward, args=(mailbox, connection, last), daemon=True)
    forwarder.start()
    served = None
    try:
        served = _served_model(loaded, job.name, job.folder)
        sample_job(job, served, mailbox, share)
    except BaseException as error:  # noqa: BLE001 - a failure to load or start: the run reports it
        with mailbox.lock:
            mailbox.error, mailbox.done = error, True
            mailbox.lock.notify()
    forwarder.join()
    quality = None  # (figures,) once measured; None leaves the meter to the server (the same figures)
    if mailbox.error is None and mailbox.samples is not None and not mailbox.stop.is_set():
        try:
            with share.run():  # counted: a run starting meanwhile takes its share of the cores
                quality = (quality_figures(served.info, job.label_index, mailbox.samples, job.judge_folder),)
        except Exception:  # noqa: BLE001 - the server measures it again and reports what is wrong
            quality = None
    error = mailbox.error
    if error is not None:  # in plain classes: one the server cannot rebuild would end its reader
        error = (RequestError(str(error), error.field) if isinstance(error, RequestError)
                 else RuntimeError(f"{type(error).__name__}: {error}"))
    connection.send(("done", last, list(mailbox.keyframes), mailbox.samples, mailbox.calls, error, quality,
                     mailbox.finished_at))


def _preload(loaded: dict, models: list[tuple[str, str]]) -> None:
    """Load each (name, folder) and run two DDIM steps on it, so a first run finds it warm; a model that
    fails here is left for its run to report."""
    for name, folder in models:
        try:
            served = _served_model(loaded, name, folder)
            for _step in served.pipeline.trajectory(2, sampler="ddim", steps=2, seed=0):
                pass
        except Exception:  # noqa: BLE001 - its run will load it again and say what is wrong
            continue


def _prepare_meters(loaded: dict) -> None:
    """Build the quality meter's references for each loaded model (2D data: about 0.1 s a data set)."""
    import torch

    threads = torch.get_num_threads()
    # Many small steps: on two threads each, two workers preparing at once slowed each other 5-30 times.
    torch.set_num_threads(1)
    try:
        for served in list(loaded.values()):
            try:
                prepare_meter(served.info)
            except Exception:  # noqa: BLE001 - its run's meter builds them again, or reports what is wrong
                continue
    finally:
        torch.set_num_threads(threads)


def _served_model(loaded: dict, name: str, folder: str):
    """The worker's copy of the model in `folder`, loaded once per version of its weights (the newest
    MAX_LOADED kept)."""
    from ..weights.guide import guide_folder
    from .cache import UNMEASURED_COST, ServedModel, data_picture, describe

    folder = Path(folder)
    files = sorted([*folder.glob("*.safetensors"), *guide_folder(folder).glob("*.safetensors")])
    version = tuple(p.stat().st_mtime_ns for p in files)  # the model's weights and its guide's
    key = (name, str(folder), version)
    if key not in loaded:
        from ..weights.pipeline import load_pipeline

        pipeline = load_pipeline(folder, "cpu")
        info = describe(name, pipeline)
        while len(loaded) >= MAX_LOADED:
            loaded.pop(next(iter(loaded)))
        loaded[key] = ServedModel(pipeline, info, data_picture(info), "", folder, UNMEASURED_COST[info.kind])
    return loaded[key]


def _forward(mailbox, connection, last: list) -> None:
    """The worker's sender: each batch of frames as it comes, all but the last; that one it leaves in
    `last` for the message that ends the run (sent apart, the server could stream the last frame
    before it heard the run end, and the final message would have no frame to mark final)."""
    last_send = -float("inf")
    while True:
        batch, done = next_batch(mailbox, last_send + FORWARD_S)
        if done:
            last.extend(batch)
            return
        connection.send(("frames", batch, mailbox.calls))
        last_send = time.perf_counter()
