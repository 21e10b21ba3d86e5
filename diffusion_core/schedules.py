"""Noise schedules: the forward process q(x_t | x_0) and its posterior q(x_{t-1} | x_t, x_0).

Every quantity is derived once in float64 from the betas and then cast to the
working dtype and device, so long products such as ᾱ_t = ∏ (1 - β_s) keep their
precision even when the model runs in float32 or on a GPU.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch

BETA_SCHEDULES = ("linear", "cosine", "sigmoid")

# DDPM's range (Ho et al. 2020, section 4), shared by the linear and sigmoid schedules.
DEFAULT_BETA_START = 1e-4
DEFAULT_BETA_END = 0.02


def make_betas(
    kind: str,
    num_steps: int,
    beta_start: float = DEFAULT_BETA_START,
    beta_end: float = DEFAULT_BETA_END,
) -> torch.Tensor:
    """The betas β_1..β_T of a named schedule, as a float64 tensor of length `num_steps`.

    - linear: β evenly spaced from `beta_start` to `beta_end` (DDPM).
    - cosine: ᾱ_t = f(t)/f(0) with f(t) = cos²((t/T + s)/(1 + s) · π/2), s = 0.008,
      β_t = 1 - ᾱ_t/ᾱ_{t-1} capped at 0.999 (Improved DDPM, eq. 17).
    - sigmoid: sigmoid(linspace(-6, 6, T)) scaled into [beta_start, beta_end] ('Diffusion model from scratch').
    """
    if kind not in BETA_SCHEDULES:
        raise ValueError(f"unknown beta schedule {kind!r}; choose one of {', '.join(BETA_SCHEDULES)}")
    if not isinstance(num_steps, int) or num_steps < 2:
        raise ValueError(f"num_steps must be an integer >= 2, got {num_steps!r}")
    if kind != "cosine" and not 0.0 < beta_start <= beta_end < 1.0:
        raise ValueError(
            f"need 0 < beta_start <= beta_end < 1, got beta_start={beta_start}, beta_end={beta_end}"
        )
    if kind == "linear":
        return torch.linspace(beta_start, beta_end, num_steps, dtype=torch.float64)
    if kind == "sigmoid":
        ramp = torch.sigmoid(torch.linspace(-6.0, 6.0, num_steps, dtype=torch.float64))
        return ramp * (beta_end - beta_start) + beta_start
    s = 0.008
    steps = torch.arange(num_steps + 1, dtype=torch.float64) / num_steps
    f = torch.cos((steps + s) / (1 + s) * math.pi / 2) ** 2
    return (1 - f[1:] / f[:-1]).clamp(max=0.999)


@dataclass(frozen=True, eq=False)
class NoiseSchedule:
    """A discrete diffusion schedule and everything the samplers read from it.

    Indexing follows diffusers: entry i is timestep i (0-based), and `timesteps[i]`
    is the training timestep the model is called with at entry i. A respaced
    schedule (see `respace`) keeps a subset of the training timesteps.

    Attributes, 1-D tensors of length `len(schedule)`:
        betas                   β_t
        alphas                  α_t = 1 - β_t
        alphas_cumprod          ᾱ_t = ∏_{s<=t} α_s
        alphas_cumprod_prev     ᾱ_{t-1}, with ᾱ_{-1} = 1
        sqrt_alphas_cumprod     √ᾱ_t
        sqrt_one_minus_alphas_cumprod  √(1 - ᾱ_t)
        posterior_variance      β̃_t = β_t (1 - ᾱ_{t-1}) / (1 - ᾱ_t)     (DDPM eq. 7)
        posterior_mean_coef1    √ᾱ_{t-1} β_t / (1 - ᾱ_t)              (coefficient of x_0)
        posterior_mean_coef2    √α_t (1 - ᾱ_{t-1}) / (1 - ᾱ_t)         (coefficient of x_t)
    """

    kind: str
    num_train_steps: int
    beta_start: float
    beta_end: float
    timesteps: torch.Tensor  # long, the training timestep of each entry
    betas: torch.Tensor
    alphas: torch.Tensor = field(init=False)
    alphas_cumprod: torch.Tensor = field(init=False)
    alphas_cumprod_prev: torch.Tensor = field(init=False)
    sqrt_alphas_cumprod: torch.Tensor = field(init=False)
    sqrt_one_minus_alphas_cumprod: torch.Tensor = field(init=False)
    posterior_variance: torch.Tensor = field(init=False)
    posterior_mean_coef1: torch.Tensor = field(init=False)
    posterior_mean_coef2: torch.Tensor = field(init=False)

    @classmethod
    def create(
        cls,
        kind: str,
        num_steps: int = 1000,
        beta_start: float = DEFAULT_BETA_START,
        beta_end: float = DEFAULT_BETA_END,
        *,
        dtype: torch.dtype = torch.float32,
        device: torch.device | str | None = None,
    ) -> NoiseSchedule:
        """Build a named schedule (`linear`, `cosine` or `sigmoid`) with `num_steps` ≥ 2 steps."""
        betas = make_betas(kind, num_steps, beta_start, beta_end)
        return cls._build(kind, num_steps, beta_start, beta_end, torch.arange(num_steps), betas, dtype, device)

    @classmethod
    def _build(cls, kind, num_train_steps, beta_start, beta_end, timesteps, betas64, dtype, device):
        schedule = cls(kind, num_train_steps, beta_start, beta_end, timesteps.to(device), betas64)
        alphas = 1.0 - betas64
        alphas_cumprod = torch.cumprod(alphas, dim=0)
        alphas_cumprod_prev = torch.cat([alphas_cumprod.new_ones(1), alphas_cumprod[:-1]])
        derived = {
            "betas": betas64,
            "alphas": alphas,
            "alphas_cumprod": alphas_cumprod,
            "alphas_cumprod_prev": alphas_cumprod_prev,
            "sqrt_alphas_cumprod": alphas_cumprod.sqrt(),
            "sqrt_one_minus_alphas_cumprod": (1.0 - alphas_cumprod).sqrt(),
            "posterior_variance": betas64 * (1.0 - alphas_cumprod_prev) / (1.0 - alphas_cumprod),
            "posterior_mean_coef1": betas64 * alphas_cumprod_prev.sqrt() / (1.0 - alphas_cumprod),
            "posterior_mean_coef2": (1.0 - alphas_cumprod_prev) * alphas.sqrt() / (1.0 - alphas_cumprod),
        }
        for name, value in derived.items():
            object.__setattr__(schedule, name, value.to(device=device, dtype=dtype))
        return schedule

    def __len__(self) -> int:
        return len(self.timesteps)

    @property
    def dtype(self) -> torch.dtype:
        return self.betas.dtype

    @property
    def device(self) -> torch.device:
        return self.betas.device

    def config(self) -> dict:
        """The settings that rebuild this (unrespaced) schedule through `create`."""
        return {
            "kind": self.kind,
            "num_steps": self.num_train_steps,
            "beta_start": self.beta_start,
            "beta_end": self.beta_end,
        }

    def alphas_cumprod_float64(self) -> torch.Tensor:
        """ᾱ over the full training schedule, recomputed in float64 on the CPU."""
        betas = make_betas(self.kind, self.num_train_steps, self.beta_start, self.beta_end)
        return torch.cumprod(1.0 - betas, dim=0)

    def to(self, device: torch.device | str | None = None, dtype: torch.dtype | None = None) -> NoiseSchedule:
        """The same schedule on another device or dtype, recast from float64."""
        return self.respace(self.timesteps.cpu(), device=device or self.device, dtype=dtype or self.dtype)

    def respace(
        self,
        timesteps,
        *,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> NoiseSchedule:
        """Keep only `timesteps` (ascending or descending training timesteps).

        Improved DDPM's respacing (Nichol & Dhariwal 2021, section 4): the kept steps
        keep their ᾱ, and β'_i = 1 - ᾱ_{t_i} / ᾱ_{t_{i-1}} is recomputed between
        neighbours, so the forward marginals at the kept steps are unchanged.
        """
        kept = torch.as_tensor(timesteps, dtype=torch.long).flatten().sort().values
        if len(kept) == 0 or kept[0] < 0 or kept[-1] >= self.num_train_steps or kept.unique().numel() != len(kept):
            raise ValueError(
                f"timesteps must be distinct integers in [0, {self.num_train_steps - 1}], got {kept.tolist()}"
            )
        alphas_cumprod = self.alphas_cumprod_float64()[kept]
        previous = torch.cat([alphas_cumprod.new_ones(1), alphas_cumprod[:-1]])
        betas = 1.0 - alphas_cumprod / previous
        return NoiseSchedule._build(
            self.kind,
            self.num_train_steps,
            self.beta_start,
            self.beta_end,
            kept,
            betas,
            dtype or self.dtype,
            device or self.device,
        )

    def q_sample(self, x0: torch.Tensor, t: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
        """Draw x_t ~ q(x_t | x_0) = N(√ᾱ_t x_0, (1 - ᾱ_t) I) given the noise (DDPM eq. 4).

        x0, noise: (B, ...); t: (B,) long indices into this schedule.
        """
        return (
            broadcast(self.sqrt_alphas_cumprod[t], x0) * x0
            + broadcast(self.sqrt_one_minus_alphas_cumprod[t], x0) * noise
        )

    def q_posterior(self, x0: torch.Tensor, x_t: torch.Tensor, t: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Mean and variance of q(x_{t-1} | x_t, x_0) (DDPM eq. 6-7); variance shaped (B, 1, ...)."""
        mean = broadcast(self.posterior_mean_coef1[t], x_t) * x0 + broadcast(self.posterior_mean_coef2[t], x_t) * x_t
        return mean, broadcast(self.posterior_variance[t], x_t)


def broadcast(values: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """Reshape per-sample values (B,) to (B, 1, ..., 1) so they broadcast against `like`."""
    return values.reshape(values.shape + (1,) * (like.dim() - values.dim()))
