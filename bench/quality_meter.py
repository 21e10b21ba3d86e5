"""What does the quality meter cost a 2D run? Its stray share and class conformity read from rasters,
against the same figures measured against every reference point, in one process, interleaved.

For each shipped 2D model, 2000 samples of a DDIM-50 run (class 0 at w = 3 for the conformity, as a
class-conditional run is scored) against the meter's own references for its data. Prints the medians
over repeats, the ratio slow / raster, the raster builds' one-off time, and checks that the figures
agree.

    python -m bench.quality_meter [--repeats 30] [--threads 1]     # from the repository root
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from diffusion_core.data import CLASS_NAMES, TOY_DATASETS, toy_dataset
from diffusion_core.demo import quality
from diffusion_core.evaluation.metrics import NearestLabels, StrayReference, class_conformity
from diffusion_core.weights.pipeline import load_pipeline


def _seconds(call) -> float:
    began = time.perf_counter()
    call()
    return time.perf_counter() - began


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=30)
    parser.add_argument("--threads", type=int, default=1, help="torch threads (a worker's run meters on its share)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(f"{args.threads} thread(s), medians of {args.repeats}; ms")
    print(f"{'data':14} {'strays: raster':>15} {'slow':>7} {'ratio':>6} {'conformity: raster':>19} {'slow':>7} "
          f"{'ratio':>6} {'builds':>7}")
    for dataset in TOY_DATASETS:
        pipeline = load_pipeline(dataset, "cpu")
        label = 0 if CLASS_NAMES.get(dataset) else None
        samples = pipeline.generate(2000, sampler="ddim", steps=50, seed=0)
        guided = samples if label is None else pipeline.generate(2000, sampler="ddim", steps=50, seed=0, label=label,
                                                                   guidance=3.0)
        stray_reference, _ = toy_dataset(dataset, quality.STRAY_POINTS, quality.REFERENCE_SEED + 1)
        calibration, _ = toy_dataset(dataset, quality.STRAY_POINTS, quality.REFERENCE_SEED + 2)
        reference, labels = toy_dataset(dataset, quality.REFERENCE_POINTS, quality.REFERENCE_SEED)
        built = time.perf_counter()
        strays, nearest = StrayReference(stray_reference, calibration, raster=True), NearestLabels(reference, labels)
        built = time.perf_counter() - built
        slow_strays = StrayReference(stray_reference, calibration)
        if strays.share(samples) != slow_strays.share(samples) or (
                label is not None and nearest.conformity(guided, label) != class_conformity(guided, label, reference, labels)):
            raise SystemExit(f"{dataset}: the raster's figures differ from the slow path's")
        times: dict[str, list[float]] = {"raster": [], "slow": [], "labels raster": [], "labels slow": []}
        for _ in range(args.repeats):
            times["raster"].append(_seconds(lambda: strays.share(samples)))
            times["slow"].append(_seconds(lambda: slow_strays.share(samples)))
            if label is not None:
                times["labels raster"].append(_seconds(lambda: nearest.conformity(guided, label)))
                times["labels slow"].append(_seconds(lambda: class_conformity(guided, label, reference, labels)))
        ms = {key: 1000 * statistics.median(values) if values else float("nan") for key, values in times.items()}
        print(f"{dataset:14} {ms['raster']:15.2f} {ms['slow']:7.2f} {ms['slow'] / ms['raster']:6.1f} "
              f"{ms['labels raster']:19.2f} {ms['labels slow']:7.2f} {ms['labels slow'] / ms['labels raster']:6.1f} "
              f"{1000 * built:7.0f}")


if __name__ == "__main__":
    main()
