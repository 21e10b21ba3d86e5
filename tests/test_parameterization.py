import pytest
import torch

from diffusion_core.parameterization import (
    PREDICTION_TYPES,
    check_prediction,
    eps_from_score,
    prediction_target,
    score_from_eps,
    to_x0_eps,
)

SQRT_AB, SQRT_1M_AB = 0.6, 0.8  # ᾱ = 0.36


def _pair(seed=0):
    g = torch.Generator().manual_seed(seed)
    x0, eps = torch.randn(64, 2, generator=g), torch.randn(64, 2, generator=g)
    return x0, eps, SQRT_AB * x0 + SQRT_1M_AB * eps


@pytest.mark.parametrize("prediction", PREDICTION_TYPES)
def test_every_prediction_type_round_trips_to_x0_and_eps(prediction):
    x0, eps, x_t = _pair()
    target = prediction_target(prediction, x0, eps, SQRT_AB, SQRT_1M_AB)
    got_x0, got_eps = to_x0_eps(target, x_t, SQRT_AB, SQRT_1M_AB, prediction)
    assert torch.allclose(got_x0, x0, atol=1e-6)
    assert torch.allclose(got_eps, eps, atol=1e-6)


def test_v_target_is_sqrt_ab_eps_minus_sqrt_1m_ab_x0():
    x0, eps, _ = _pair()
    v = prediction_target("v_prediction", x0, eps, SQRT_AB, SQRT_1M_AB)
    assert torch.allclose(v, 0.6 * eps - 0.8 * x0)


def test_clipping_bounds_x0_and_keeps_the_pair_consistent_with_x_t():
    x0, eps, x_t = _pair()
    got_x0, got_eps = to_x0_eps(3 * eps, x_t, SQRT_AB, SQRT_1M_AB, "epsilon", clip_range=(-0.5, 0.5))
    assert got_x0.abs().max() <= 0.5
    assert torch.allclose(SQRT_AB * got_x0 + SQRT_1M_AB * got_eps, x_t, atol=1e-6)


def test_score_is_minus_eps_over_sqrt_one_minus_alpha_bar():
    # For x_t ~ N(√ᾱ x0, (1-ᾱ) I) the score at x_t is -(x_t - √ᾱ x0)/(1-ᾱ) = -ε/√(1-ᾱ).
    x0, eps, x_t = _pair()
    exact = -(x_t - SQRT_AB * x0) / SQRT_1M_AB**2
    assert torch.allclose(score_from_eps(eps, SQRT_1M_AB), exact, atol=1e-6)
    assert torch.allclose(eps_from_score(exact, SQRT_1M_AB), eps, atol=1e-6)


def test_unknown_prediction_type_lists_the_allowed_ones():
    with pytest.raises(ValueError, match="'score'.*epsilon, sample, v_prediction"):
        check_prediction("score")
