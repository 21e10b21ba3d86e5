"""A Gaussian mixture whose noised marginals have a closed-form ε: an exact denoiser.

If x_0 ~ Σ_k π_k N(μ_k, σ_k² I), then x_t = √ᾱ x_0 + √(1-ᾱ) ε is again a mixture,
Σ_k π_k N(√ᾱ μ_k, v_k I) with v_k = ᾱ σ_k² + 1 - ᾱ, whose score is
Σ_k r_k(x) (√ᾱ μ_k - x) / v_k (r_k the posterior responsibilities), and ε = -√(1-ᾱ)·score.
A sampler driven by this denoiser must reproduce the mixture; any error is the sampler's.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from .schedules import NoiseSchedule


@dataclass(frozen=True, eq=False)
class GaussianMixture:
    """means: (K, D); stds: (K,) isotropic standard deviations; weights: (K,) summing to 1;
    classes: (K,) the class label each component belongs to."""

    means: torch.Tensor
    stds: torch.Tensor
    weights: torch.Tensor
    classes: torch.Tensor

    def sample(self, n: int, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        """n points (n, D) and their class labels (n,)."""
        component = torch.multinomial(self.weights.double(), n, replacement=True, generator=generator)
        noise = torch.randn(n, self.means.shape[1], generator=generator, dtype=torch.float64)
        x = self.means.double()[component] + self.stds.double()[component, None] * noise
        return x.float(), self.classes[component]

    def denoiser(self, schedule: NoiseSchedule):
        """The exact ε-prediction `denoiser(x_t, t, labels)` for `schedule`'s noised marginals."""
        alphas_cumprod = schedule.alphas_cumprod_float64()
        means, variances = self.means.double(), self.stds.double() ** 2
        log_weights = self.weights.double().log()

        def exact_eps(x_t: torch.Tensor, t: torch.Tensor, labels: torch.Tensor | None) -> torch.Tensor:
            x = x_t.double().cpu()
            ab = alphas_cumprod[t.cpu()][:, None]  # (B, 1)
            centres = ab.sqrt()[:, :, None] * means[None]  # (B, K, D)
            v = ab * variances[None] + (1.0 - ab)  # (B, K)
            offsets = x[:, None, :] - centres
            dim = x.shape[1]
            log_r = log_weights[None] - 0.5 * dim * v.log() - 0.5 * (offsets**2).sum(-1) / v
            if labels is not None:
                allowed = (labels.cpu()[:, None] < 0) | (labels.cpu()[:, None] == self.classes[None])
                log_r = log_r.masked_fill(~allowed, float("-inf"))
            r = torch.softmax(log_r, dim=1)
            score = -(r[:, :, None] * offsets / v[:, :, None]).sum(1)
            return (-(1.0 - ab).sqrt() * score).to(device=x_t.device, dtype=x_t.dtype)

        return exact_eps

    def recovery_errors(self, x: torch.Tensor) -> dict[str, float]:
        """How far samples x (n, D) are from the mixture, component by component.

        Each sample is assigned to the nearest component mean; for each component:
        |ŵ - w| / w, ‖μ̂ - μ‖ / ‖μ‖, and |σ̂ - σ| / σ (σ̂ the RMS per-coordinate std).
        Returns the worst of each over components.
        """
        x = x.double().cpu()
        means = self.means.double()
        nearest = torch.cdist(x, means).argmin(1)
        errors = {"weight": 0.0, "mean": 0.0, "std": 0.0}
        for k in range(len(means)):
            members = x[nearest == k]
            weight = len(members) / len(x)
            std = self.stds[k].item()
            errors["weight"] = max(errors["weight"], abs(weight - self.weights[k].item()) / self.weights[k].item())
            if len(members) < 2:
                errors["mean"] = errors["std"] = float("inf")
                continue
            errors["mean"] = max(errors["mean"], ((members.mean(0) - means[k]).norm() / means[k].norm()).item())
            spread = members.var(0).mean().sqrt().item()
            errors["std"] = max(errors["std"], abs(spread - std) / std)
        return errors
