"""A small CNN that recognises the 62 EMNIST ByClass characters: the network of the project's judge.

Three conv-BN-ReLU-maxpool stages (28 → 14 → 7 → 3) and a 256-unit penultimate layer,
`features(x)`, whose activations serve as the feature space of the diversity and
Fréchet-distance figures (the role Inception-v3's pool features play in FID,
Heusel et al. 2017). Its training, saving and loading live in `evaluation.judge`.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from .configs import ConfigRecord


@dataclass(frozen=True)
class ClassifierConfig(ConfigRecord):
    """Everything that rebuilds a `CharacterClassifier`; saved as config.json."""

    record_name = "classifier config"

    num_classes: int = 62
    channels: tuple[int, int, int] = (32, 64, 128)
    feature_dim: int = 256
    dropout: float = 0.3

    def __post_init__(self):
        if not isinstance(self.num_classes, int) or self.num_classes < 2:
            raise ValueError(f"classifier num_classes must be an integer >= 2, got {self.num_classes!r}")
        channels = tuple(self.channels)
        if len(channels) != 3 or not all(isinstance(c, int) and c > 0 for c in channels):
            raise ValueError(f"classifier channels must be three positive integers, got {self.channels!r}")
        object.__setattr__(self, "channels", channels)
        if not isinstance(self.feature_dim, int) or self.feature_dim < 1:
            raise ValueError(f"classifier feature_dim must be a positive integer, got {self.feature_dim!r}")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"classifier dropout must be in [0, 1), got {self.dropout!r}")


class CharacterClassifier(nn.Module):
    """x: (B, 1, 28, 28) in [-1, 1] → logits (B, num_classes); `features(x)`: (B, feature_dim)."""

    def __init__(self, config: ClassifierConfig):
        super().__init__()
        self.config = config
        layers: list[nn.Module] = []
        previous = 1
        for width in config.channels:
            layers += [
                nn.Conv2d(previous, width, 3, padding=1, bias=False),
                nn.BatchNorm2d(width),
                nn.ReLU(),
                nn.MaxPool2d(2),
            ]
            previous = width
        self.body = nn.Sequential(*layers)
        self.embed = nn.Sequential(nn.Flatten(), nn.Linear(previous * 3 * 3, config.feature_dim), nn.ReLU())
        self.head = nn.Sequential(
            nn.Dropout(config.dropout), nn.Linear(config.feature_dim, config.num_classes)
        )

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """The penultimate (post-ReLU) activations, (B, feature_dim)."""
        return self.embed(self.body(x))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))
