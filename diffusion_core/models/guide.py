"""Noise-aware classifiers p_φ(y | x_t, t): the networks behind classifier guidance.

Dhariwal & Nichol (2021), section 4: a classifier trained on noised samples x_t at every
timestep, whose gradient ∇_x log p_φ(y | x_t) steers a diffusion model toward class y.
The classifier sees t the way the denoisers do (a sinusoidal embedding through an MLP),
and its nonlinearities are smooth (SiLU), since guidance follows its gradient in x.

    PointGuide  (B, D) points: Fourier features of x, residual layers shifted by t
    ImageGuide  (B, C, H, W) images: the encoder half of the U-Net (AdaGN residual blocks,
                2×2 folding first), pooled to the class logits, as ADM's classifier is

Their training and the gradient live in `diffusion_core.guidance`. Never the project's
judge (`models.classifier`): a generator steered by its own judge would game the score.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

from .configs import ConfigRecord, check_positive_ints
from .embeddings import FourierFeatures, SinusoidalTimeEmbedding
from .unet import ResBlock

GUIDE_KINDS = ("points", "images")


@dataclass(frozen=True)
class GuideConfig(ConfigRecord):
    """Everything that rebuilds a guide; saved as the `model` entry of its config.json.

    kind "points": data_dim, hidden (width), num_layers, fourier_bands;
    kind "images": image_size, image_channels, hidden (first level's width, doubled at the second).
    """

    record_name = "guide config"

    kind: str = "points"
    num_classes: int = 2
    data_dim: int = 2
    image_size: int = 28
    image_channels: int = 1
    hidden: int = 64
    num_layers: int = 3
    time_dim: int = 64
    fourier_bands: int = 4
    fourier_extent: float = 4.0

    def __post_init__(self):
        if self.kind not in GUIDE_KINDS:
            raise ValueError(f"guide config kind {self.kind!r} is not one of {', '.join(GUIDE_KINDS)}")
        check_positive_ints(self, ("num_classes", "data_dim", "image_size", "image_channels", "hidden", "num_layers"),
                            what="guide config")
        if self.num_classes < 2:
            raise ValueError(f"guide config num_classes must be at least 2, got {self.num_classes}")
        if not isinstance(self.time_dim, int) or self.time_dim < 4 or self.time_dim % 2:
            raise ValueError(f"guide config time_dim must be an even integer >= 4, got {self.time_dim!r}")
        if not isinstance(self.fourier_bands, int) or self.fourier_bands < 0:
            raise ValueError(f"guide config fourier_bands must be an integer >= 0, got {self.fourier_bands!r}")
        extent = self.fourier_extent
        if isinstance(extent, bool) or not isinstance(extent, (int, float)) or not math.isfinite(extent) or extent <= 0:
            raise ValueError(f"guide config fourier_extent must be a finite number > 0, got {extent!r}")
        if self.kind == "images" and (self.image_size % 4 or self.hidden % 8):
            raise ValueError("an image guide needs image_size divisible by 4 and hidden divisible by 8, "
                             f"got {self.image_size} and {self.hidden}")

    @property
    def sample_shape(self) -> tuple[int, ...]:
        if self.kind == "points":
            return (self.data_dim,)
        return (self.image_channels, self.image_size, self.image_size)


class PointGuide(nn.Module):
    """x_t: (B, D), t: (B,) long → logits (B, num_classes); every layer h ← h + SiLU(W h + U c(t))."""

    def __init__(self, config: GuideConfig):
        super().__init__()
        self.config = config
        self.features = FourierFeatures(config.fourier_bands, config.fourier_extent)
        self.time = nn.Sequential(SinusoidalTimeEmbedding(config.time_dim), nn.Linear(config.time_dim, config.hidden),
                                  nn.SiLU())
        self.input = nn.Linear(self.features.out_dim(config.data_dim), config.hidden)
        self.layers = nn.ModuleList(nn.Linear(config.hidden, config.hidden) for _ in range(config.num_layers))
        self.time_shifts = nn.Linear(config.hidden, config.hidden * config.num_layers)
        self.output = nn.Linear(config.hidden, config.num_classes)

    def forward(self, x_t: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        c = self.time(t)
        shifts = self.time_shifts(c).chunk(len(self.layers), dim=1)
        h = nn.functional.silu(self.input(self.features(x_t)) + c)
        for layer, shift in zip(self.layers, shifts):
            h = h + nn.functional.silu(layer(h) + shift)
        return self.output(h)


class ImageGuide(nn.Module):
    """x_t: (B, C, H, W), t: (B,) long → logits (B, num_classes).

    Folded 2×2 into channels (H/2), one AdaGN residual block, a strided convolution to H/4
    at twice the width, a second block, then GroupNorm, SiLU and a mean over positions.
    """

    def __init__(self, config: GuideConfig):
        super().__init__()
        self.config = config
        width, groups = config.hidden, 8
        self.time = nn.Sequential(SinusoidalTimeEmbedding(config.time_dim), nn.Linear(config.time_dim, 2 * width),
                                  nn.SiLU())
        self.fold = nn.PixelUnshuffle(2)
        self.stem = nn.Conv2d(4 * config.image_channels, width, 3, padding=1)
        self.block1 = ResBlock(width, width, 2 * width, groups)
        self.down = nn.Conv2d(width, 2 * width, 3, stride=2, padding=1)
        self.block2 = ResBlock(2 * width, 2 * width, 2 * width, groups)
        self.norm = nn.GroupNorm(groups, 2 * width)
        self.output = nn.Linear(2 * width, config.num_classes)

    def forward(self, x_t: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        c = self.time(t)
        h = self.block1(self.stem(self.fold(x_t)), c)
        h = self.block2(self.down(h), c)
        return self.output(nn.functional.silu(self.norm(h)).mean(dim=(2, 3)))


def build_guide(config: GuideConfig) -> PointGuide | ImageGuide:
    """The guide network a config describes."""
    return PointGuide(config) if config.kind == "points" else ImageGuide(config)
