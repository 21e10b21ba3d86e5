"""Sixteen visitors at once: how long does the queue take to finish their runs?

Serves app.py in a child process (as `bench.app_latency` does) and waits for its sampling
workers, then 16 visitors, each a browser tab (its own session hash) from its own address
(an X-Forwarded-For header, as a Space's proxy sends), submit 36 mixed runs at once through
Gradio's HTTP API: moons DDIM-50 and DDPM-200 on 2000 points, and EMNIST DDIM-20 of 16
characters with guidance, dealt round-robin. Each visitor's page is open before the clock
starts: its connection, and its session, which the page's load event starts in Gradio.

Prints the wall time until the last run ends, each run's time from submission to its result
(p50, p95), and what the cores need for the sampling alone: the same runs' bare sampling with
no app, one process per core each taking its share on one thread (how the app's workers run
them), measured from a common start, or all of them one after another on every core if that
is faster. The bare figures are taken before the app starts and again after it stops, and
averaged: this machine's speed drifts by a third within minutes, and a drift that is steady
over the few minutes of a run then cancels. Target (issue 15): wall ≤ 1.3 × that. The
one-thread total divided by the cores is printed too (what perfectly separate cores would need).

    python -m bench.app_load [--clients 16] [--runs 36]     # from the repository root
"""

from __future__ import annotations

import argparse
import multiprocessing
import statistics
import subprocess
import sys
import threading
import time

from diffusion_core.demo.threads import SHARE

from bench.app_latency import ROOT, bare_seconds, bench_cache, free_port, open_page, timed_http, wait_until_up

MIX = [
    ("moons", "ddim", 50, 0.0, "unconditional", 0.0, 2000),
    ("moons", "ddpm", 200, 0.0, "unconditional", 0.0, 2000),
    ("emnist", "ddim", 20, 0.0, "A", 3.0, 16),
]


def _bare_share(requests: list, start, results) -> None:
    """One core's share of the runs, bare, on one thread, from the moment every share is ready."""
    import torch

    torch.set_num_threads(1)
    cache = bench_cache()
    for request in MIX:  # warm, as the app's workers are
        bare_seconds(cache, (*request, 0), max_threads=1)
    start.wait()
    began = time.perf_counter()
    for request in requests:
        bare_seconds(cache, request, max_threads=1)
    results.put(time.perf_counter() - began)


def on_the_cores(runs: list, cores: int) -> float:
    """Wall time of `runs` sampled bare by `cores` processes at once, each its share on one thread."""
    context = multiprocessing.get_context("spawn")
    start, results = context.Barrier(cores + 1), context.Queue()
    shares = [context.Process(target=_bare_share, args=(runs[k::cores], start, results)) for k in range(cores)]
    for share in shares:
        share.start()
    start.wait(timeout=300)
    walls = [results.get(timeout=600) for _ in shares]
    for share in shares:
        share.join()
    return max(walls)


def bare_figures(runs: list, cores: int) -> tuple[float, float, float]:
    """The runs' bare sampling, no app: `cores` processes at once (one thread each), then in this process
    one thread one after another, and every core one after another (seconds each)."""
    parallel = on_the_cores(runs, cores)
    cache = bench_cache()
    one_thread = sum(bare_seconds(cache, request, max_threads=1) for request in runs)
    every_core = sum(bare_seconds(cache, request) for request in runs)
    return parallel, one_thread, every_core


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--runs", type=int, default=36)
    args = parser.parse_args()

    import httpx

    cores = SHARE.cores
    runs = [(*MIX[k % len(MIX)], k) for k in range(args.runs)]
    before = bare_figures(runs, cores)
    port = free_port()
    child = subprocess.Popen([sys.executable, "-m", "bench.app_latency", "--serve", str(port)], cwd=ROOT)
    try:
        url = f"http://127.0.0.1:{port}/"
        wait_until_up(url, child)
        for request in MIX:  # warm-up: lazy imports, caches
            with httpx.Client(timeout=120) as http:
                timed_http(http, url, (*request, 0))
        queues = [runs[k::args.clients] for k in range(args.clients)]
        times, errors = [], []
        visitors = [httpx.Client(timeout=600, headers={"x-forwarded-for": f"10.0.{k // 250}.{k % 250 + 1}"})
                    for k in range(args.clients)]
        for k, http in enumerate(visitors):  # each page is open (its connection, its session) before it presses Run
            open_page(http, url, f"bench-visitor-{k}")

        def visitor(k: int) -> None:
            for request in queues[k]:
                try:
                    times.append(timed_http(visitors[k], url, request, session=f"bench-visitor-{k}")[1])
                except (SystemExit, Exception) as error:  # a refused or failed run, or a broken stream
                    errors.append(f"{type(error).__name__}: {error}")

        start = time.perf_counter()
        threads = [threading.Thread(target=visitor, args=(k,)) for k in range(args.clients)]
        try:
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
        finally:
            for http in visitors:
                http.close()
        wall = time.perf_counter() - start
        child.terminate()  # the app's workers leave the cores to the bare runs
        child.wait(timeout=30)
        after = bare_figures(runs, cores)
        parallel, one_thread, every_core = (statistics.mean(pair) for pair in zip(before, after))
        need = min(parallel, every_core)
        print(f"{args.clients} clients, {args.runs} runs ({len(errors)} refused or failed), {cores} cores")
        print(f"wall time {wall:.2f} s; per run p50 {statistics.median(times):.2f} s, "
              f"p95 {statistics.quantiles(times, n=20)[-1]:.2f} s")
        print(f"bare sampling, mean of before and after the app: {cores} processes at once, one thread each "
              f"{parallel:.2f} s (before {before[0]:.2f}, after {after[0]:.2f}); "
              f"one thread, one after another {one_thread:.2f} s (/ {cores} = {one_thread / cores:.2f} s); "
              f"{cores} threads, one after another {every_core:.2f} s")
        print(f"wall / what the cores need ({need:.2f} s) = {wall / need:.2f} (target <= 1.3)")
        for error in errors[:3]:
            print("  " + error[:200])
    finally:
        if child.poll() is None:
            child.terminate()
            child.wait(timeout=30)


if __name__ == "__main__":
    main()
