"""Frames per second actually shown in Chromium during a run: the app's live canvas beside the naive gr.Plot.

Serves app.py (as bench/app_latency.py does) and a naive app in child processes on
127.0.0.1, drives Debian's Chromium headless through playwright, and counts the
distinct frames that reach the screen: a requestAnimationFrame loop in the page reads
the shown frame's title (the canvas's, or the plotly figure's) once per display frame.
  shown  - distinct frames seen on screen during the run
  span s - time from the first to the last of them
  fps    - (shown - 1) / span
  in view, fps seen - the same for the frames painted while the canvas lay wholly inside the
           1280×800 window, as a visitor sees them without scrolling (targets: >= 25 frames/s
           seen for a default run, >= 15 with x̂0 and the field on)
  run s  - click → final frame on screen (">120": still running when the watch ended)
The naive app yields one plotly figure to a gr.Plot for the same frames the live canvas
gets (keyframes plus one every 1/30 s), built with plotly's ScatterGL or its SVG Scatter.

    python -m bench.browser_fps [--points 2000] [--cases ddpm-1000 ddim-50]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

from bench.app_latency import bench_cache, free_port, wait_until_up

CHROMIUM_ARGS = ["--no-sandbox", "--headless", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
# Each reader returns the title of the frame on screen now.
READ_CANVAS = "() => document.querySelector('#live-canvas canvas')?.dataset.title"
READ_PLOT = "() => document.querySelector('#naive-{kind} .gtitle')?.textContent"
OBSERVE = """read => {
  const seen = window.__seen = {titles: [], times: [], inView: []};
  const canvas = document.querySelector('#live-canvas canvas');
  let last = read();
  const loop = () => {
    const title = read();
    if (title && title !== last) {
      last = title; seen.titles.push(title); seen.times.push(performance.now());
      const box = canvas ? canvas.getBoundingClientRect() : null;
      seen.inView.push(!!box && box.top >= 0 && box.bottom <= innerHeight && box.left >= 0 && box.right <= innerWidth);
    }
    if (!window.__stopObserving) requestAnimationFrame(loop);
  };
  window.__stopObserving = false;
  requestAnimationFrame(loop);
}"""


def serve_naive(port: int, points: int) -> None:
    """A gr.Plot that receives one plotly figure per frame: what a first version of the demo would do."""
    import gradio as gr
    import plotly.graph_objects as go

    from diffusion_core.demo import plots
    from diffusion_core.demo.frames import FrameSchedule

    cache = bench_cache()
    pipeline = cache.get("moons")
    limit = cache.picture("moons").limit

    def stream(kind, sampler, steps):
        trace = go.Scattergl if kind == "gl" else go.Scatter
        schedule = FrameSchedule(steps)
        for step in pipeline.trajectory(points, sampler=sampler, steps=steps, seed=0):
            if not schedule.is_frame(step.index):
                continue
            x = step.x.numpy()
            figure = go.Figure(trace(x=x[:, 0], y=x[:, 1], mode="markers", marker={"size": 3}))
            figure.update_layout(title=plots.step_title(sampler, step.index, step.num_steps, step.t),
                                 xaxis={"range": [-limit, limit]}, yaxis={"range": [-limit, limit]},
                                 height=560, width=560)
            yield figure

    with gr.Blocks() as demo:
        sampler = gr.Textbox("ddpm", elem_id="sampler")
        steps = gr.Number(1000, precision=0, elem_id="steps")
        for kind in ("gl", "svg"):
            button = gr.Button(f"Run {kind}", elem_id=f"run-{kind}")
            plot = gr.Plot(elem_id=f"naive-{kind}")
            button.click(lambda s, n, kind=kind: (yield from stream(kind, s, int(n))), [sampler, steps], plot,
                         api_name=f"naive_{kind}")
    demo.queue(default_concurrency_limit=2).launch(server_name="127.0.0.1", server_port=port, quiet=True)


def measure(page, read: str, start, done: str, timeout_s: float) -> dict:
    """Observe the shown frames from `start()` until `done` holds, or for `timeout_s` (run_s is then None)."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    page.evaluate(f"({OBSERVE})({read})")
    started = time.perf_counter()
    start()
    try:
        page.wait_for_function(done, timeout=timeout_s * 1000, polling=50)
        run_s = time.perf_counter() - started
    except PlaywrightTimeout:
        run_s = None
    time.sleep(0.3)
    page.evaluate("window.__stopObserving = true")
    seen = page.evaluate("window.__seen")
    shown = len(seen["titles"])
    span = (seen["times"][-1] - seen["times"][0]) / 1000 if shown > 1 else 0.0
    in_view = sum(seen["inView"])
    return {"shown": shown, "span_s": span, "fps": (shown - 1) / span if span > 0 else 0.0, "run_s": run_s,
            "in_view": in_view, "fps_seen": (in_view - 1) / span if span > 0 and in_view > 1 else 0.0}


def print_row(case: str, display: str, result: dict, timeout_s: float) -> None:
    run = f"{result['run_s']:.2f}" if result["run_s"] is not None else f">{timeout_s:.0f}"
    print(f"{case:<18}{display:<28}{result['shown']:>7}{result['span_s']:>8.2f}{result['fps']:>8.1f}"
          f"{result['in_view']:>9}{result['fps_seen']:>10.1f}{run:>8}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--points", type=int, default=2000)
    parser.add_argument("--cases", nargs="+", default=["ddim-50", "ddpm-1000", "ddim-50+views", "ddpm-1000+views"])
    parser.add_argument("--naive", nargs="+", default=["gl", "svg"], choices=["gl", "svg"])
    parser.add_argument("--timeout", type=float, default=120, help="seconds to watch one run at most")
    parser.add_argument("--serve-naive", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_naive:
        serve_naive(args.serve_naive, args.points)
        return

    from playwright.sync_api import sync_playwright

    app_port, naive_port = free_port(), free_port()
    children = [
        subprocess.Popen([sys.executable, "-m", "bench.app_latency", "--serve", str(app_port)], cwd=ROOT),
        subprocess.Popen(
            [sys.executable, "-m", "bench.browser_fps", "--serve-naive", str(naive_port), "--points", str(args.points)],
            cwd=ROOT,
        ),
    ]
    try:
        app_url, naive_url = f"http://127.0.0.1:{app_port}/", f"http://127.0.0.1:{naive_port}/"
        wait_until_up(app_url, children[0])
        wait_until_up(naive_url, children[1])
        print(f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}; {args.points} points, "
              "headless Chromium (software rendering)\n")
        print(f"{'case':<18}{'display':<28}{'shown':>7}{'span s':>8}{'fps':>8}{'in view':>9}{'fps seen':>10}"
              f"{'run s':>8}", flush=True)
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
            # A laptop's screen: "in view" counts the frames painted while the canvas lay wholly on it.
            page = browser.new_page(viewport={"width": 1280, "height": 800})
            # The browser's first run pays for compiling the page's scripts and building the data
            # picture (13 fps instead of 27 in one measurement): run the first case once unmeasured.
            for number, case in enumerate([args.cases[0], *args.cases]):
                warmup = number == 0
                run, _, extra = case.partition("+")
                sampler, steps = run.split("-")
                page.goto(app_url)
                page.wait_for_function("window.diffusionLive && window.diffusionLive.painted > 0",
                                       timeout=60_000)
                page.get_by_text("More options").click()
                if extra == "views":
                    page.get_by_label("Show the model's guess x̂₀").check()
                    page.locator("#field").get_by_text("the score the sampler follows").click()
                page.evaluate("window.diffusionNewSeed = false")
                page.get_by_label(sampler.upper(), exact=True).check()
                for label, value in (("Steps", steps), ("Points", str(args.points))):
                    box = page.locator(f"input[aria-label='number input for {label}']")
                    box.fill(value)
                    box.press("Enter")
                time.sleep(0.5)
                ours = measure(page, READ_CANVAS, lambda: page.click("#run-button"),
                               "window.diffusionLive.finalPainted", args.timeout)
                if warmup:
                    continue
                print_row(case, "live canvas (ours)", ours, args.timeout)
                labels = {"gl": "naive gr.Plot, ScatterGL", "svg": "naive gr.Plot, SVG"}
                for kind in args.naive if not extra else ():
                    page.goto(naive_url)
                    page.locator("#sampler textarea, #sampler input").first.fill(sampler)
                    page.locator("#steps input").first.fill(steps)
                    page.wait_for_timeout(300)
                    title = f"(document.querySelector('#naive-{kind} .gtitle')?.textContent || '')"
                    naive = measure(page, READ_PLOT.format(kind=kind),
                                    lambda kind=kind: page.click(f"#run-{kind}"),
                                    f"{title}.includes('step {steps}/{steps}')", args.timeout)
                    print_row(case, labels[kind], naive, args.timeout)
            browser.close()
    finally:
        for child in children:
            child.terminate()
            child.wait(timeout=30)


if __name__ == "__main__":
    main()
