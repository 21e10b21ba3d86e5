"""Sample-quality figures for point sets: a sliced-Wasserstein ratio and class conformity."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch


def random_directions(num_directions: int, dim: int, seed: int = 0) -> torch.Tensor:
    """num_directions unit vectors drawn uniformly on the sphere S^{dim-1}: (dim, num_directions)."""
    directions = torch.randn(dim, num_directions, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    return directions / directions.norm(dim=0, keepdim=True)


def sliced_wasserstein(a: torch.Tensor, b: torch.Tensor, directions: torch.Tensor) -> float:
    """SW₂(a, b) = (mean_θ W₂²(θ·a, θ·b))^½ for equal-size point sets a, b: (N, D) (Bonneel et al. 2015).

    In one dimension the optimal coupling pairs sorted values, so W₂² is the mean
    squared difference of the sorted projections.
    """
    if a.shape != b.shape:
        raise ValueError(f"point sets must have the same shape, got {tuple(a.shape)} and {tuple(b.shape)}")
    # Projections laid out (directions, N) so each sort runs over contiguous memory;
    # numpy's sort is several times faster than torch's on the CPU.
    pa = np.sort((directions.T @ a.double().cpu().T).numpy(), axis=1)
    pb = np.sort((directions.T @ b.double().cpu().T).numpy(), axis=1)
    return float(np.sqrt(np.mean((pa - pb) ** 2)))


@dataclass(frozen=True)
class SWRatio:
    """distance: mean SW between the samples and each fresh set; baseline: mean SW between fresh pairs."""

    ratio: float
    distance: float
    baseline: float


def sliced_wasserstein_ratio(
    samples: torch.Tensor, fresh_sets: Sequence[torch.Tensor], num_directions: int = 128, seed: int = 0
) -> SWRatio:
    """SW(samples, fresh_k) averaged over k, divided by the mean SW between pairs of fresh sets.

    A perfect sampler scores about 1: its samples are as far from the data as another
    draw of the data is.
    """
    if len(fresh_sets) < 2:
        raise ValueError(f"need at least 2 fresh data sets for the baseline, got {len(fresh_sets)}")
    directions = random_directions(num_directions, samples.shape[1], seed)
    distance = sum(sliced_wasserstein(samples, f, directions) for f in fresh_sets) / len(fresh_sets)
    pairs = [(i, j) for i in range(len(fresh_sets)) for j in range(i + 1, len(fresh_sets))]
    baseline = sum(sliced_wasserstein(fresh_sets[i], fresh_sets[j], directions) for i, j in pairs) / len(pairs)
    return SWRatio(distance / baseline, distance, baseline)


def nearest_labels(points: torch.Tensor, reference: torch.Tensor, labels: torch.Tensor, chunk: int = 2048) -> torch.Tensor:
    """The label of each point's nearest reference point (Euclidean): points (N, D) → (N,) long."""
    nearest = torch.cat([torch.cdist(part, reference).argmin(dim=1) for part in points.float().split(chunk)])
    return labels[nearest]


def class_conformity(samples: torch.Tensor, requested: int, reference: torch.Tensor, labels: torch.Tensor) -> float:
    """The share of `samples` whose nearest fresh data point carries the `requested` label."""
    return (nearest_labels(samples, reference, labels) == requested).double().mean().item()
