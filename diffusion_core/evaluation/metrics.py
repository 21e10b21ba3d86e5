"""Sample-quality figures: a sliced-Wasserstein ratio, class conformity, a Fréchet distance, diversity."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from .raster import UNDECIDED, label_raster, stray_raster


def random_directions(num_directions: int, dim: int, seed: int = 0) -> torch.Tensor:
    """num_directions unit vectors drawn uniformly on the sphere S^{dim-1}: (dim, num_directions)."""
    directions = torch.randn(dim, num_directions, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    return directions / directions.norm(dim=0, keepdim=True)


def sorted_projections(points: torch.Tensor, directions: torch.Tensor) -> np.ndarray:
    """points (N, D) projected on each direction and sorted: (directions, N) float64.

    Laid out (directions, N) so each sort runs over contiguous memory; numpy's sort is
    several times faster than torch's on the CPU.
    """
    return np.sort((directions.T @ points.double().cpu().T).numpy(), axis=1)


def _sliced_wasserstein_sorted(pa: np.ndarray, pb: np.ndarray) -> float:
    return float(np.sqrt(np.mean((pa - pb) ** 2)))


def sliced_wasserstein(a: torch.Tensor, b: torch.Tensor, directions: torch.Tensor) -> float:
    """SW₂(a, b) = (mean_θ W₂²(θ·a, θ·b))^½ for equal-size point sets a, b: (N, D) (Bonneel et al. 2015).

    In one dimension the optimal coupling pairs sorted values, so W₂² is the mean
    squared difference of the sorted projections.
    """
    if a.shape != b.shape:
        raise ValueError(f"point sets must have the same shape, got {tuple(a.shape)} and {tuple(b.shape)}")
    return _sliced_wasserstein_sorted(sorted_projections(a, directions), sorted_projections(b, directions))


@dataclass(frozen=True)
class SWRatio:
    """distance: mean SW between the samples and each fresh set; baseline: mean SW between fresh pairs."""

    ratio: float
    distance: float
    baseline: float


class SlicedWassersteinReference:
    """Fresh data sets, projected and sorted once, and the SW between their pairs (the baseline).

    `ratio(samples)` then costs one projection and sort of the samples: the app's quality
    meter keeps one per (dataset, class, size) and scores every run against it.
    """

    def __init__(self, fresh_sets: Sequence[torch.Tensor], num_directions: int = 128, seed: int = 0):
        if len(fresh_sets) < 2:
            raise ValueError(f"need at least 2 fresh data sets for the baseline, got {len(fresh_sets)}")
        shapes = {tuple(f.shape) for f in fresh_sets}
        if len(shapes) != 1:
            raise ValueError(f"fresh data sets must have one shape, got {sorted(shapes)}")
        self.shape = shapes.pop()
        self.directions = random_directions(num_directions, self.shape[1], seed)
        self.fresh = [sorted_projections(f, self.directions) for f in fresh_sets]
        pairs = [(a, b) for i, a in enumerate(self.fresh) for b in self.fresh[i + 1 :]]
        self.baseline = sum(_sliced_wasserstein_sorted(a, b) for a, b in pairs) / len(pairs)

    def ratio(self, samples: torch.Tensor) -> SWRatio:
        if tuple(samples.shape) != self.shape:
            raise ValueError(f"samples have shape {tuple(samples.shape)}, the fresh sets {self.shape}")
        projected = sorted_projections(samples, self.directions)
        distance = sum(_sliced_wasserstein_sorted(projected, f) for f in self.fresh) / len(self.fresh)
        return SWRatio(distance / self.baseline, distance, self.baseline)


def sliced_wasserstein_ratio(
    samples: torch.Tensor, fresh_sets: Sequence[torch.Tensor], num_directions: int = 128, seed: int = 0
) -> SWRatio:
    """SW(samples, fresh_k) averaged over k, divided by the mean SW between pairs of fresh sets.

    A perfect sampler scores about 1: its samples are as far from the data as another
    draw of the data is.
    """
    return SlicedWassersteinReference(fresh_sets, num_directions, seed).ratio(samples)


def nearest_labels(points: torch.Tensor, reference: torch.Tensor, labels: torch.Tensor, chunk: int = 2048) -> torch.Tensor:
    """The label of each point's nearest reference point (Euclidean): points (N, D) → (N,) long."""
    nearest = torch.cat([torch.cdist(part, reference).argmin(dim=1) for part in points.float().split(chunk)])
    return labels[nearest]


def class_conformity(samples: torch.Tensor, requested: int, reference: torch.Tensor, labels: torch.Tensor) -> float:
    """The share of `samples` whose nearest fresh data point carries the `requested` label."""
    return (nearest_labels(samples, reference, labels) == requested).double().mean().item()


class NearestLabels:
    """`nearest_labels` against one fixed, labelled reference set, for scoring many sample sets.

    In 2D most points read their answer from a raster (`raster.label_raster`, built once) and
    only those near a boundary between labels are measured against every reference point;
    the answers are the same as `nearest_labels`'s.
    """

    def __init__(self, reference: torch.Tensor, labels: torch.Tensor):
        self.reference, self.labels = reference.float().cpu(), labels.cpu()
        built = label_raster(self.reference, self.labels) if reference.shape[1] == 2 else None
        self._raster, self._values = built if built is not None else (None, None)

    def __call__(self, points: torch.Tensor) -> torch.Tensor:
        points = points.float().cpu()
        if self._raster is None:
            return nearest_labels(points, self.reference, self.labels)
        found = self._raster.lookup(points)
        open_ = found == UNDECIDED
        answers = torch.empty(len(points), dtype=self.labels.dtype)
        answers[~open_] = self._values[found[~open_]].to(self.labels.dtype)
        answers[open_] = nearest_labels(points[open_], self.reference, self.labels)
        return answers

    def conformity(self, samples: torch.Tensor, requested: int) -> float:
        """`class_conformity` against this reference."""
        return (self(samples) == requested).double().mean().item()


def frechet_distance(a: torch.Tensor, b: torch.Tensor) -> float:
    """The Fréchet distance between Gaussians fitted to two feature sets a: (N, D), b: (M, D).

    d² = ‖μ_a − μ_b‖² + Tr(Σ_a + Σ_b − 2 (Σ_a Σ_b)^½) (Dowson & Landau 1982; the FID of
    Heusel et al. 2017 in a classifier's feature space). Tr((Σ_a Σ_b)^½) is the sum of
    the square roots of the eigenvalues of the symmetric PSD matrix Σ_a^½ Σ_b Σ_a^½,
    which has the same spectrum; everything runs in float64.
    """
    if a.dim() != 2 or b.dim() != 2 or a.shape[1] != b.shape[1]:
        raise ValueError(f"feature sets must be (N, D) with the same D, got {tuple(a.shape)} and {tuple(b.shape)}")
    if len(a) < 2 or len(b) < 2:
        raise ValueError("each feature set needs at least 2 rows to estimate a covariance")
    a, b = a.double().cpu(), b.double().cpu()
    mean_a, mean_b = a.mean(0), b.mean(0)
    cov_a, cov_b = torch.cov(a.T).reshape(a.shape[1], -1), torch.cov(b.T).reshape(b.shape[1], -1)
    values, vectors = torch.linalg.eigh(cov_a)
    root_a = (vectors * values.clamp(min=0).sqrt()) @ vectors.T
    cross = torch.linalg.eigvalsh(root_a @ cov_b @ root_a).clamp(min=0).sqrt().sum()
    distance = (mean_a - mean_b).square().sum() + torch.trace(cov_a) + torch.trace(cov_b) - 2 * cross
    return float(distance.clamp(min=0))


def mean_pairwise_distance(features: torch.Tensor) -> float:
    """The mean Euclidean distance over all pairs of rows of features: (N, D), N ≥ 2."""
    if len(features) < 2:
        raise ValueError("need at least 2 rows for a pairwise distance")
    return float(torch.pdist(features.double()).mean())


def nearest_distances(points: torch.Tensor, reference: torch.Tensor, chunk: int = 2048) -> torch.Tensor:
    """The Euclidean distance from each point to its nearest reference point: points (N, D) → (N,)."""
    reference = reference.float()
    return torch.cat([torch.cdist(part, reference).min(dim=1).values for part in points.float().split(chunk)])


class StrayReference:
    """What counts as a stray: a point farther from the nearest of `reference`'s points than the
    `quantile` of fresh data points (`calibration`, drawn independently) are from it.

    By construction about 1 − quantile of fresh data are strays (1% at the default 0.99), so
    a sampler's stray share reads against that floor: the points it sprinkles where the data
    has no mass, which a distance between whole distributions averages away.
    """

    def __init__(self, reference: torch.Tensor, calibration: torch.Tensor, quantile: float = 0.99, raster: bool = False):
        """raster: for a 2D reference that scores many sample sets, build `raster.stray_raster` once
        (it costs about as much as scoring 5 to 10 sets the slow way) so that most points are a lookup."""
        if not 0.0 < quantile < 1.0:
            raise ValueError(f"quantile must be in (0, 1), got {quantile!r}")
        self.reference = reference.float()
        self.threshold = float(torch.quantile(nearest_distances(calibration, self.reference).double(), quantile))
        self._raster = stray_raster(self.reference.cpu(), self.threshold) if raster and reference.shape[1] == 2 else None

    def strays(self, samples: torch.Tensor) -> torch.Tensor:
        """Which samples are strays: (N, D) → (N,) bool."""
        if self._raster is None:
            return nearest_distances(samples, self.reference) > self.threshold
        samples = samples.float().cpu()
        found = self._raster.lookup(samples)
        open_ = found == UNDECIDED
        found[open_] = (nearest_distances(samples[open_], self.reference.cpu()) > self.threshold).long()
        return found.bool()

    def share(self, samples: torch.Tensor) -> float:
        return self.strays(samples).double().mean().item()


def stray_share(samples: torch.Tensor, fresh_sets: Sequence[torch.Tensor], quantile: float = 0.99) -> float:
    """The share of stray samples (see `StrayReference`), averaged over the fresh sets, each in turn
    the reference with the next as its calibration."""
    if len(fresh_sets) < 2:
        raise ValueError(f"need at least 2 fresh data sets, got {len(fresh_sets)}")
    shares = [
        StrayReference(reference, fresh_sets[(k + 1) % len(fresh_sets)], quantile).share(samples)
        for k, reference in enumerate(fresh_sets)
    ]
    return sum(shares) / len(shares)


def knn_radii(points: torch.Tensor, k: int = 3, chunk: int = 2048) -> torch.Tensor:
    """The distance from each point to its k-th nearest neighbour among the others: (N, D) → (N,)."""
    if not 1 <= k < len(points):
        raise ValueError(f"k must be in [1, {len(points) - 1}] for {len(points)} points, got {k}")
    points = points.float()
    # Each point is its own nearest neighbour at distance 0: the k-th other one is the (k+1)-th smallest.
    return torch.cat([torch.cdist(part, points).topk(k + 1, dim=1, largest=False).values[:, k]
                      for part in points.split(chunk)])


def manifold_coverage(queries: torch.Tensor, support: torch.Tensor, radii: torch.Tensor, chunk: int = 2048) -> float:
    """The share of queries inside at least one ball B(support_i, radii_i): the k-NN estimate of the
    support set's manifold (Kynkäänniemi et al. 2019)."""
    support = support.float()
    inside = [(torch.cdist(part, support) <= radii[None, :]).any(dim=1) for part in queries.float().split(chunk)]
    return torch.cat(inside).double().mean().item()


@dataclass(frozen=True)
class PrecisionRecall:
    """precision: share of samples on the data's manifold (fidelity); recall: share of data on the samples' (coverage)."""

    precision: float
    recall: float


def precision_recall(samples: torch.Tensor, data: torch.Tensor, k: int = 3) -> PrecisionRecall:
    """Improved precision and recall (Kynkäänniemi et al. 2019) with k-nearest-neighbour manifolds.

    A sample counts towards precision when it lies within the k-NN radius of some data point;
    a data point counts towards recall when it lies within the k-NN radius of some sample.
    """
    return PrecisionRecall(
        precision=manifold_coverage(samples, data, knn_radii(data, k)),
        recall=manifold_coverage(data, samples, knn_radii(samples, k)),
    )
