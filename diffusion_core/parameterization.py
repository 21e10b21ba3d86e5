"""What the network predicts, the one place that converts it to (x̂0, ε̂) and the score, and the guidance mix.

With x_t = √ᾱ x_0 + √(1-ᾱ) ε, a network may predict
    epsilon        ε                                   (DDPM)
    sample         x_0                                 (predicting x0 directly)
    v_prediction   v = √ᾱ ε - √(1-ᾱ) x_0               (Salimans & Ho 2022)
and each determines the other two given x_t. Coefficients may be floats or tensors
that broadcast against x_t (e.g. shaped (B, 1, ...)).
"""

from __future__ import annotations

import torch

PREDICTION_TYPES = ("epsilon", "sample", "v_prediction")


def check_prediction(prediction: str) -> str:
    if prediction not in PREDICTION_TYPES:
        raise ValueError(f"unknown prediction type {prediction!r}; choose one of {', '.join(PREDICTION_TYPES)}")
    return prediction


def x0_from_eps(x_t: torch.Tensor, eps: torch.Tensor, sqrt_ab, sqrt_1m_ab) -> torch.Tensor:
    """x̂0 = (x_t - √(1-ᾱ) ε̂) / √ᾱ  (DDPM eq. 4 solved for x_0; DDIM eq. 9)."""
    return (x_t - sqrt_1m_ab * eps) / sqrt_ab


def eps_from_x0(x_t: torch.Tensor, x0: torch.Tensor, sqrt_ab, sqrt_1m_ab) -> torch.Tensor:
    """ε̂ = (x_t - √ᾱ x̂0) / √(1-ᾱ)."""
    return (x_t - sqrt_ab * x0) / sqrt_1m_ab


def to_x0_eps(
    model_output: torch.Tensor,
    x_t: torch.Tensor,
    sqrt_ab,
    sqrt_1m_ab,
    prediction: str,
    clip_range: tuple[float, float] | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Convert a model output of type `prediction` into (x̂0, ε̂).

    With `clip_range`, x̂0 is clamped to it and ε̂ is re-derived from the clamped
    x̂0, so the pair stays consistent with x_t (guided-diffusion's `clip_denoised`;
    diffusers' `use_clipped_model_output=True`).
    """
    if prediction == "epsilon":
        eps = model_output
        x0 = x0_from_eps(x_t, eps, sqrt_ab, sqrt_1m_ab)
    elif prediction == "sample":
        x0 = model_output
        eps = eps_from_x0(x_t, x0, sqrt_ab, sqrt_1m_ab)
    else:
        # From v = √ᾱ ε - √(1-ᾱ) x_0 and x_t = √ᾱ x_0 + √(1-ᾱ) ε, using ᾱ + (1-ᾱ) = 1.
        x0 = sqrt_ab * x_t - sqrt_1m_ab * model_output
        eps = sqrt_1m_ab * x_t + sqrt_ab * model_output
    if clip_range is not None:
        x0 = x0.clamp(*clip_range)
        eps = eps_from_x0(x_t, x0, sqrt_ab, sqrt_1m_ab)
    return x0, eps


def prediction_target(prediction: str, x0: torch.Tensor, eps: torch.Tensor, sqrt_ab, sqrt_1m_ab) -> torch.Tensor:
    """The regression target a network of type `prediction` is trained on."""
    if prediction == "epsilon":
        return eps
    if prediction == "sample":
        return x0
    return sqrt_ab * eps - sqrt_1m_ab * x0


def score_from_eps(eps: torch.Tensor, sqrt_1m_ab) -> torch.Tensor:
    """∇_x log p_t(x) ≈ -ε̂ / √(1-ᾱ_t)  (the score of the noised marginal)."""
    return -eps / sqrt_1m_ab


def eps_from_score(score: torch.Tensor, sqrt_1m_ab) -> torch.Tensor:
    """Inverse of `score_from_eps`: ε = -√(1-ᾱ_t) ∇_x log p_t(x)."""
    return -sqrt_1m_ab * score


def classifier_free_guidance(conditional: torch.Tensor, unconditional: torch.Tensor, guidance: float) -> torch.Tensor:
    """ε̃ = (1 + w) ε̂(x_t, c) − w ε̂(x_t, ∅)  (Ho & Salimans 2022, eq. 6).

    Every prediction type, and the score, is affine in ε̂ given the same x_t and t, so
    the same mix of two raw model outputs (or two scores) guides ε̂ exactly.
    """
    return torch.lerp(unconditional, conditional, 1.0 + guidance)
