"""Improved DDPM's learned variance: the interpolation, the bound's terms by hand, the hybrid loss, sampling."""

import math

import pytest
import torch

from diffusion_core.models import FiLMMLP, MLPConfig
from diffusion_core.samplers import make_timesteps, sample
from diffusion_core.schedules import NoiseSchedule
from diffusion_core.training import TrainConfig, Trainer
from diffusion_core.variance import (
    VLB_WEIGHT,
    gaussian_kl,
    gaussian_nll,
    interpolated_log_variance,
    posterior_log_variance_clipped,
    vlb_terms,
)


def test_gaussian_kl_matches_the_closed_form_worked_by_hand():
    # KL(N(1, 2) ‖ N(0, 1)) = ½ (log 1 − log 2 + (2 + 1)/1 − 1) = ½ (2 − ln 2)
    value = gaussian_kl(torch.tensor(1.0), torch.tensor(math.log(2.0)), torch.tensor(0.0), torch.tensor(0.0))
    assert value.item() == pytest.approx(0.5 * (2 - math.log(2)), abs=1e-6)
    same = gaussian_kl(torch.tensor(0.3), torch.tensor(-1.0), torch.tensor(0.3), torch.tensor(-1.0))
    assert same.item() == pytest.approx(0.0, abs=1e-7)


def test_gaussian_nll_is_minus_the_log_density():
    x, mean, var = 0.5, 0.1, 0.25
    expected = 0.5 * math.log(2 * math.pi * var) + (x - mean) ** 2 / (2 * var)
    value = gaussian_nll(torch.tensor(x), torch.tensor(mean), torch.tensor(math.log(var)))
    assert value.item() == pytest.approx(expected, abs=1e-6)


def test_the_interpolation_runs_from_posterior_variance_to_beta():
    schedule = NoiseSchedule.create("linear", 10, dtype=torch.float64)
    log_beta, log_tilde = schedule.betas.log(), posterior_log_variance_clipped(schedule)
    assert torch.allclose(interpolated_log_variance(torch.zeros(10, dtype=torch.float64), log_beta, log_tilde).exp()[1:],
                          schedule.posterior_variance[1:])
    assert torch.allclose(interpolated_log_variance(torch.ones(10, dtype=torch.float64), log_beta, log_tilde).exp(),
                          schedule.betas)
    # β̃_0 = 0 has no logarithm: t = 0 takes β̃_1's, as Improved DDPM's code does.
    assert log_tilde[0] == log_tilde[1]


def test_vlb_term_at_t_positive_is_the_posterior_kl_in_bits_worked_by_hand():
    schedule = NoiseSchedule.create("linear", 3, beta_start=0.1, beta_end=0.3, dtype=torch.float64)
    x0, x_t = torch.tensor([[0.5]], dtype=torch.float64), torch.tensor([[0.2]], dtype=torch.float64)
    t = torch.tensor([2])
    # β = 0.1, 0.2, 0.3; ᾱ = 0.9, 0.72, 0.504. q(x_1 | x_2, x_0): mean √ᾱ_1 β_2/(1−ᾱ_2) x0 + √α_2 (1−ᾱ_1)/(1−ᾱ_2) x_t,
    # variance β_2 (1−ᾱ_1)/(1−ᾱ_2).
    true_mean = math.sqrt(0.72) * 0.3 / 0.496 * 0.5 + math.sqrt(0.7) * 0.28 / 0.496 * 0.2
    true_var = 0.3 * 0.28 / 0.496
    model_mean, model_var = 0.1, 0.2
    kl = 0.5 * (math.log(model_var / true_var) + (true_var + (true_mean - model_mean) ** 2) / model_var - 1)
    value = vlb_terms(schedule, x0, x_t, t, torch.tensor([[model_mean]], dtype=torch.float64),
                      torch.tensor([[math.log(model_var)]], dtype=torch.float64))
    assert value.item() == pytest.approx(kl / math.log(2), rel=1e-9)


def test_vlb_term_at_t_zero_is_the_decoder_nll_in_bits():
    schedule = NoiseSchedule.create("linear", 3, beta_start=0.1, beta_end=0.3, dtype=torch.float64)
    x0 = torch.tensor([[0.5, -0.5]], dtype=torch.float64)
    mean, log_var = torch.tensor([[0.4, -0.2]], dtype=torch.float64), torch.full((1, 2), -2.0, dtype=torch.float64)
    value = vlb_terms(schedule, x0, x0 * 0.9, torch.tensor([0]), mean, log_var)
    assert value.item() == pytest.approx(gaussian_nll(x0, mean, log_var).mean().item() / math.log(2), rel=1e-9)


def learned_model(seed=0):
    torch.manual_seed(seed)
    return FiLMMLP(MLPConfig(hidden=16, num_layers=2, learn_variance=True))


def test_a_learned_variance_network_gives_its_prediction_alone_and_v_beside_it_starting_at_zero():
    model = learned_model()
    x, t = torch.randn(5, 2), torch.randint(0, 100, (5,))
    both = model.prediction_and_variance(x, t, None)
    assert both.shape == (5, 4) and model(x, t, None).shape == (5, 2)
    assert torch.equal(model(x, t, None), both[:, :2])
    assert torch.equal(both[:, 2:], torch.zeros(5, 2))  # Σ = β̃ until training moves it


def test_hybrid_loss_is_simple_plus_lambda_vlb_and_the_vlb_moves_only_the_variance():
    schedule = NoiseSchedule.create("linear", 100)
    model = learned_model()
    trainer = Trainer(model, schedule, lambda n, g: (torch.randn(n, 2, generator=g), None),
                      TrainConfig(steps=1, batch_size=64))
    assert trainer.learn_variance  # read from the network's config
    x0 = torch.randn(64, 2)
    trainer.generator.manual_seed(3)
    loss = trainer.loss(x0, None)
    # The same draws, by hand: t, ε, then the two terms.
    g = torch.Generator().manual_seed(3)
    t = torch.randint(0, 100, (64,), generator=g)
    noise = torch.randn(x0.shape, generator=g)
    x_t = schedule.q_sample(x0, t, noise)
    prediction, v = model.prediction_and_variance(x_t, t, None).chunk(2, dim=1)
    simple = (prediction - noise).square().mean()
    # L_vlb by hand: the posterior mean of the ε-prediction's x̂0, Σ from v, T times the mean term.
    ab = schedule.alphas_cumprod[t][:, None]
    x0_hat = (x_t - (1 - ab).sqrt() * prediction.detach()) / ab.sqrt()
    mean, _ = schedule.q_posterior(x0_hat, x_t, t)
    log_var = v * schedule.betas.log()[t][:, None] + (1 - v) * posterior_log_variance_clipped(schedule)[t][:, None]
    vlb = 100 * vlb_terms(schedule, x0, x_t, t, mean, log_var).mean()
    assert loss.item() == pytest.approx((simple + VLB_WEIGHT * vlb).item(), rel=1e-5)
    # L_vlb sees the prediction only through a stopped gradient: the output rows that make the prediction
    # get the gradient of L_simple alone.
    model.zero_grad()
    loss.backward()
    from_hybrid = model.output.weight.grad[:2].clone()
    model.zero_grad()
    simple.backward()
    assert torch.allclose(from_hybrid, model.output.weight.grad[:2], atol=1e-7)
    model.zero_grad()
    trainer.loss(x0, None).backward()
    assert model.output.weight.grad[2:].abs().sum() > 0  # and L_vlb does train v's rows


def constant_v_denoiser(v_value):
    def denoiser(x, t, labels):
        return torch.cat([0.5 * x, torch.full_like(x, v_value)], dim=1)
    return denoiser


@pytest.mark.parametrize("v_value, fixed", [(0.0, "fixed_small"), (1.0, "fixed_large")])
def test_learned_variance_at_v_zero_and_one_samples_as_the_fixed_variances(v_value, fixed):
    schedule = NoiseSchedule.create("linear", 200)
    x_T = torch.randn(32, 2, generator=torch.Generator().manual_seed(0))
    runs = {}
    for variance, denoiser in (("learned", constant_v_denoiser(v_value)), (fixed, lambda x, t, y: 0.5 * x)):
        *_, last = sample(denoiser, schedule, (32, 2), sampler="ddpm", steps=20, x_T=x_T, generator=4,
                          variance=variance, outputs_variance=variance == "learned")
        runs[variance] = last.x
    assert torch.allclose(runs["learned"], runs[fixed], atol=1e-5)


def test_learned_variance_interpolates_the_respaced_steps_bounds():
    schedule = NoiseSchedule.create("linear", 200)
    timesteps = make_timesteps(200, 10)
    respaced = schedule.respace(timesteps, dtype=torch.float64)
    steps = sample(constant_v_denoiser(0.5), schedule, (4000, 1), sampler="ddpm", steps=10, x_T=torch.zeros(4000, 1),
                   generator=1, variance="learned", outputs_variance=True)
    step = next(iter(steps))
    # From x_T = 0 the mean is 0, so x's spread is √Σ with Σ = √(β' β̃') of the first respaced step.
    expected = math.sqrt(respaced.betas[-1].item() * respaced.posterior_variance[-1].item())
    assert step.x.std().item() == pytest.approx(math.sqrt(expected), rel=0.05)
