"""The quality meter shown after every run: a few cheap figures about the samples just drawn.

2D models: the sliced-Wasserstein ratio to fresh data of the requested class, the
share of strays (points off the data) and the class conformity (quicker, coarser
versions of `evaluation`'s figures).
EMNIST: what the project's classifier reads in the characters (conformity to the
requested class, letters of CASE_MERGED_LETTERS matching in either case) and the
batch's diversity (mean pairwise distance of the classifier's features).
"""

from __future__ import annotations

import functools
from collections import Counter
from pathlib import Path

import numpy as np
import torch

from ..data import is_point_set, toy_dataset
from ..data.emnist import case_merged
from ..evaluation.judge import JUDGE_NAME, ClassifierLoadError, load_classifier
from ..evaluation.metrics import (
    NearestLabels,
    SlicedWassersteinReference,
    StrayReference,
    mean_pairwise_distance,
)
from ..evaluation.toy import fresh_sets
from ..models.classifier import CharacterClassifier
from .cache import ModelInfo

FRESH_SEEDS = tuple(30_000 + k for k in range(3))
QUALITY_DIRECTIONS = 32
REFERENCE_POINTS = 1000
REFERENCE_SEED = 40_000
STRAY_POINTS = 2000  # reference and calibration sets of the stray share (a raster makes it 1-3 ms a run)


@functools.lru_cache(maxsize=8)  # up to 3 × 32 × 5000 sorted float64 values each: ≤ 31 MB in all
def _fresh_reference(dataset: str, label_index: int | None, n: int) -> SlicedWassersteinReference | None:
    """`evaluation.fresh_sets` with the meter's own seeds, projected once for every run that asks
    for n samples of this class (None when the class has fewer than n points to draw)."""
    fresh = fresh_sets(dataset, n, FRESH_SEEDS, label_index)
    if any(len(f) < n for f in fresh):
        return None
    return SlicedWassersteinReference(fresh, num_directions=QUALITY_DIRECTIONS)


@functools.lru_cache(maxsize=8)
def _labels(dataset: str) -> NearestLabels:
    return NearestLabels(*toy_dataset(dataset, REFERENCE_POINTS, REFERENCE_SEED))


@functools.lru_cache(maxsize=8)
def _strays(dataset: str) -> StrayReference:
    reference, _ = toy_dataset(dataset, STRAY_POINTS, REFERENCE_SEED + 1)
    calibration, _ = toy_dataset(dataset, STRAY_POINTS, REFERENCE_SEED + 2)
    return StrayReference(reference, calibration, raster=True)


def prepare_meter(info: ModelInfo) -> None:
    """Build what the meter scores this model's runs against (for 2D data, about 0.1 s), so that a
    first run does not wait for it."""
    if info.kind == "points" and is_point_set(info.dataset):
        _strays(info.dataset)
        _labels(info.dataset)
        _fresh_reference(info.dataset, None, info.default_samples)


def points_quality(info: ModelInfo, label_index: int | None, samples: np.ndarray) -> dict | None:
    """Sliced-Wasserstein ratio to fresh data of the requested class (≈1 is perfect), the stray share
    (fresh data: 1%) and class conformity.

    A quick meter (3 fresh sets, 32 directions, 1000 reference points: 2-3 ms on one thread once
    the fresh sets for this class and size are projected and the rasters built, see `prepare_meter`),
    coarser than `diffusion_core.evaluation`'s.
    """
    if not is_point_set(info.dataset) or len(samples) < 16:
        return None
    points = torch.from_numpy(np.ascontiguousarray(samples, dtype=np.float32))
    fresh = _fresh_reference(info.dataset, label_index, len(points))
    if fresh is None:
        return None
    ratio = fresh.ratio(points).ratio
    figures = {"sw_ratio": round(ratio, 3), "strays": round(_strays(info.dataset).share(points), 4)}
    if label_index is not None:
        figures["class_conformity"] = round(_labels(info.dataset).conformity(points, label_index), 4)
    return figures


@functools.lru_cache(maxsize=4)
def _judge(folder: str) -> CharacterClassifier | None:
    try:
        return load_classifier(folder)
    except (ClassifierLoadError, OSError, ValueError):
        return None


def characters_quality(
    info: ModelInfo, label_index: int | None, samples: np.ndarray, judge_folder: Path | str
) -> dict | None:
    """What the classifier in `judge_folder` reads in the characters (N, 1, 28, 28); None without a judge."""
    judge = _judge(str(judge_folder))
    if judge is None or tuple(samples.shape[1:]) != (1, 28, 28):
        return None
    images = torch.from_numpy(np.ascontiguousarray(samples, dtype=np.float32))
    with torch.inference_mode():
        features = judge.features(images)
        read = judge.head(features).argmax(1)
    if judge.config.num_classes != len(info.class_names):
        return None
    common = Counter(info.class_names[i] for i in read.tolist()).most_common(3)
    figures = {
        "judge": JUDGE_NAME,
        "characters": len(samples),
        "read_as": {name: count for name, count in common},
    }
    if label_index is not None:
        hits = case_merged(read, info.class_names) == case_merged(torch.tensor([label_index]), info.class_names)
        figures["class_conformity"] = round(hits.double().mean().item(), 4)
    if len(samples) >= 2:
        figures["diversity"] = round(mean_pairwise_distance(features), 3)
    return figures


def quality_figures(
    info: ModelInfo, label_index: int | None, samples: np.ndarray, judge_folder: Path | str | None = None
) -> dict | None:
    """The meter for this model's kind: points or characters (None when it has nothing to compare with)."""
    if info.kind == "points":
        return points_quality(info, label_index, samples)
    return None if judge_folder is None else characters_quality(info, label_index, samples, judge_folder)
