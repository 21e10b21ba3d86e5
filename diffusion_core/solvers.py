"""The samplers beyond the seeds: DPM-Solver++(2M), Heun and Euler ancestral, as update rules.

Each rule takes the step's x_t, the model's (x̂0, ε̂) there (guided and clipped as `sample`
made them) and the respaced ᾱ of this step and the next, and returns x at the next step.
They read the variance-preserving process in two other coordinates:

- σ-space (Karras et al. 2022): x̃ = x_t / √ᾱ_t = x_0 + σ ε with σ_t = √((1-ᾱ_t)/ᾱ_t), where
  the probability-flow ODE is dx̃/dσ = ε̂(x̃, σ). Heun and Euler ancestral step along σ;
  DDIM with η = 0 is exactly Euler's method on this ODE.
- log-SNR λ_t = log(√ᾱ_t / √(1-ᾱ_t)) (Lu et al. 2022), where the ODE's linear part
  integrates exactly and DPM-Solver++ approximates only the data prediction x̂0 over λ.

The last step ends at ᾱ = 1 (σ = 0, λ = ∞), where every rule returns x̂0, first order.
Written in x_t itself (x̃ = x̂0 + σ ε̂, exactly, for the consistent pair `to_x0_eps` returns),
so no update subtracts two numbers of size σ_max ≈ 10²–10⁴.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch

# Heun's trapezoid averages the slopes ε̂ at σ and σ_next. From a very large σ (the first step of a
# schedule that ends near ᾱ = 0: σ_max ≈ 157 for the linear schedule, 2·10⁴ for the cosine) the
# slope is nearly constant except close to σ_next, where the average misjudges it by a share that
# the step's length (≈ σ_max) multiplies; in that linear regime Euler's step is exact. So a step
# from σ above this bound (Karras et al.'s σ_max) is left as Euler's, as diffusers' first order
# stage computes it.
HEUN_MAX_SIGMA = 80.0

DenoiseAt = Callable[[torch.Tensor], "tuple[torch.Tensor, torch.Tensor]"]


def karras_sigma(alpha_cumprod: float) -> float:
    """σ = √((1-ᾱ)/ᾱ): the noise level of x̃ = x_t / √ᾱ."""
    return math.sqrt((1.0 - alpha_cumprod) / alpha_cumprod)


def log_snr(alpha_cumprod: float) -> float:
    """λ = log(√ᾱ / √(1-ᾱ)) = -log σ."""
    return 0.5 * (math.log(alpha_cumprod) - math.log1p(-alpha_cumprod))


class DPMSolverPP2M:
    """DPM-Solver++(2M) (Lu et al. 2022, Algorithm 2), one instance per trajectory.

    With h = λ_next - λ_t the first-order step is x_next = (σ_next/σ_t) x_t + α_next (1 - e^{-h}) D
    for D = x̂0 (DDIM in other words). The multistep second order replaces D by
    (1 + 1/(2r)) x̂0_t - 1/(2r) x̂0_prev with r = h_prev / h, the previous step's data prediction
    extrapolated along λ. First order on the first step (no previous) and on the last, to σ = 0.
    """

    def __init__(self):
        self.previous: tuple[torch.Tensor, float] | None = None  # (x̂0, h) of the last step

    def step(self, x: torch.Tensor, x0: torch.Tensor, ab: float, ab_next: float) -> torch.Tensor:
        if ab_next >= 1.0:
            return x0
        h = log_snr(ab_next) - log_snr(ab)
        data = x0
        if self.previous is not None:
            x0_prev, h_prev = self.previous
            half_over_r = 0.5 * h / h_prev
            data = (1.0 + half_over_r) * x0 - half_over_r * x0_prev
        self.previous = (x0, h)
        ratio = math.sqrt((1.0 - ab_next) / (1.0 - ab))  # σ_next / σ_t of the VP process
        return ratio * x + math.sqrt(ab_next) * -math.expm1(-h) * data


def heun_corrects(alpha_cumprod: float) -> bool:
    """Whether Heun's step from this noise level makes its second model call (σ ≤ HEUN_MAX_SIGMA)."""
    return karras_sigma(alpha_cumprod) <= HEUN_MAX_SIGMA


def heun_step(
    x: torch.Tensor, x0: torch.Tensor, eps: torch.Tensor, ab: float, ab_next: float, denoise_next: DenoiseAt
) -> tuple[torch.Tensor, bool]:
    """Heun's method on the probability-flow ODE in σ-space (Karras et al. 2022, Algorithm 1, deterministic).

    Euler to σ_next gives x̃' = x̂0 + σ_next ε̂ (DDIM's step); then the slope ε̂' at (x̃', σ_next) and
    x̃_next = x̃ + (σ_next - σ)(ε̂ + ε̂')/2. Returns x at the next step and whether the second model
    call was made (not on the last step, to σ = 0, nor from σ above HEUN_MAX_SIGMA).
    """
    if ab_next >= 1.0:
        return x0, False
    alpha_next = math.sqrt(ab_next)
    sigma, sigma_next = karras_sigma(ab), karras_sigma(ab_next)
    euler = alpha_next * x0 + math.sqrt(1.0 - ab_next) * eps
    if not heun_corrects(ab):
        return euler, False
    _, eps_next = denoise_next(euler)
    # x̃ = x̂0 + σ ε̂, so x̃_next = x̂0 + σ ε̂ + (σ_next - σ)(ε̂ + ε̂')/2, in x_next = √ᾱ_next x̃_next.
    return alpha_next * (x0 + sigma * eps + (0.5 * (sigma_next - sigma)) * (eps + eps_next)), True


def euler_ancestral_step(
    x0: torch.Tensor, eps: torch.Tensor, ab: float, ab_next: float, noise: Callable[[], torch.Tensor]
) -> torch.Tensor:
    """The stochastic Euler step (k-diffusion's `sample_euler_ancestral`, η = 1).

    The step to σ_next splits into a deterministic Euler step down to
    σ_down = √(σ_next² - σ_up²) and fresh noise of σ_up = σ_next √(1 - σ_next²/σ²), so the
    marginal noise level at σ_next is right: x̃_next = x̂0 + σ_down ε̂ + σ_up z.
    """
    if ab_next >= 1.0:
        return x0
    sigma, sigma_next = karras_sigma(ab), karras_sigma(ab_next)
    sigma_up = min(sigma_next, math.sqrt(max(sigma_next**2 * (sigma**2 - sigma_next**2) / sigma**2, 0.0)))
    sigma_down = math.sqrt(max(sigma_next**2 - sigma_up**2, 0.0))
    alpha_next = math.sqrt(ab_next)
    return alpha_next * (x0 + sigma_down * eps) + (alpha_next * sigma_up) * noise()
