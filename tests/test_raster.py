import math

import pytest
import torch

from diffusion_core.evaluation.metrics import NearestLabels, StrayReference, nearest_distances, nearest_labels
from diffusion_core.evaluation.raster import UNDECIDED, PlaneRaster, capped_nearest, label_raster, stray_raster


def gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def two_rings(n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Points near a unit ring (label 0) and a ring of radius 2 (label 1), with a third label on a blob."""
    angle = 2 * math.pi * torch.rand(n, generator=gen(seed))
    labels = torch.randint(0, 3, (n,), generator=gen(seed + 1))
    radius = torch.where(labels == 0, 1.0, 2.0)
    points = torch.stack([radius * angle.cos(), radius * angle.sin()], 1) + 0.05 * torch.randn(n, 2, generator=gen(seed + 2))
    points[labels == 2] = torch.tensor([3.0, 0.5]) + 0.2 * torch.randn(int((labels == 2).sum()), 2, generator=gen(seed + 3))
    return points, labels


def queries(seed: int) -> torch.Tensor:
    """Points over and far beyond the data, some on the data itself, and some that are not finite."""
    spread = 3.5 * (2 * torch.rand(20_000, 2, generator=gen(seed)) - 1)
    near = two_rings(5000, seed + 10)[0] + 0.08 * torch.randn(5000, 2, generator=gen(seed + 11))
    odd = torch.tensor([[math.nan, 0.0], [math.inf, 1.0], [0.0, -math.inf], [1e6, 1e6]])
    return torch.cat([spread, near, odd])


def test_capped_nearest_is_the_nearest_distance_of_each_group_capped_at_reach():
    reference, labels = two_rings(600, 0)
    raster = PlaneRaster(torch.tensor([-3.0, -3.0]), torch.tensor([4.0, 3.0]), cell=0.25)
    capped = capped_nearest(raster, reference, labels, 3, reach=0.6)
    distances = torch.cdist(raster.centres(), reference.double())
    expected = torch.stack([distances[:, labels == k].min(1).values for k in range(3)], 1).clamp(max=0.6)
    assert torch.allclose(capped, expected, atol=1e-12)
    assert (capped < 0.6).any() and (capped == 0.6).any()  # both sides of the cap are exercised


def test_a_grid_grows_its_cells_rather_than_pass_its_cell_budget():
    raster = PlaneRaster(torch.tensor([0.0, 0.0]), torch.tensor([10.0, 5.0]), cell=0.001, max_cells=5000)
    assert raster.shape[0] * raster.shape[1] <= 5000
    assert raster.cell * raster.shape[0] >= 10 and raster.cell * raster.shape[1] >= 5
    assert len(raster.centres()) == len(raster.answers) == raster.shape[0] * raster.shape[1]


def test_a_lookup_outside_the_grid_or_not_finite_is_undecided():
    raster = PlaneRaster(torch.tensor([0.0, 0.0]), torch.tensor([1.0, 1.0]), cell=0.5)
    raster.answers[:] = torch.tensor([10, 11, 12, 13])  # cells in (x, y) order: (0, 0), (0, 1), (1, 0), (1, 1)
    points = torch.tensor([[0.1, 0.1], [0.1, 0.9], [0.9, 0.1], [0.9, 0.9], [-0.1, 0.5], [0.5, 1.2], [math.nan, 0.5]])
    assert raster.lookup(points).tolist() == [10, 11, 12, 13, UNDECIDED, UNDECIDED, UNDECIDED]


def test_the_stray_raster_gives_the_slow_path_s_answer_for_every_point():
    reference, calibration = two_rings(2000, 0)[0], two_rings(2000, 100)[0]
    fast, slow = StrayReference(reference, calibration, raster=True), StrayReference(reference, calibration)
    assert fast.threshold == slow.threshold and fast._raster is not None
    points = queries(7)
    assert torch.equal(fast.strays(points), slow.strays(points))
    assert fast.share(points) == slow.share(points)


def test_the_stray_raster_decides_most_points_near_the_data_and_far_from_it():
    reference, calibration = two_rings(2000, 0)[0], two_rings(2000, 100)[0]
    threshold = StrayReference(reference, calibration).threshold
    raster = stray_raster(reference, threshold)
    fresh = two_rings(4000, 200)[0]
    assert (raster.lookup(fresh) != UNDECIDED).double().mean() > 0.85
    far = torch.tensor([[0.0, 0.0], [1.5, 0.0], [-2.2, -2.2]])  # inside both rings, between them, a corner
    assert raster.lookup(far).tolist() == [1, 1, 1]
    on = reference[:50]  # a reference point is at distance 0
    assert set(raster.lookup(on).tolist()) <= {0, UNDECIDED} and (raster.lookup(on) == 0).double().mean() > 0.9


def test_the_label_raster_gives_nearest_labels_answer_for_every_point():
    reference, labels = two_rings(1000, 0)
    points = queries(8)
    finite = points.isfinite().all(1)
    fast = NearestLabels(reference, labels)
    assert fast._raster is not None
    assert torch.equal(fast(points[finite]), nearest_labels(points[finite], reference, labels))
    assert (fast._raster.lookup(two_rings(4000, 300)[0]) != UNDECIDED).double().mean() > 0.85
    assert fast.conformity(reference, 1) == pytest.approx(float((labels == 1).double().mean()), abs=0.02)


def test_labels_that_are_not_0_to_n_come_back_as_themselves():
    reference, labels = two_rings(500, 0)
    named = torch.tensor([7, -4, 30])[labels]
    points = queries(9)[:5000]
    assert torch.equal(NearestLabels(reference, named)(points), named[torch.cdist(points, reference).argmin(1)])


def test_degenerate_references_fall_back_to_the_slow_path():
    same = torch.zeros(10, 2)
    assert stray_raster(same, 0.0) is None and stray_raster(same, math.nan) is None
    strays = StrayReference(same, same, raster=True)  # a threshold of 0: every point off the origin strays
    assert strays._raster is None and strays.share(torch.tensor([[0.0, 0.0], [0.1, 0.0]])) == 0.5
    assert label_raster(torch.empty(0, 2), torch.empty(0, dtype=torch.long)) is None
    assert label_raster(torch.tensor([[0.0, math.inf]]), torch.tensor([0])) is None
    single = NearestLabels(torch.randn(20, 2, generator=gen(1)), torch.full((20,), 5))
    assert single(torch.randn(100, 2, generator=gen(2)) * 10).tolist() == [5] * 100
    three_d = StrayReference(torch.randn(50, 3, generator=gen(3)), torch.randn(50, 3, generator=gen(4)), raster=True)
    assert three_d._raster is None
    points = torch.randn(40, 3, generator=gen(5))
    assert three_d.share(points) == (nearest_distances(points, three_d.reference) > three_d.threshold).double().mean().item()
