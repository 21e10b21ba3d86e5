import pytest
import torch

from diffusion_core.metrics import (
    class_conformity,
    random_directions,
    sliced_wasserstein,
    sliced_wasserstein_ratio,
)


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


def test_class_conformity_counts_the_label_of_the_nearest_reference_point():
    reference = torch.tensor([[0.0, 0.0], [10.0, 0.0]])
    labels = torch.tensor([0, 1])
    samples = torch.tensor([[1.0, 0.0], [2.0, 1.0], [9.0, 0.0], [4.0, 0.0]])
    assert class_conformity(samples, 0, reference, labels) == 0.75
    assert class_conformity(samples, 1, reference, labels) == 0.25
