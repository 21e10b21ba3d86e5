"""Embeddings shared by the denoisers: sinusoidal timestep features, Fourier input features, the null label."""

from __future__ import annotations

import math

import torch
from torch import nn


class SinusoidalTimeEmbedding(nn.Module):
    """Transformer position features of the timestep (Vaswani et al. 2017, section 3.5), as DDPM uses them.

    emb(t) = [sin(t ω_k), cos(t ω_k)], ω_k = 10000^(-k/(d/2 - 1)), k = 0..d/2-1.
    t: (B,) → (B, dim).
    """

    def __init__(self, dim: int):
        super().__init__()
        if dim < 4 or dim % 2:
            raise ValueError(f"time embedding dim must be an even integer >= 4, got {dim!r}")
        half = dim // 2
        frequencies = torch.exp(-math.log(10000.0) * torch.arange(half, dtype=torch.float32) / (half - 1))
        self.register_buffer("frequencies", frequencies, persistent=False)

    def forward(self, t: torch.Tensor) -> torch.Tensor:
        angles = t.float()[:, None] * self.frequencies[None, :]
        return torch.cat([angles.sin(), angles.cos()], dim=-1)


class FourierFeatures(nn.Module):
    """Input features [x, sin(2^k π x / R), cos(2^k π x / R)] for k < num_bands (NeRF-style, fixed).

    They let a small MLP draw thin curves; x: (B, D) → (B, D (1 + 2 num_bands)).
    """

    def __init__(self, num_bands: int, extent: float = 4.0):
        super().__init__()
        self.num_bands = num_bands
        frequencies = math.pi / extent * 2.0 ** torch.arange(num_bands, dtype=torch.float32)
        self.register_buffer("frequencies", frequencies, persistent=False)

    def out_dim(self, in_dim: int) -> int:
        return in_dim * (1 + 2 * self.num_bands)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.num_bands == 0:
            return x
        angles = (x[:, :, None] * self.frequencies).flatten(1)
        return torch.cat([x, angles.sin(), angles.cos()], dim=-1)


def with_null_label(labels: torch.Tensor | None, t: torch.Tensor, null_label: int) -> torch.Tensor:
    """Class labels (B,) with -1, or every row when labels is None, mapped to `null_label`: the row
    index of the label embedding that the unconditional model of classifier-free guidance reads."""
    if labels is None:
        return torch.full_like(t, null_label)
    return torch.where(labels < 0, torch.full_like(labels, null_label), labels)
