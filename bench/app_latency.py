"""How long does a visitor wait? Time to the first streamed frame and to the final result.

Serves app.py in a child process on 127.0.0.1 (as `python app.py` would, on the
shipped checkpoints), then
for each case calls /sample from this process through two clients:
  http           - Gradio's HTTP API (POST /gradio_api/call/sample, then its event
                   stream), read as it arrives, with a session hash as a browser tab
                   sends (one for every call: Gradio keeps that session's state)
  http-no-session - the same without one, as curl calls it: Gradio builds a new session
                   state for each call
  gradio_client  - the Python client, which polls its message queue every 50 ms,
                   so it adds up to 50 ms per wait to what the app itself takes
and prints medians over repeats of
  first     - submit → first streamed update received
  final     - submit → final result received (end to end), and its range over the repeats
  bare      - the same pipeline.trajectory(...) run in this process, no app, no frames,
              as a lone run (every core, as the app gives a lone run), with freed memory
              kept as the app's workers keep theirs
  ratio     - final / bare
  extra ms  - final - bare: what serving adds on top of sampling
Targets on 2 CPU cores: first ≤ 0.3 s (2D), ≤ 0.5 s (EMNIST); moons DDPM-1000 on 2000
points ≤ 3 s end to end; EMNIST 16 characters ≤ 4 s; ratio ≤ 1.3.

    python -m bench.app_latency [--repeats 3] [--case EMNIST] [--clients http]     # from the repository root
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

import torch

from diffusion_core.demo.admission import ADMISSION_SPACING_S

ROOT = Path(__file__).resolve().parent.parent
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

CASES = [
    # label, model, sampler, steps, eta, class, w, n
    ("moons DDPM-1000, 2000 points", "moons", "ddpm", 1000, 0.0, "unconditional", 0.0, 2000),
    ("moons DDIM-50, 2000 points", "moons", "ddim", 50, 0.0, "unconditional", 0.0, 2000),
    # One step: sampling costs ~3 ms, so this is what serving a run costs on its own.
    ("moons DDIM-1 (serving floor)", "moons", "ddim", 1, 0.0, "unconditional", 0.0, 2000),
    ("EMNIST DDIM-50, w=3, 16 chars", "emnist", "ddim", 50, 0.0, None, 3.0, 16),
]


def bench_cache():
    """The shipped checkpoints, as `python app.py` serves them (every case needs its model)."""
    from diffusion_core.demo.cache import ModelCache

    cache = ModelCache()
    cache.preload()
    missing = sorted({case[1] for case in CASES} - set(cache.names()))
    if missing:
        raise SystemExit(f"no checkpoint for {', '.join(missing)} in {cache.root}; train it with train_toy.py")
    return cache


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def serve(port: int) -> None:
    import app
    cache = bench_cache()
    demo = app.build_demo(cache)
    # Measure the steady state: until its workers have loaded their models, the app samples in its own
    # threads, and the workers' loading competes with the runs for the cores.
    from diffusion_core.demo import live, server

    if live.WORKERS.running and not live.WORKERS.wait_ready(timeout=120):
        print("the sampling workers did not load their models within 120 s; measuring anyway", flush=True)
    server.exit_on_sigterm()  # the benchmark's terminate() then ends it as a Space's stop does
    demo.launch(server_name="127.0.0.1", server_port=port, quiet=True, **app.launch_options())


def wait_until_up(url: str, child: subprocess.Popen, timeout: float = 180) -> None:
    import httpx

    deadline = time.time() + timeout
    while time.time() < deadline:
        if child.poll() is not None:
            raise SystemExit(f"the app exited with code {child.returncode}")
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise SystemExit(f"the app did not answer at {url} within {timeout} s")


def open_page(http, url: str, session: str) -> None:
    """What a browser tab does when the page loads, for the session `session` on the connection `http`:
    read the page's config and run its load event (`from_link`), which starts the session's state in
    Gradio (every component's config, ~10 ms here), so a run the visitor submits later does not pay for it."""
    config = http.get(f"{url}config").json()
    load = next((d["id"] for d in config["dependencies"] if [0, "load"] in d["targets"]), None)
    if load is None:
        raise SystemExit(f"{url}: the page has no load event on its root block, so no session to open "
                         "(has app.py's demo.load(...) moved?)")
    answer = http.post(f"{url}gradio_api/run/predict",
                       json={"data": [], "fn_index": load, "session_hash": session, "event_data": None, "trigger_id": 0})
    answer.raise_for_status()


def timed_http(http, url: str, request, session: str | None = None) -> tuple[float, float, dict]:
    """One /sample call through Gradio's HTTP API on the open connection `http` (an httpx.Client):
    POST the inputs, then read the event stream as it arrives.

    `session`: the session hash a browser tab sends with every run. Without one, Gradio builds a
    fresh session state (every component's config, ~8 ms here) for the call and again for its validator;
    a page builds it once."""
    call = f"{url}gradio_api/call/sample"
    start = time.perf_counter()
    first = event = None
    values = [*request, False, "off", "classifier-free", 0.0, "default"]  # the x̂0 and field views off, no classifier
    body = {"data": values} if session is None else {"data": values, "session_hash": session}
    event_id = http.post(call, json=body).json()["event_id"]
    with http.stream("GET", f"{call}/{event_id}") as stream:
        for line in stream.iter_lines():
            if line.startswith("event:"):
                event = line.removeprefix("event:").strip()
                if event == "generating" and first is None:
                    first = time.perf_counter() - start
            elif line.startswith("data:") and event in ("complete", "error"):
                final = time.perf_counter() - start
                data = json.loads(line.removeprefix("data:"))
                if event == "error":
                    raise SystemExit(f"/sample {request}: {data}")
                return first if first is not None else final, final, data[3]
    raise SystemExit(f"/sample {request}: the event stream ended without a result")


def timed_client(client, request) -> tuple[float, float, dict]:
    """One /sample call through gradio_client."""
    start = time.perf_counter()
    job = client.submit(*request, False, "off", api_name="/sample")  # x̂0 and the field off, as in the UI
    first = None
    for _ in job:
        if first is None:
            first = time.perf_counter() - start
    result = job.result()
    final = time.perf_counter() - start
    return first if first is not None else final, final, result[3]


def bare_seconds(cache, request, max_threads: int | None = None) -> float:
    """One run's sampling in this process, alone (every core, or at most `max_threads`), with freed
    memory kept as the app's sampling workers keep theirs (`demo.allocator`): as fast as the model allows."""
    from diffusion_core.demo.allocator import keep_freed_memory
    from diffusion_core.demo.threads import SHARE

    keep_freed_memory()

    model, sampler, steps, eta, class_name, guidance, n, seed = request
    pipeline = cache.get(model)
    label = None if class_name == "unconditional" else class_name
    with SHARE.run(max_threads):
        start = time.perf_counter()
        trajectory = pipeline.trajectory(n, sampler=sampler, steps=steps, label=label, guidance=guidance,
                                         eta=eta, seed=seed)
        for _ in trajectory:
            SHARE.sync()
        if pipeline.device.type == "cuda":  # the last step's kernels may still be running
            torch.cuda.synchronize(pipeline.device)
        return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--case", default="", help="only the cases whose label contains this text")
    parser.add_argument("--clients", default="http,http-no-session,gradio_client",
                        help="which clients, comma-separated (default: all three)")
    parser.add_argument("--serve", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.serve)
        return

    import httpx
    from gradio_client import Client

    port = free_port()
    child = subprocess.Popen([sys.executable, "-m", "bench.app_latency", "--serve", str(port)], cwd=ROOT)
    try:
        url = f"http://127.0.0.1:{port}/"
        wait_until_up(url, child)
        client = Client(url, verbose=False)
        http = httpx.Client(timeout=120)  # one connection for every call, as a browser keeps one
        clients = {"http": lambda request: timed_http(http, url, request, session="bench-page"),
                   "http-no-session": lambda request: timed_http(http, url, request),
                   "gradio_client": lambda request: timed_client(client, request)}
        cache = bench_cache()
        load = os.getloadavg()[0]
        print(f"{os.cpu_count()} CPUs, load average {load:.1f}; medians of {args.repeats}\n")
        print(f"{'case':<32}{'client':<17}{'first s':>8}{'final s':>9}{'final range':>13}{'bare s':>8}"
              f"{'ratio':>7}{'extra ms':>9}{'frames':>7}{'msgs':>5}")
        wanted = {name.strip() for name in args.clients.split(",")}
        if wanted - set(clients):
            raise SystemExit(f"unknown --clients {sorted(wanted - set(clients))}; choose from {', '.join(clients)}")
        clients = {name: timed for name, timed in clients.items() if name in wanted}
        for label, model, sampler, steps, eta, class_name, guidance, n in CASES:
            if args.case.lower() not in label.lower():
                continue
            if class_name is None:
                class_name = cache.info(model).class_names[0]
            request = (model, sampler, steps, eta, class_name, guidance, n, 0)
            for name, timed in clients.items():
                timed(request)  # warm-up: first calls pay for lazy imports and caches
                rows, bares = [], []
                for _ in range(args.repeats):  # interleaved, so load drift hits both alike
                    time.sleep(ADMISSION_SPACING_S)  # the app admits a run 50 ms after the last at the soonest
                    rows.append(timed(request))
                    bares.append(bare_seconds(cache, request))
                first = statistics.median(r[0] for r in rows)
                final = statistics.median(r[1] for r in rows)
                bare = statistics.median(bares)
                summary = rows[-1][2]
                spread = f"{min(r[1] for r in rows):.2f}-{max(r[1] for r in rows):.2f}"
                print(f"{label:<32}{name:<17}{first:>8.3f}{final:>9.3f}{spread:>13}{bare:>8.3f}"
                      f"{final / bare:>7.2f}{1e3 * (final - bare):>9.0f}{summary['frames_sent']:>7}"
                      f"{summary['messages_sent']:>5}")
    finally:
        child.terminate()
        child.wait(timeout=30)


if __name__ == "__main__":
    main()
