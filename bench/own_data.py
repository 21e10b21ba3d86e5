"""How good is a model of your own data after the app's half minute of training?

Trains the app's own-data recipe (`weights.own_model.train_own_model`, the budget the app
gives, DIFFUSION_OWN_TRAIN_SECONDS or 30 s) on a drawn spiral, a typed word and a drawing
in two colours, in this process with every core, and prints the steps it reached and,
against fresh draws of the drawn set (2000 points, 5 sets), the SW ratio and the stray
share of DDPM over all T, DDPM-100 (the app's default) and DDIM-50, and for the two-colour
drawing the conformity at w = 3. Targets: SW ≤ 2.0, strays ≤ 3%, within 30 s on 2 cores.

    python -m bench.own_data [--seconds 30]     # from the repository root
"""

from __future__ import annotations

import argparse
import json
import math
import time

import torch

from diffusion_core.data import forget_point_set, toy_dataset
from diffusion_core.data.custom import from_strokes, from_word
from diffusion_core.demo.own_data import train_seconds
from diffusion_core.evaluation.metrics import class_conformity, sliced_wasserstein_ratio, stray_share
from diffusion_core.evaluation.toy import fresh_sets
from diffusion_core.weights.own_model import train_own_model


def spiral() -> str:
    vertices = [[200 + (10 + 3 * a) * math.cos(a / 6), 200 + (10 + 3 * a) * math.sin(a / 6)] for a in range(60)]
    return json.dumps({"strokes": [{"class": 0, "points": vertices}]})


def two_colours() -> str:
    return json.dumps({"strokes": [{"class": 0, "points": [[100 + 3 * k, 100 + 2 * k] for k in range(60)]},
                                   {"class": 1, "points": [[300, 50 + 4 * k] for k in range(60)]}]})


SETS = {"spiral (drawn)": lambda: from_strokes(spiral()), "the word 'diffusion'": lambda: from_word("diffusion"),
        "two colours (drawn)": lambda: from_strokes(two_colours())}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=train_seconds())
    args = parser.parse_args()
    print(f"{torch.get_num_threads()} threads, {args.seconds:g} s of training each")
    for label, make in SETS.items():
        point_set, name = make(), "yours-bench"
        start = time.perf_counter()
        *progress, pipeline = train_own_model(point_set, name, args.seconds)
        seconds = time.perf_counter() - start
        fresh = fresh_sets(name, 2000)
        cells = []
        for sampler, steps in (("ddpm", None), ("ddpm", 100), ("ddim", 50)):
            points = pipeline.generate(2000, sampler=sampler, steps=steps, seed=0)
            cells.append(f"{sampler.upper()}-{steps or 'all'} SW {sliced_wasserstein_ratio(points, fresh, 64).ratio:.2f}"
                         f" strays {100 * stray_share(points, fresh):.1f}%")
        if len(point_set.class_names) > 1:
            reference, labels = toy_dataset(name, 4000, seed=9)
            shares = [class_conformity(pipeline.generate(500, sampler="ddim", label=k, guidance=3.0, seed=k), k,
                                       reference, labels) for k in range(len(point_set.class_names))]
            cells.append("conformity at w=3 " + " / ".join(f"{100 * s:.1f}%" for s in shares))
        print(f"{label:<22} {progress[-1].step} steps in {seconds:.1f} s | " + " | ".join(cells), flush=True)
        forget_point_set(name)


if __name__ == "__main__":
    main()
