"""Which sampler and step count should the page open on? Quality against time at the app's run size.

For a shipped 2D model, draws the app's default 2000 points with each candidate setting (3 seeds)
and prints the sliced-Wasserstein ratio to fresh data (about 1 is perfect), the stray share (fresh
data: 1%), the network calls and the fastest of the three runs' times. The page opens on the best
picture within about 0.3 s on two CPU cores.

    python -m bench.default_run [--model moons] [--threads 2]     # from the repository root
"""

from __future__ import annotations

import argparse
import time

import torch

from diffusion_core import model_calls
from diffusion_core.evaluation.metrics import sliced_wasserstein_ratio, stray_share
from diffusion_core.evaluation.toy import fresh_sets
from diffusion_core.weights.pipeline import load_pipeline

POINTS = 2000
CANDIDATES = [("ddim", 50), ("ddpm", 50), ("ddpm", 100), ("ddpm", 200), ("dpmpp_2m", 20), ("dpmpp_2m", 50),
              ("heun", 10), ("heun", 20), ("ddpm", 1000)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="moons")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    pipeline = load_pipeline(args.model)
    fresh = fresh_sets(pipeline.config.dataset, POINTS)
    print(f"{args.model}, {POINTS} points, 3 seeds, {args.threads} threads")
    print(f"{'setting':<16} {'SW ratio':>9} {'strays':>8} {'NFE':>5} {'seconds':>8}")
    for sampler, steps in CANDIDATES:
        ratios, strays, seconds = [], [], []
        for seed in range(3):
            start = time.perf_counter()
            points = pipeline.generate(POINTS, sampler=sampler, steps=steps, seed=seed)
            seconds.append(time.perf_counter() - start)
            ratios.append(sliced_wasserstein_ratio(points, fresh).ratio)
            strays.append(stray_share(points, fresh))
        calls = model_calls(sampler, steps, pipeline.schedule)
        print(f"{sampler + '-' + str(steps):<16} {sum(ratios) / 3:>9.3f} {100 * sum(strays) / 3:>7.2f}% "
              f"{calls:>5} {min(seconds):>8.3f}", flush=True)


if __name__ == "__main__":
    main()
