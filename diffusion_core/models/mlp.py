"""A FiLM-conditioned MLP denoiser for low-dimensional points: model(x_t, t, labels) → prediction.

The timestep's sinusoidal embedding plus a learned label embedding (with one extra
null label for the unconditional model, used for classifier-free guidance) make a
conditioning vector c; every hidden layer is modulated as h ← h · (1 + scale(c)) + shift(c)
(FiLM, Perez et al. 2018; the shift/scale fusion of the 'Predicting Error and Score Function' tutorial).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from .configs import ConfigRecord, check_positive_ints, check_prediction_field
from .embeddings import FourierFeatures, SinusoidalTimeEmbedding, with_null_label

# The trunk's nonlinearity, applied to every hidden unit of every point at every step.
# Hardswish (x·relu6(x+3)/6, Howard et al. 2019) follows SiLU's shape without an
# exponential: on the 2-core CPU it costs a quarter of SiLU's time per element.
ACTIVATIONS = {"silu": nn.functional.silu, "hardswish": nn.functional.hardswish}


@dataclass(frozen=True)
class MLPConfig(ConfigRecord):
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
    activation: str = "silu"  # the trunk's; the conditioning path (computed once per t) keeps SiLU
    # Improved DDPM's learned variance: a second output per dimension, v of Σ = exp(v log β + (1-v) log β̃).
    learn_variance: bool = False

    def __post_init__(self):
        check_positive_ints(self, ("data_dim", "num_classes", "hidden", "num_layers", "cond_dim"))
        if not isinstance(self.fourier_bands, int) or self.fourier_bands < 0:
            raise ValueError(f"model config fourier_bands must be an integer >= 0, got {self.fourier_bands!r}")
        if self.activation not in ACTIVATIONS:
            raise ValueError(f"model config activation {self.activation!r} is not one of {', '.join(ACTIVATIONS)}")
        check_prediction_field(self.prediction)
        if not isinstance(self.learn_variance, bool):
            raise ValueError(f"model config learn_variance must be true or false, got {self.learn_variance!r}")

    @property
    def output_dim(self) -> int:
        """The network's outputs per point: the prediction, then v where the variance is learned."""
        return 2 * self.data_dim if self.learn_variance else self.data_dim

    @property
    def sample_shape(self) -> tuple[int, ...]:
        return (self.data_dim,)


MAX_RUNS = 8  # batches with more runs of equal (t, label) rows are modulated row by row
FILM_TABLE_MIN = 1024  # timesteps per label a FiLM table covers at first (grows by doubling)
FILM_TABLE_MAX = 1 << 16  # timesteps at or past this are modulated directly, never tabled


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
        self.output = nn.Linear(config.hidden, config.output_dim)
        self.activation = ACTIVATIONS[config.activation]
        nn.init.zeros_(self.film.weight)
        nn.init.zeros_(self.film.bias)
        if config.learn_variance:  # v starts at 0: Σ = β̃, DDPM's fixed_small, until L_vlb moves it
            nn.init.zeros_(self.output.weight[config.data_dim:])
            nn.init.zeros_(self.output.bias[config.data_dim:])
        # Inference keeps every (t, label)'s modulation, which depends on nothing else: see film_table.
        self._film_tables: dict[int, torch.Tensor] = {}
        self._film_tables_weights: tuple = ()

    def condition(self, t: torch.Tensor, labels: torch.Tensor | None) -> torch.Tensor:
        """c = MLP(emb(t)) + E[label], with label -1 (or None) mapped to the null label."""
        return self.cond_mlp(self.time_embedding(t)) + self.label_embedding(with_null_label(labels, t, self.null_label))

    def modulation(self, t: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """Every layer's (shift, 1 + scale) for each row of (t, labels): (B, layers, 2, hidden)."""
        film = self.film(nn.functional.silu(self.condition(t, labels)))
        film = film.reshape(len(film), len(self.layers), 2, self.config.hidden)
        return film + torch.tensor([0.0, 1.0], dtype=film.dtype, device=film.device)[:, None]

    def trunk(self, x_t: torch.Tensor, film: torch.Tensor) -> torch.Tensor:
        """The MLP on x_t (B, D) under `film` (B or 1, layers, 2, hidden): h ← h + act(W h · (1 + scale) + shift)."""
        act = self.activation
        h = act(self.input(self.features(x_t)))
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
            h = h.add_(act(z, inplace=True)) if inference else h + act(z)
        return self.output(h)

    def film_table(self, label: int, t: int) -> torch.Tensor:
        """`modulation` of timesteps 0, 1, ... (at least up to t) under `label`: (n, layers, 2, hidden).

        A sampler visits one (t, label) per step and a fresh t every step; computing its
        modulation there (a dozen tiny ops) took about 0.35 ms of the 2.3 ms a model call on
        2000 points costs. Under inference the model computes a whole label's table in one
        batch instead and keeps it until its weights change (an optimizer step,
        load_state_dict, .to()).
        """
        first, second = self.cond_mlp[0], self.cond_mlp[2]
        parameters = (self.label_embedding.weight, first.weight, first.bias, second.weight, second.bias,
                      self.film.weight, self.film.bias)  # all that `modulation` reads
        weights = tuple((p.data_ptr(), p._version, p.dtype) for p in parameters)
        if weights != self._film_tables_weights:
            self._film_tables, self._film_tables_weights = {}, weights
        table = self._film_tables.get(label)
        if table is None or t >= len(table):
            steps = torch.arange(max(FILM_TABLE_MIN, 1 << t.bit_length()), device=self.film.weight.device)
            table = self._film_tables[label] = self.modulation(steps, torch.full_like(steps, label))
        return table

    def forward(self, x_t: torch.Tensor, t: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        """The prediction of type `config.prediction`: (B, D)."""
        output = self.prediction_and_variance(x_t, t, labels)
        return output[:, : self.config.data_dim] if self.config.learn_variance else output

    def prediction_and_variance(self, x_t: torch.Tensor, t: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        """Every output: (B, 2D), the prediction then v, where the variance is learned; else as `forward`."""
        if labels is None:
            labels = torch.full_like(t, -1)
        # A sampler's batch is a few runs of rows sharing one (t, label): the conditional rows,
        # then the unconditional ones under guidance. Each run's FiLM is computed once and
        # broadcast over its rows; a training batch (a fresh t per row) is modulated row by row.
        # The runs are found on the host: a dozen tiny tensor ops cost more than the search.
        pairs = torch.stack([t, labels]).cpu().numpy()
        pairs[1, pairs[1] < 0] = self.null_label
        starts = [0, *(np.flatnonzero((pairs[:, 1:] != pairs[:, :-1]).any(axis=0)) + 1).tolist()]
        if len(starts) >= MAX_RUNS or len(t) == 0:
            return self.trunk(x_t, self.modulation(t, labels))
        run_t, run_labels = pairs[0, starts].tolist(), pairs[1, starts].tolist()
        if torch.is_grad_enabled() or not 0 <= min(run_t) <= max(run_t) < FILM_TABLE_MAX:
            films = self.modulation(t[starts], labels[starts]).split(1)
        else:
            films = [self.film_table(label, step)[step : step + 1] for step, label in zip(run_t, run_labels)]
        if len(starts) == 1:
            return self.trunk(x_t, films[0])
        bounds = [*starts, len(t)]
        return torch.cat([self.trunk(x_t[a:b], film) for film, a, b in zip(films, bounds, bounds[1:])])
