import math

import pytest
import torch

from diffusion_core.data import CLASS_NAMES, RESCALING, TOY_DATASETS, toy_dataset


@pytest.mark.parametrize("name", TOY_DATASETS)
def test_toy_dataset_returns_float_points_and_two_balanced_long_labels(name):
    x, y = toy_dataset(name, n=4000, seed=0)
    assert x.shape == (4000, 2) and x.dtype == torch.float32
    assert y.shape == (4000,) and y.dtype == torch.long
    assert set(y.tolist()) == {0, 1} == set(range(len(CLASS_NAMES[name])))
    assert abs(y.float().mean().item() - 0.5) < 0.03
    assert torch.isfinite(x).all()


@pytest.mark.parametrize("name", TOY_DATASETS)
def test_same_seed_gives_identical_draws_and_new_seed_a_different_one(name):
    a, la = toy_dataset(name, n=500, seed=3)
    b, lb = toy_dataset(name, n=500, seed=3)
    c, _ = toy_dataset(name, n=500, seed=4)
    assert torch.equal(a, b) and torch.equal(la, lb)
    assert not torch.allclose(a, c)


def raw(name, x):
    rescaling = RESCALING[name]
    return x.double() / rescaling.scale + torch.tensor(rescaling.offset, dtype=torch.float64)


def test_circles_radii_match_make_circles_factor_half_with_noise_005():
    x, y = toy_dataset("circles", n=20000, seed=0)
    radius = raw("circles", x).norm(dim=1)
    assert radius[y == 0].mean().item() == pytest.approx(1.0, abs=0.01)
    assert radius[y == 1].mean().item() == pytest.approx(0.5, abs=0.01)
    # Radial spread of isotropic 2D noise with σ = 0.05 is about σ away from the centre.
    assert radius[y == 0].std().item() == pytest.approx(0.05, abs=0.005)


def test_moons_lie_on_make_moons_half_circles_with_noise_005():
    x, y = toy_dataset("moons", n=20000, seed=0)
    p = raw("moons", x)
    upper = p[y == 0].norm(dim=1)
    lower = (p[y == 1] - torch.tensor([1.0, 0.5], dtype=torch.float64)).norm(dim=1)
    assert upper.mean().item() == pytest.approx(1.0, abs=0.01)
    assert lower.mean().item() == pytest.approx(1.0, abs=0.01)
    assert p[y == 0, 1].mean().item() == pytest.approx(2 / math.pi, abs=0.02)  # mean of sin θ on [0, π]


def test_swissroll_labels_split_the_roll_at_its_middle_turn():
    x, y = toy_dataset("swissroll", n=20000, seed=0)
    radius = (raw("swissroll", x)).norm(dim=1)
    # t ∈ [1.5π, 4.5π]; the inner half has t < 3π ≈ 9.42 (plus noise σ = 1).
    assert radius[y == 0].mean().item() == pytest.approx(2.25 * math.pi, abs=0.2)
    assert radius[y == 1].mean().item() == pytest.approx(3.75 * math.pi, abs=0.2)


def test_moons_circles_puts_circles_left_and_moons_right():
    x, y = toy_dataset("moons_circles", n=4000, seed=0)
    assert (x[y == 0, 0] < 0).float().mean() > 0.99
    assert (x[y == 1, 0] > 0).float().mean() > 0.99


def test_toy_dataset_rejects_unknown_name_and_bad_size():
    with pytest.raises(ValueError, match="unknown toy dataset 'spiral'.*moons"):
        toy_dataset("spiral")
    with pytest.raises(ValueError, match="positive integer, got 0"):
        toy_dataset("moons", n=0)
