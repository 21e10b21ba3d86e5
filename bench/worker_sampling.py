"""Where should a served run sample? The same trajectory in this process's main thread, in a thread
beside it, and in a worker process's main thread streaming its steps back through a pipe.

Issue 15's finding was that OpenMP's two threads pay only in a process's main thread: a run in a
thread of the server gets one core's speed, or worse when the event loop holds the interpreter.
This measures the fix before it is built: a worker process (spawned, holding the loaded model)
runs the trajectory in its own main thread and sends every step's samples to the caller, which
reads them in a thread as the server would, while a busy loop in the caller's main thread stands
in for the event loop. Medians of interleaved repeats, and each one's ratio to the bare run:

    bare      pipeline.generate in this process's main thread (the floor)
    thread    the same in a thread beside a busy main thread (today's path)
    worker    a worker process's main thread, every step's x sent back through a pipe

    python -m bench.worker_sampling [--repeats 5] [--threads 2]
"""

from __future__ import annotations

import argparse
import multiprocessing
import statistics
import threading
import time

import torch

CASES = [
    # label, model, trajectory options, samples
    ("moons DDPM-1000, 2000 points", "moons", {"sampler": "ddpm", "steps": 1000}, 2000),
    ("moons DDIM-50, 2000 points", "moons", {"sampler": "ddim", "steps": 50}, 2000),
    ("EMNIST DDIM-50, w=3, 16 chars", "emnist", {"sampler": "ddim", "steps": 50, "label": "A", "guidance": 3.0}, 16),
]


def _worker(connection, threads: int) -> None:
    """The worker's main loop: load a model once, then run each request and send every step's x."""
    from diffusion_core.weights.pipeline import load_pipeline

    torch.set_num_threads(threads)
    pipelines = {}
    while True:
        request = connection.recv()
        if request is None:
            return
        name, options, n = request
        pipeline = pipelines.get(name) or pipelines.setdefault(name, load_pipeline(name, "cpu"))
        for step in pipeline.trajectory(n, seed=0, **options):
            connection.send_bytes(step.x.numpy().tobytes())
        connection.send_bytes(b"")


def _busy(stop: threading.Event) -> None:
    """A stand-in for the server's event loop: Python work in the main thread while a run streams."""
    while not stop.is_set():
        sum(range(2000))
        time.sleep(0.0005)


def _in_thread(fn) -> float:
    """Seconds of `fn` run in a thread while the main thread stays busy."""
    done, stop = {}, threading.Event()

    def run():
        start = time.perf_counter()
        fn()
        done["s"] = time.perf_counter() - start
        stop.set()

    worker = threading.Thread(target=run)
    worker.start()
    _busy(stop)
    worker.join()
    return done["s"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=2, help="torch threads of every path (default 2)")
    args = parser.parse_args()

    from diffusion_core.weights.pipeline import load_pipeline

    torch.set_num_threads(args.threads)
    context = multiprocessing.get_context("spawn")
    ours, theirs = context.Pipe()
    process = context.Process(target=_worker, args=(theirs, args.threads), daemon=True)
    process.start()

    def via_worker(name, options, n):
        ours.send((name, options, n))
        while ours.recv_bytes():
            pass

    print(f"{args.threads} torch threads, {args.repeats} interleaved repeats (medians; ratio to bare):")
    for label, name, options, n in CASES:
        pipeline = load_pipeline(name, "cpu")
        runs = {
            "bare": lambda: pipeline.generate(n, seed=0, **options),
            "thread": lambda: pipeline.generate(n, seed=0, **options),
            "worker": lambda: via_worker(name, options, n),
        }
        for fn in runs.values():  # warm every path (the worker loads the model on its first request)
            fn()
        times = {key: [] for key in runs}
        for _ in range(args.repeats):
            for key, fn in runs.items():
                if key == "bare":
                    start = time.perf_counter()
                    fn()
                    times[key].append(time.perf_counter() - start)
                else:
                    times[key].append(_in_thread(fn))
        bare = statistics.median(times["bare"])
        cells = "  ".join(f"{key} {statistics.median(v):6.3f} s ({statistics.median(v) / bare:4.2f}×)"
                          for key, v in times.items())
        print(f"  {label:<32} {cells}")
    ours.send(None)
    process.join(timeout=10)


if __name__ == "__main__":
    main()
