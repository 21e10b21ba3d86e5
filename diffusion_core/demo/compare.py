"""Two sampler settings run from the same initial noise, side by side, with their timings.

Every run draws x_T first from a CPU generator seeded with the request's seed, so two
runs with one seed start from the very same noise whatever their sampler, steps, η or
w: what differs in the two pictures is the sampler's doing alone. The summary gives
each side's time and quality meter, and the mean distance between the two final
samples that started from the same x_T. `compare_steps` streams the two runs' progress and
can be stopped between steps; `compare` runs both to the end.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
from PIL import Image

from ..evaluation.judge import JUDGE_NAME
from ..evaluation.pictures import image_grid
from . import plots
from .cache import ModelCache, ServedModel
from .quality import quality_figures
from .requests import SampleRequest
from .threads import SHARE, CoreShare

PANEL_PIXELS = 420  # each side's picture, before its caption strip
PROGRESS_INTERVAL_S = 0.25  # how often a comparison reports its progress
SHARED_INPUTS = ("model", "class_name", "num_samples", "seed")  # what both sides must have in common


def side_caption(request: SampleRequest, seconds: float) -> str:
    return f"{request.setting()}: {seconds:.2f} s"


def _picture(served: ServedModel, samples: np.ndarray, caption: str) -> Image.Image:
    if served.info.kind == "points":
        backdrop = plots.backdrop(served.picture, served.view_limit, PANEL_PIXELS)
        return plots.captioned(plots.points_raster(samples, served.view_limit, backdrop), caption)
    return plots.captioned(plots.enlarged(image_grid(samples), PANEL_PIXELS), caption)


@dataclass(frozen=True)
class CompareProgress:
    """How far a comparison has got: `side` "A" or "B", at `step` of its `num_steps`."""

    side: str
    step: int
    num_steps: int


def compare_steps(
    cache: ModelCache, first: SampleRequest, second: SampleRequest, share: CoreShare = SHARE,
    stop: threading.Event | None = None, interval: float = PROGRESS_INTERVAL_S,
) -> Iterator[CompareProgress | tuple[np.ndarray, dict]]:
    """Run both requests (same model, class, count and seed): a `CompareProgress` at least every
    `interval` seconds and at each side's start, then (side-by-side RGB picture, summary). With
    `stop` set, the comparison ends at the next step, its last item the progress it had reached."""
    different = [name for name in SHARED_INPUTS if getattr(first, name) != getattr(second, name)]
    if different:
        raise ValueError(f"both sides must share {', '.join(SHARED_INPUTS)}; they differ in {', '.join(different)}")
    served = cache.served(first.model)
    stop = stop if stop is not None else threading.Event()
    sides = []
    with share.run(served.threads):
        for name, request in zip("AB", (first, second)):
            side = yield from _run_side(name, served, request, share, cache.root / JUDGE_NAME, stop, interval)
            if side is None:
                return
            sides.append(side)
    yield _side_by_side(first, sides)


def compare(
    cache: ModelCache, first: SampleRequest, second: SampleRequest, share: CoreShare = SHARE
) -> tuple[np.ndarray, dict]:
    """`compare_steps` run to its end: (side-by-side RGB picture, summary)."""
    *_, result = compare_steps(cache, first, second, share)
    return result


def _side_by_side(first: SampleRequest, sides: list) -> tuple[np.ndarray, dict]:
    (first_side, samples_a, picture_a), (second_side, samples_b, picture_b) = sides
    gap = np.linalg.norm((samples_a - samples_b).reshape(len(samples_a), -1), axis=1).mean()
    width, height = picture_a.width + picture_b.width + 12, max(picture_a.height, picture_b.height)
    canvas = Image.new("RGB", (width, height), "white")
    canvas.paste(picture_a, (0, 0))
    canvas.paste(picture_b, (picture_a.width + 12, 0))
    summary = {
        "model": first.model,
        "class": first.class_name,
        "num_samples": first.num_samples,
        "seed": first.seed,
        "same_initial_noise": True,
        "sides": [first_side, second_side],
        "mean_distance_between_paired_samples": round(float(gap), 4),
    }
    return np.asarray(canvas), summary


def _run_side(
    name: str, served: ServedModel, request: SampleRequest, share: CoreShare, judge_folder,
    stop: threading.Event, interval: float,
):
    """One side, yielding its progress: returns (its summary, its final samples, its captioned
    picture), or None when stopped."""
    start = last_report = time.perf_counter()
    last = None
    yield CompareProgress(name, 0, request.steps)
    for last in served.pipeline.trajectory(request.num_samples, **request.sampler_options()):
        share.sync()
        if stop.is_set():
            yield CompareProgress(name, last.index + 1, last.num_steps)
            return None
        if time.perf_counter() - last_report >= interval:
            last_report = time.perf_counter()
            yield CompareProgress(name, last.index + 1, last.num_steps)
    samples = last.x.detach().float().cpu().numpy()
    seconds = time.perf_counter() - start
    side = {
        "sampler": request.sampler,
        "steps": request.steps,
        "model_calls": last.calls,
        "eta": request.eta,
        "guidance": request.guidance,
        "guidance_kind": request.guidance_kind,
        "classifier_scale": request.classifier_scale,
        "variance": request.variance,
        "seconds": round(seconds, 4),
        "quality": quality_figures(served.info, request.label_index, samples, judge_folder),
    }
    return side, samples, _picture(served, samples, side_caption(request, seconds))
