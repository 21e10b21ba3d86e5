import math

import pytest
import torch

from diffusion_core import NoiseSchedule
from diffusion_core.schedules import make_betas


def test_linear_betas_run_from_ddpm_start_to_end():
    betas = NoiseSchedule.create("linear", 1000).betas
    assert betas.shape == (1000,)
    assert betas[0].item() == pytest.approx(1e-4)
    assert betas[-1].item() == pytest.approx(0.02)
    assert torch.all(betas[1:] > betas[:-1])


def test_cosine_alphas_cumprod_follow_improved_ddpm_closed_form():
    T, s = 1000, 0.008
    schedule = NoiseSchedule.create("cosine", T, dtype=torch.float64)

    def f(t):
        return math.cos((t / T + s) / (1 + s) * math.pi / 2) ** 2

    # Away from the end, where the 0.999 cap bites, ᾱ_t = f(t+1)/f(0).
    for t in (0, 10, 500, 900):
        assert schedule.alphas_cumprod[t].item() == pytest.approx(f(t + 1) / f(0), rel=1e-9)
    assert schedule.betas.max().item() == pytest.approx(0.999)


def test_sigmoid_betas_are_seed_formula_scaled_into_range():
    T, start, end = 100, 1e-5, 1e-2
    betas = make_betas("sigmoid", T, start, end)
    for i in (0, 37, 99):
        x = -6 + 12 * i / (T - 1)
        assert betas[i].item() == pytest.approx(1 / (1 + math.exp(-x)) * (end - start) + start, rel=1e-12)
    assert start < betas.min() and betas.max() < end


@pytest.mark.parametrize("kind", ["linear", "cosine", "sigmoid"])
def test_alphas_cumprod_is_running_product_of_one_minus_beta(kind):
    schedule = NoiseSchedule.create(kind, 300, dtype=torch.float64)
    product = 1.0
    for t in range(300):
        product *= 1.0 - schedule.betas[t].item()
        assert schedule.alphas_cumprod[t].item() == pytest.approx(product, rel=1e-12)
    assert torch.allclose(schedule.sqrt_one_minus_alphas_cumprod**2 + schedule.sqrt_alphas_cumprod**2,
                          torch.ones(300, dtype=torch.float64))


@pytest.mark.parametrize("T", [2, 3, 17])
def test_any_num_steps_from_two_builds_a_valid_schedule(T):
    for kind in ("linear", "cosine", "sigmoid"):
        schedule = NoiseSchedule.create(kind, T)
        assert len(schedule) == T and schedule.betas.shape == (T,)
        assert torch.all((schedule.betas > 0) & (schedule.betas < 1))


@pytest.mark.parametrize("bad", [("linear", 1), ("warp", 100), ("linear", 10.5)])
def test_bad_schedule_arguments_name_the_value(bad):
    with pytest.raises(ValueError, match=repr(bad[0]) if bad[0] == "warp" else "num_steps"):
        NoiseSchedule.create(*bad)


def test_float32_schedule_is_float64_result_cast_once():
    fine = NoiseSchedule.create("linear", 1000, dtype=torch.float64)
    coarse = NoiseSchedule.create("linear", 1000, dtype=torch.float32)
    assert coarse.alphas_cumprod.dtype == torch.float32
    assert torch.equal(coarse.alphas_cumprod, fine.alphas_cumprod.float())


def test_q_sample_has_closed_form_mean_and_variance():
    schedule = NoiseSchedule.create("linear", 1000)
    x0 = torch.tensor([[1.5, -0.5]]).expand(200_000, 2)
    t = torch.full((200_000,), 400)
    x_t = schedule.q_sample(x0, t, torch.randn(x0.shape, generator=torch.Generator().manual_seed(0)))
    ab = schedule.alphas_cumprod[400].item()
    assert torch.allclose(x_t.mean(0), math.sqrt(ab) * x0[0], atol=0.01)
    assert torch.allclose(x_t.var(0), torch.full((2,), 1 - ab), rtol=0.01)


def test_posterior_matches_product_of_gaussians():
    """q(x_{t-1}|x_t,x_0) ∝ N(x_t; √α_t x_{t-1}, β_t) N(x_{t-1}; √ᾱ_{t-1} x_0, 1-ᾱ_{t-1})."""
    schedule = NoiseSchedule.create("cosine", 1000, dtype=torch.float64)
    x0 = torch.tensor([[0.3, -1.2]], dtype=torch.float64)
    x_t = torch.tensor([[0.9, 0.1]], dtype=torch.float64)
    for t in (1, 50, 999):
        a, b = schedule.alphas[t].item(), schedule.betas[t].item()
        ab_prev = schedule.alphas_cumprod[t - 1].item()
        precision = a / b + 1 / (1 - ab_prev)
        expected_mean = (math.sqrt(a) * x_t / b + math.sqrt(ab_prev) * x0 / (1 - ab_prev)) / precision
        mean, variance = schedule.q_posterior(x0, x_t, torch.tensor([t]))
        assert torch.allclose(mean, expected_mean, rtol=1e-10)
        assert variance.item() == pytest.approx(1 / precision, rel=1e-10)
    # At t = 0 the posterior collapses onto x_0.
    mean, variance = schedule.q_posterior(x0, x_t, torch.tensor([0]))
    assert torch.allclose(mean, x0) and variance.item() == 0.0


def test_respacing_keeps_marginals_at_kept_steps():
    schedule = NoiseSchedule.create("linear", 1000, dtype=torch.float64)
    kept = [999, 749, 499, 249, 0]
    respaced = schedule.respace(kept)
    assert respaced.timesteps.tolist() == sorted(kept)
    assert torch.allclose(respaced.alphas_cumprod, schedule.alphas_cumprod[sorted(kept)], rtol=1e-12)
    assert torch.allclose(torch.cumprod(1 - respaced.betas, 0), respaced.alphas_cumprod, rtol=1e-12)


def test_respace_rejects_out_of_range_or_repeated_timesteps():
    schedule = NoiseSchedule.create("linear", 100)
    for bad in ([100], [-1, 5], [3, 3], []):
        with pytest.raises(ValueError, match="distinct integers"):
            schedule.respace(bad)
