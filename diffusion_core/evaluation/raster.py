"""Nearest-neighbour answers about a fixed 2D point set, looked up in a grid of cells instead of
computed against every point, and still exact.

The distance from a query p to the nearest point of a set moves by at most |p − q| when p
moves to q (it is 1-Lipschitz), and so does the distance to the nearest point of each label.
So if a cell's centre is at least half the cell's diagonal (plus a rounding margin) away from
where an answer would change, every point in the cell has the centre's answer. `PlaneRaster`
stores those answers once; a query in any other cell, outside the grid, or not finite, gets
`UNDECIDED` and the caller computes it the slow way. The quality meter scores every 2D run
against the same reference sets, so it pays the grid once and a lookup per run.
"""

from __future__ import annotations

import math

import torch

UNDECIDED = -1
MAX_CELLS = 1 << 16  # the grid grows its cells rather than pass this many: 64 K answers, int64


class PlaneRaster:
    """A grid of square cells over [low, high] in the plane, with one stored answer per cell."""

    def __init__(self, low: torch.Tensor, high: torch.Tensor, cell: float, max_cells: int = MAX_CELLS):
        low, high = low.double().cpu(), high.double().cpu()
        extent = (high - low).clamp(min=cell)
        cell = max(cell, math.sqrt(float(extent.prod()) / max_cells))
        while True:
            shape = [max(1, math.ceil(float(side) / cell)) for side in extent]
            if shape[0] * shape[1] <= max_cells:
                break
            cell *= 1.01
        self.low, self.cell, self.shape = low, cell, tuple(shape)
        self.half_diagonal = cell * math.sqrt(2) / 2
        self.answers = torch.full((shape[0] * shape[1],), UNDECIDED, dtype=torch.long)

    def centres(self) -> torch.Tensor:
        """Every cell's centre, in the order of `answers`: (cells, 2) float64."""
        i, j = torch.meshgrid(torch.arange(self.shape[0]), torch.arange(self.shape[1]), indexing="ij")
        index = torch.stack([i.reshape(-1), j.reshape(-1)], 1).double()
        return self.low + (index + 0.5) * self.cell

    def lookup(self, points: torch.Tensor) -> torch.Tensor:
        """The stored answer of each point's cell, UNDECIDED outside the grid: points (N, 2) → (N,) long."""
        scaled = (points.double().cpu() - self.low) / self.cell
        index = torch.nan_to_num(scaled, nan=-1.0, posinf=-1.0, neginf=-1.0).floor()
        inside = (index >= 0).all(1) & (index[:, 0] < self.shape[0]) & (index[:, 1] < self.shape[1])
        flat = torch.where(inside, index[:, 0] * self.shape[1] + index[:, 1], 0).long()
        return torch.where(inside, self.answers[flat], UNDECIDED)


def capped_nearest(raster: PlaneRaster, reference: torch.Tensor, groups: torch.Tensor, count: int,
                   reach: float) -> torch.Tensor:
    """min(distance from each cell centre to the nearest reference point of each group, reach), in
    float64: reference (M, 2), groups (M,) in [0, count) → (cells, count).

    One column of cells at a time, against the reference points within `reach` of it along x: a
    point outside that window is farther than `reach`, so it can only change an answer that the cap
    hides anyway.
    """
    order = reference[:, 0].double().argsort()
    reference, groups = reference.double()[order], groups[order]
    centres = raster.centres().reshape(raster.shape[0], raster.shape[1], 2)
    capped = torch.full((raster.shape[0], raster.shape[1], count), reach, dtype=torch.float64)
    bounds = torch.searchsorted(reference[:, 0].contiguous(), torch.stack([centres[:, 0, 0] - reach,
                                                                            centres[:, 0, 0] + reach], 1))
    for column, (first, last) in enumerate(bounds.tolist()):
        if first == last:
            continue
        distances = torch.cdist(centres[column], reference[first:last]).clamp(max=reach)
        index = groups[first:last].expand(len(distances), -1)
        capped[column].scatter_reduce_(1, index, distances, reduce="amin")
    return capped.reshape(-1, count)


def _grid_around(reference: torch.Tensor, padding: float, cell: float) -> PlaneRaster:
    reference = reference.double()
    return PlaneRaster(reference.min(0).values - padding, reference.max(0).values + padding, cell)


def _margin(raster: PlaneRaster) -> float:
    """How far a cell's answer must be from changing: half its diagonal, and room for the slow path's
    rounding (float32 distances through a matrix product: |x|² + |y|² − 2 x·y loses about 1e-3 of the
    coordinates' size when the distance is small) and for the choice of a query's cell."""
    size = 1.0 + float(raster.low.abs().max()) + raster.cell * max(raster.shape)
    return raster.half_diagonal + 1e-3 * size


def stray_raster(reference: torch.Tensor, threshold: float) -> PlaneRaster | None:
    """Answers 1 (stray: farther than `threshold` from every reference point) or 0 (within it);
    None when the threshold leaves no scale to draw cells at."""
    if not (math.isfinite(threshold) and threshold > 0 and bool(reference.isfinite().all())):
        return None
    raster = _grid_around(reference, padding=4 * threshold, cell=threshold / 2)
    margin = _margin(raster)
    one_group = torch.zeros(len(reference), dtype=torch.long)
    nearest = capped_nearest(raster, reference, one_group, 1, reach=threshold + 2 * margin)[:, 0]
    raster.answers[nearest <= threshold - margin] = 0
    raster.answers[nearest > threshold + margin] = 1
    return raster


def label_raster(
    reference: torch.Tensor, labels: torch.Tensor, cells_across: int = 128
) -> tuple[PlaneRaster, torch.Tensor] | None:
    """Answers which label the nearest reference point carries, as an index into the sorted distinct
    labels (returned beside the raster), where the nearest point of every other label is farther by
    more than twice the margin; None for an empty or not finite reference."""
    if len(reference) == 0 or not bool(reference.isfinite().all()):
        return None
    values, groups = torch.unique(labels.cpu(), return_inverse=True)
    span = float((reference.max(0).values - reference.min(0).values).max())
    scale = span if span > 0 else 1.0
    raster = _grid_around(reference, padding=scale / 4, cell=scale / cells_across)
    if len(values) < 2:
        raster.answers[:] = 0
        return raster, values
    reach = scale / 8  # a cell farther than this from every reference point stays undecided
    margin = _margin(raster)
    two = capped_nearest(raster, reference, groups, len(values), reach).topk(2, dim=1, largest=False)
    # The nearest label is exact below the cap; the runner-up's capped distance can only understate it.
    decided = (two.values[:, 0] < reach) & (two.values[:, 1] - two.values[:, 0] > 2 * margin)
    raster.answers[decided] = two.indices[decided, 0]
    return raster, values
