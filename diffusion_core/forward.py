"""The forward process q(x_t | x_0): data dissolving into noise, in closed form, and its schedule's curves.

q(x_t | x_0) = N(√ᾱ_t x_0, (1-ᾱ_t) I) (DDPM eq. 4), so any x_t is one draw away from x_0,
with no chain to run: x_t = √ᾱ_t x_0 + √(1-ᾱ_t) ε. `forward_frames` keeps one ε per point
for every t, so each point travels smoothly from its data position to its own noise; every
frame is still an exact draw of q(x_t | x_0) (the frames are not a Markov chain's path, which
would need fresh noise at each step, but each marginal is right). `schedule_curves` gives the
three numbers that tell schedules apart: ᾱ_t (how much signal is left), β_t (how much noise
each step adds) and the log-SNR log(ᾱ_t / (1-ᾱ_t)).
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import torch

from .schedules import NoiseSchedule


def forward_timesteps(num_train_steps: int, frames: int) -> list[int]:
    """`frames` timesteps from 0 to T-1, evenly spread and ascending (fewer if T is smaller)."""
    if num_train_steps < 1 or frames < 1:
        raise ValueError(f"need T >= 1 and frames >= 1, got {num_train_steps} and {frames}")
    return sorted({int(t) for t in np.linspace(0, num_train_steps - 1, min(frames, num_train_steps)).round()})


def forward_frames(
    x0: torch.Tensor, schedule: NoiseSchedule, timesteps: list[int], generator: torch.Generator
) -> Iterator[tuple[int, torch.Tensor]]:
    """(t, x_t) for each timestep: x_t = √ᾱ_t x_0 + √(1-ᾱ_t) ε with one ε (drawn once from `generator`)."""
    noise = torch.randn(x0.shape, generator=generator, dtype=torch.float64)
    alphas_cumprod = schedule.alphas_cumprod_float64()
    x0 = x0.double().cpu()
    for t in timesteps:
        if not 0 <= t < schedule.num_train_steps:
            raise ValueError(f"timestep {t} is outside 0..{schedule.num_train_steps - 1}")
        ab = float(alphas_cumprod[t])
        yield t, (ab**0.5 * x0 + (1.0 - ab) ** 0.5 * noise).float()


def schedule_curves(schedule: NoiseSchedule) -> dict[str, np.ndarray]:
    """ᾱ_t, β_t and log-SNR_t = log(ᾱ_t / (1-ᾱ_t)) for t = 0..T-1, in float64."""
    alphas_cumprod = schedule.alphas_cumprod_float64().numpy()
    return {
        "alpha_bar": alphas_cumprod,
        "beta": schedule.betas.double().cpu().numpy(),
        "log_snr": np.log(alphas_cumprod) - np.log1p(-alphas_cumprod),
    }
