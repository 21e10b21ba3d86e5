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


MAX_RUNS = 8  # batches with more runs of equal (t, label) rows are modulated row by row


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

    def modulation(self, t: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """Every layer's (shift, 1 + scale) for each row of (t, labels): (B, layers, 2, hidden)."""
        film = self.film(nn.functional.silu(self.condition(t, labels)))
        film = film.reshape(len(film), len(self.layers), 2, self.config.hidden)
        return film + torch.tensor([0.0, 1.0], dtype=film.dtype, device=film.device)[:, None]

    def trunk(self, x_t: torch.Tensor, film: torch.Tensor) -> torch.Tensor:
        """The MLP on x_t (B, D) under `film` (B or 1, layers, 2, hidden): h ← h + SiLU(W h · (1 + scale) + shift)."""
        h = nn.functional.silu(self.input(self.features(x_t)))
        inference = not torch.is_grad_enabled()
        for i, layer in enumerate(self.layers):
            shift, scale = film[:, i, 0], film[:, i, 1]
            if inference and len(film) == 1:
                # One (t, label) for every row, as in a sampler's batch: fold the modulation into
                # the layer, (W h + b)·s + c = (s ⊙ W) h + (b·s + c), a 48×48 product instead of a
                # pass over all the rows.
                z = torch.addmm(torch.addcmul(shift[0], layer.bias, scale[0]), h, (layer.weight * scale[0, :, None]).T)
            else:
                z = torch.addcmul(shift, layer(h), scale)
            # In place when no gradient is needed: two fewer temporaries per layer for the sampler.
            h = h.add_(nn.functional.silu(z, inplace=True)) if inference else h + nn.functional.silu(z)
        return self.output(h)

    def forward(self, x_t: torch.Tensor, t: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        if labels is None:
            labels = torch.full_like(t, -1)
        labels = torch.where(labels < 0, torch.full_like(labels, self.null_label), labels)
        # A sampler's batch is a few runs of rows sharing one (t, label): the conditional rows,
        # then the unconditional ones under guidance. Each run's FiLM is computed once and
        # broadcast over its rows; a training batch (a fresh t per row) is modulated row by row.
        changes = torch.nonzero((t[1:] != t[:-1]) | (labels[1:] != labels[:-1])).flatten() + 1
        if len(changes) >= MAX_RUNS or len(t) == 0:
            return self.trunk(x_t, self.modulation(t, labels))
        starts = torch.cat([changes.new_zeros(1), changes])
        film = self.modulation(t[starts], labels[starts])
        bounds = [*starts.tolist(), len(t)]
        if len(starts) == 1:
            return self.trunk(x_t, film)
        return torch.cat([self.trunk(x_t[a:b], film[r : r + 1]) for r, (a, b) in enumerate(zip(bounds, bounds[1:]))])
