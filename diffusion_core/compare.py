"""Two sampler settings run from the same initial noise, side by side, with their timings.

Every run draws x_T first from a CPU generator seeded with the request's seed, so two
runs with one seed start from the very same noise whatever their sampler, steps, η or
w: what differs in the two pictures is the sampler's doing alone. The summary gives
each side's time and quality meter, and the mean distance between the two final
samples that started from the same x_T.
"""

from __future__ import annotations

import time

import numpy as np
from PIL import Image

from . import plots
from .quality import JUDGE_NAME, quality_figures
from .serving import ModelCache, SampleRequest
from .threads import SHARE, CoreShare

PANEL_PIXELS = 420  # each side's picture, before its caption strip


def side_caption(request: SampleRequest, seconds: float) -> str:
    what = f"{request.sampler.upper()}-{request.steps}"
    if request.sampler == "ddim":
        what += f", eta={request.eta:g}"
    if request.label is not None:
        what += f", w={request.guidance:g}"
    return f"{what}: {seconds:.2f} s"


def _picture(cache: ModelCache, request: SampleRequest, samples: np.ndarray, caption: str) -> Image.Image:
    info = cache.info(request.model)
    if info.kind == "points":
        picture = cache.picture(request.model)
        limit = picture.limit if picture is not None else plots.MIN_LIMIT
        if picture is not None:
            backdrop = plots.background_raster(picture.data, picture.labels, limit, PANEL_PIXELS)
        else:
            backdrop = np.full((PANEL_PIXELS, PANEL_PIXELS, 3), 255, np.uint8)
        return plots.captioned(plots.points_raster(samples, limit, backdrop), caption)
    grid = plots.enlarged(plots.image_grid(samples), PANEL_PIXELS)
    return plots.captioned(grid, caption)


def compare(
    cache: ModelCache, first: SampleRequest, second: SampleRequest, share: CoreShare = SHARE
) -> tuple[np.ndarray, dict]:
    """Run both requests (same model, class, count and seed) and return (side-by-side RGB picture, summary)."""
    with share.run():
        return _compare(cache, first, second, share)


def _compare(
    cache: ModelCache, first: SampleRequest, second: SampleRequest, share: CoreShare
) -> tuple[np.ndarray, dict]:
    shared = ("model", "class_name", "num_samples", "seed")
    different = [name for name in shared if getattr(first, name) != getattr(second, name)]
    if different:
        raise ValueError(f"both sides must share {', '.join(shared)}; they differ in {', '.join(different)}")
    pipeline = cache.get(first.model)
    info = cache.info(first.model)
    label_index = None if first.label is None else info.class_names.index(first.label)
    sides, pictures, finals = [], [], []
    for request in (first, second):
        start = time.perf_counter()
        last = None
        for last in pipeline.trajectory(
            request.num_samples, sampler=request.sampler, steps=request.steps, label=request.label,
            guidance=request.guidance, eta=request.eta, seed=request.seed,
        ):
            share.sync()
        samples = last.x.detach().float().cpu().numpy()
        seconds = time.perf_counter() - start
        finals.append(samples)
        pictures.append(_picture(cache, request, samples, side_caption(request, seconds)))
        sides.append({
            "sampler": request.sampler,
            "steps": request.steps,
            "eta": request.eta if request.sampler == "ddim" else None,
            "guidance": request.guidance if request.label is not None else 0.0,
            "seconds": round(seconds, 4),
            "quality": quality_figures(info, label_index, samples, cache.root / JUDGE_NAME),
        })
    gap = np.linalg.norm((finals[0] - finals[1]).reshape(len(finals[0]), -1), axis=1).mean()
    height = max(p.height for p in pictures)
    canvas = Image.new("RGB", (sum(p.width for p in pictures) + 12, height), "white")
    canvas.paste(pictures[0], (0, 0))
    canvas.paste(pictures[1], (pictures[0].width + 12, 0))
    summary = {
        "model": first.model,
        "class": first.class_name,
        "num_samples": first.num_samples,
        "seed": first.seed,
        "same_initial_noise": True,
        "sides": sides,
        "mean_distance_between_paired_samples": round(float(gap), 4),
    }
    return np.asarray(canvas), summary
