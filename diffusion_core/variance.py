"""A learned reverse-process variance and the variational bound that trains it (Improved DDPM).

Nichol & Dhariwal (2021), section 3.1: the network outputs, beside its prediction, a
vector v per dimension, and the reverse step's variance interpolates in the log domain
between the two natural choices, the posterior variance β̃_t and the forward β_t (eq. 15):

    Σ_θ(x_t, t) = exp(v log β_t + (1 - v) log β̃_t)

v is not constrained; the bounds are where a trained v lands, not a clamp. β̃_0 = 0, so
log β̃ is clipped at t = 0 to log β̃_1, as their code does. The variance is trained by
L_vlb, whose term at t > 0 is the KL divergence between the true posterior
q(x_{t-1} | x_t, x_0) = N(μ̃_t, β̃_t) and the model's N(μ_θ, Σ_θ) (eq. 5), and at t = 0 the
negative log-likelihood of x_0; with the mean's gradient stopped, L_hybrid = L_simple +
λ L_vlb (eq. 16, λ = 0.001) leaves the mean to L_simple and the variance to L_vlb.
"""

from __future__ import annotations

import math

import torch

from .schedules import NoiseSchedule, broadcast

VLB_WEIGHT = 0.001  # λ of L_hybrid (Improved DDPM, section 3.1)


def posterior_log_variance_clipped(schedule: NoiseSchedule) -> torch.Tensor:
    """log β̃_t for every entry of `schedule`, with t = 0's (where β̃ = 0) replaced by the next one's,
    computed in float64 and cast to the schedule's dtype; a one-step schedule uses log β_0."""
    betas = schedule.betas.double()
    variance = schedule.posterior_variance.double()
    if len(variance) == 1:
        return betas.log().to(schedule.dtype)
    return torch.cat([variance[1:2], variance[1:]]).log().to(schedule.dtype)


def interpolated_log_variance(v: torch.Tensor, log_beta, log_beta_tilde) -> torch.Tensor:
    """log Σ_θ = v log β_t + (1 - v) log β̃_t (Improved DDPM eq. 15); the logs broadcast against v."""
    return v * log_beta + (1.0 - v) * log_beta_tilde


def gaussian_kl(mean_1, log_var_1, mean_2, log_var_2) -> torch.Tensor:
    """KL(N(mean_1, e^log_var_1) ‖ N(mean_2, e^log_var_2)) per element, in nats:
    ½ (log σ₂² − log σ₁² + (σ₁² + (μ₁ − μ₂)²) / σ₂² − 1)."""
    return 0.5 * (log_var_2 - log_var_1 + (log_var_1.exp() + (mean_1 - mean_2).square()) / log_var_2.exp() - 1.0)


def gaussian_nll(x, mean, log_var) -> torch.Tensor:
    """−log N(x; mean, e^log_var) per element, in nats (the continuous decoder of L_0 for points)."""
    return 0.5 * (math.log(2 * math.pi) + log_var + (x - mean).square() / log_var.exp())


def vlb_terms(
    schedule: NoiseSchedule,
    x0: torch.Tensor,
    x_t: torch.Tensor,
    t: torch.Tensor,
    model_mean: torch.Tensor,
    model_log_var: torch.Tensor,
) -> torch.Tensor:
    """The variational bound's term of each row, in bits per dimension (B,): at t > 0 the KL of
    q(x_{t-1} | x_t, x_0) from N(model_mean, e^model_log_var), at t = 0 the NLL of x0 under it."""
    true_mean, _ = schedule.q_posterior(x0, x_t, t)
    # log β̃_t itself at t > 0 (the clipping only touches t = 0, whose term is the NLL instead).
    true_log_var = broadcast(posterior_log_variance_clipped(schedule)[t], x_t)
    kl = gaussian_kl(true_mean, true_log_var, model_mean, model_log_var)
    nll = gaussian_nll(x0, model_mean, model_log_var)
    dims = tuple(range(1, x0.dim()))
    per_row = torch.where(broadcast(t, x_t) == 0, nll, kl).mean(dim=dims)
    return per_row / math.log(2.0)
