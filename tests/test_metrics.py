import math

import numpy as np
import pytest
import torch

from diffusion_core.evaluation.metrics import (
    SlicedWassersteinReference,
    StrayReference,
    class_conformity,
    frechet_distance,
    knn_radii,
    mean_pairwise_distance,
    nearest_distances,
    precision_recall,
    random_directions,
    sliced_wasserstein,
    sliced_wasserstein_ratio,
    stray_share,
)


def gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def test_sliced_wasserstein_of_a_shift_is_the_shift_length_over_root_two_in_2d():
    # W₂ between a set and its copy shifted by s along θ·s; E_θ[(θ·s)²] = |s|²/2 in 2D.
    a = torch.randn(5000, 2, generator=torch.Generator().manual_seed(0))
    shift = torch.tensor([0.3, 0.4])
    distance = sliced_wasserstein(a, a + shift, random_directions(1024, 2))
    assert distance == pytest.approx(0.5 / 2**0.5, rel=0.02)


def test_identical_sets_are_at_distance_zero():
    a = torch.randn(100, 2)
    assert sliced_wasserstein(a, a, random_directions(64, 2)) == 0.0


def gaussian_sets(n, count, scale=1.0, seed=0):
    g = torch.Generator().manual_seed(seed)
    return [scale * torch.randn(n, 2, generator=g) for _ in range(count)]


def test_ratio_is_near_one_for_a_perfect_sampler_and_large_for_a_wide_one():
    fresh = gaussian_sets(5000, 5)
    perfect = sliced_wasserstein_ratio(gaussian_sets(5000, 1, seed=1)[0], fresh)
    wide = sliced_wasserstein_ratio(gaussian_sets(5000, 1, scale=1.15, seed=1)[0], fresh)
    assert 0.7 < perfect.ratio < 1.3
    assert wide.ratio > 3.0


def test_ratio_needs_at_least_two_fresh_sets():
    with pytest.raises(ValueError, match="at least 2 fresh data sets for the baseline, got 1"):
        sliced_wasserstein_ratio(torch.zeros(3, 2), [torch.zeros(3, 2)])


def test_a_reference_scores_many_sample_sets_as_the_pairwise_definition_does():
    # The app's meter projects its fresh sets once; each run's ratio must equal the definition:
    # mean SW(samples, fresh_k) / mean SW(fresh_i, fresh_j), i < j, over the same directions.
    fresh = gaussian_sets(300, 3)
    reference = SlicedWassersteinReference(fresh, num_directions=16, seed=3)
    directions = random_directions(16, 2, seed=3)
    baseline = np.mean([sliced_wasserstein(fresh[i], fresh[j], directions) for i, j in [(0, 1), (0, 2), (1, 2)]])
    for scale in (1.0, 1.5):
        samples = gaussian_sets(300, 1, scale=scale, seed=9)[0]
        distance = np.mean([sliced_wasserstein(samples, f, directions) for f in fresh])
        scored = reference.ratio(samples)
        assert scored.baseline == pytest.approx(baseline, rel=1e-12)
        assert scored.distance == pytest.approx(distance, rel=1e-12)
        assert scored.ratio == pytest.approx(distance / baseline, rel=1e-12)
    with pytest.raises(ValueError, match=r"samples have shape \(299, 2\), the fresh sets \(300, 2\)"):
        reference.ratio(torch.zeros(299, 2))
    with pytest.raises(ValueError, match="fresh data sets must have one shape"):
        SlicedWassersteinReference([torch.zeros(3, 2), torch.zeros(4, 2)])


def test_class_conformity_counts_the_label_of_the_nearest_reference_point():
    reference = torch.tensor([[0.0, 0.0], [10.0, 0.0]])
    labels = torch.tensor([0, 1])
    samples = torch.tensor([[1.0, 0.0], [2.0, 1.0], [9.0, 0.0], [4.0, 0.0]])
    assert class_conformity(samples, 0, reference, labels) == 0.75
    assert class_conformity(samples, 1, reference, labels) == 0.25


def test_frechet_distance_matches_the_closed_form_and_an_independent_matrix_route():
    g = torch.Generator().manual_seed(0)
    # One dimension: d² = (μa − μb)² + (σa − σb)² with the sample (unbiased) moments.
    a, b = torch.randn(500, 1, generator=g) * 2 + 1, torch.randn(400, 1, generator=g) * 0.5 - 1
    a, b = a.double(), b.double()
    expected = (a.mean() - b.mean()) ** 2 + (a.std() - b.std()) ** 2
    assert frechet_distance(a, b) == pytest.approx(expected.item(), rel=1e-9)
    # Eight correlated dimensions: Tr((Σa Σb)^½) from the eigenvalues of the non-symmetric product.
    a = torch.randn(300, 8, generator=g) @ torch.randn(8, 8, generator=g)
    b = torch.randn(300, 8, generator=g) @ torch.randn(8, 8, generator=g) + 0.3
    cov_a, cov_b = np.cov(a.double().numpy().T), np.cov(b.double().numpy().T)
    cross = np.sqrt(np.clip(np.linalg.eigvals(cov_a @ cov_b).real, 0, None)).sum()
    mean_gap = ((a.double().mean(0) - b.double().mean(0)) ** 2).sum().item()
    reference = mean_gap + np.trace(cov_a) + np.trace(cov_b) - 2 * cross
    assert frechet_distance(a, b) == pytest.approx(reference, rel=1e-8)
    assert frechet_distance(a, a) == pytest.approx(0.0, abs=1e-8)
    with pytest.raises(ValueError, match="same D"):
        frechet_distance(a, b[:, :4])


def test_mean_pairwise_distance_averages_every_pair_once():
    points = torch.tensor([[0.0, 0.0], [3.0, 4.0], [6.0, 8.0]])
    assert mean_pairwise_distance(points) == pytest.approx((5 + 10 + 5) / 3)
    with pytest.raises(ValueError, match="at least 2 rows"):
        mean_pairwise_distance(points[:1])


# Strays and precision/recall -----------------------------------------------------------------------------


def test_nearest_distances_match_a_brute_force_loop():
    points, reference = torch.randn(37, 2, generator=gen(1)), torch.randn(53, 2, generator=gen(2))
    expected = torch.tensor([min(float((p - r).norm()) for r in reference) for p in points])
    assert torch.allclose(nearest_distances(points, reference, chunk=5), expected, atol=1e-5)


def test_fresh_data_has_the_quantile_floor_of_strays_and_noise_far_more():
    fresh = [torch.randn(4000, 2, generator=gen(seed)) for seed in range(4)]
    assert abs(stray_share(torch.randn(4000, 2, generator=gen(9)), fresh) - 0.01) < 0.006
    assert abs(stray_share(torch.randn(4000, 2, generator=gen(9)), fresh, quantile=0.9) - 0.1) < 0.02
    spread = 3 * torch.randn(4000, 2, generator=gen(9))  # the same shape blown up three times
    assert stray_share(spread, fresh) > 0.3


def test_strays_count_the_points_sprinkled_off_a_ring():
    def ring(n, seed):
        angle = 2 * math.pi * torch.rand(n, generator=gen(seed))
        return torch.stack([angle.cos(), angle.sin()], 1) + 0.02 * torch.randn(n, 2, generator=gen(seed + 100))
    fresh = [ring(3000, seed) for seed in range(3)]
    samples = ring(3000, 7)
    samples[:150] = 0.3 * torch.randn(150, 2, generator=gen(8))  # 5% inside the ring, where there is no data
    assert 0.055 < stray_share(samples, fresh) < 0.07


def test_stray_settings_are_checked():
    with pytest.raises(ValueError, match="quantile"):
        StrayReference(torch.zeros(3, 2), torch.zeros(3, 2), quantile=1.0)
    with pytest.raises(ValueError, match="at least 2"):
        stray_share(torch.zeros(3, 2), [torch.zeros(3, 2)])


def test_knn_radii_by_hand():
    points = torch.tensor([[0.0, 0.0], [1.0, 0.0], [3.0, 0.0], [7.0, 0.0]])
    assert torch.allclose(knn_radii(points, k=1), torch.tensor([1.0, 1.0, 2.0, 4.0]))
    assert torch.allclose(knn_radii(points, k=2), torch.tensor([3.0, 2.0, 3.0, 6.0]))
    with pytest.raises(ValueError, match="k must be"):
        knn_radii(points, k=4)


def test_precision_recall_by_hand():
    data = torch.tensor([[0.0, 0.0], [1.0, 0.0], [2.0, 0.0]])  # k=1 radii: 1, 1, 1
    samples = torch.tensor([[0.5, 0.0], [0.0, 5.0], [2.0, 0.5], [10.0, 0.0]])
    found = precision_recall(samples, data, k=1)
    assert found.precision == 0.5  # (0.5, 0) and (2, 0.5) lie in a data ball; the other two do not
    # Sample radii (k=1): 0.5→(2,0.5) 1.58, (0,5)→5.02, (2,0.5)→1.58, (10,0)→8.02: every data point is covered.
    assert found.recall == 1.0


def test_precision_and_recall_tell_fidelity_from_coverage():
    data = torch.randn(3000, 2, generator=gen(0))
    same = precision_recall(torch.randn(3000, 2, generator=gen(1)), data)
    assert same.precision > 0.9 and same.recall > 0.9
    collapsed = precision_recall(0.2 * torch.randn(3000, 2, generator=gen(1)), data)  # on the data, a small part
    assert collapsed.precision > 0.95 and collapsed.recall < 0.4
    off = precision_recall(torch.randn(3000, 2, generator=gen(1)) + 6.0, data)  # off the data altogether
    assert off.precision < 0.01 and off.recall < 0.01
