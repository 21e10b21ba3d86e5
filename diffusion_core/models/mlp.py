"""A FiLM-conditioned MLP denoiser for low-dimensional points: model(x_t, t, labels) → prediction.

The timestep's sinusoidal embedding plus a learned label embedding (with one extra
null label for the unconditional model, used for classifier-free guidance) make a
conditioning vector c; every hidden layer is modulated as h ← h · (1 + scale(c)) + shift(c)
(FiLM, Perez et al. 2018; the shift/scale fusion of seed 000).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
from torch import nn

from ..parameterization import PREDICTION_TYPES
from .embeddings import FourierFeatures, SinusoidalTimeEmbedding


@dataclass(frozen=True)
class MLPConfig:
    """Everything that rebuilds a `FiLMMLP`; saved as the `model` entry of config.json."""

    data_dim: int = 2
    num_classes: int = 2
    hidden: int = 128
    num_layers: int = 3
    time_dim: int = 64
    cond_dim: int = 128
    fourier_bands: int = 0
    fourier_extent: float = 4.0
    prediction: str = "epsilon"

    def __post_init__(self):
        for name in ("data_dim", "num_classes", "hidden", "num_layers", "cond_dim"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"model config {name} must be a positive integer, got {value!r}")
        if not isinstance(self.fourier_bands, int) or self.fourier_bands < 0:
            raise ValueError(f"model config fourier_bands must be an integer >= 0, got {self.fourier_bands!r}")
        if self.prediction not in PREDICTION_TYPES:
            raise ValueError(
                f"model config prediction {self.prediction!r} is not one of {', '.join(PREDICTION_TYPES)}"
            )

    @property
    def sample_shape(self) -> tuple[int, ...]:
        return (self.data_dim,)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict) -> MLPConfig:
        known = set(cls.__dataclass_fields__)
        unknown = sorted(set(values) - known)
        if unknown:
            raise ValueError(f"unknown model config keys {unknown}; allowed: {sorted(known)}")
        return cls(**values)


class FiLMMLP(nn.Module):
    """x_t: (B, D), t: (B,) long, labels: (B,) long with -1 = unconditional, or None → (B, D)."""

    def __init__(self, config: MLPConfig):
        super().__init__()
        self.config = config
        self.null_label = config.num_classes
        self.features = FourierFeatures(config.fourier_bands, config.fourier_extent)
        self.time_embedding = SinusoidalTimeEmbedding(config.time_dim)
        self.label_embedding = nn.Embedding(config.num_classes + 1, config.cond_dim)
        self.cond_mlp = nn.Sequential(
            nn.Linear(config.time_dim, config.cond_dim), nn.SiLU(), nn.Linear(config.cond_dim, config.cond_dim)
        )
        self.input = nn.Linear(self.features.out_dim(config.data_dim), config.hidden)
        self.layers = nn.ModuleList(nn.Linear(config.hidden, config.hidden) for _ in range(config.num_layers))
        # One shift and one scale per hidden unit of every layer, from c in a single matmul.
        self.film = nn.Linear(config.cond_dim, 2 * config.hidden * config.num_layers)
        self.output = nn.Linear(config.hidden, config.data_dim)
        nn.init.zeros_(self.film.weight)
        nn.init.zeros_(self.film.bias)

    def condition(self, t: torch.Tensor, labels: torch.Tensor | None) -> torch.Tensor:
        """c = MLP(emb(t)) + E[label], with label -1 (or None) mapped to the null label."""
        if labels is None:
            labels = torch.full_like(t, -1)
        labels = torch.where(labels < 0, torch.full_like(labels, self.null_label), labels)
        return self.cond_mlp(self.time_embedding(t)) + self.label_embedding(labels)

    def modulation(self, t: torch.Tensor, labels: torch.Tensor | None) -> torch.Tensor:
        """Every layer's (shift, scale), (B, 2·hidden·layers), computed once per distinct (t, label) pair.

        A sampler calls the model with one t and at most a few labels per batch, so this
        turns B conditioning passes into a handful.
        """
        if labels is None:
            labels = torch.full_like(t, -1)
        key = t * (self.null_label + 2) + labels + 1
        unique, inverse = torch.unique(key, return_inverse=True)
        if len(unique) * 2 > len(key):
            return self.film(nn.functional.silu(self.condition(t, labels)))
        first = torch.zeros_like(unique).scatter_(0, inverse, torch.arange(len(key), device=key.device))
        return self.film(nn.functional.silu(self.condition(t[first], labels[first])))[inverse]

    def forward(self, x_t: torch.Tensor, t: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        shifts_scales = self.modulation(t, labels).chunk(2 * len(self.layers), dim=-1)
        h = nn.functional.silu(self.input(self.features(x_t)))
        for i, layer in enumerate(self.layers):
            shift, scale = shifts_scales[2 * i], shifts_scales[2 * i + 1]
            h = h + nn.functional.silu(layer(h) * (1.0 + scale) + shift)
        return self.output(h)
