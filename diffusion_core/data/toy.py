"""2D toy point sets with class labels, drawn i.i.d. from a seeded torch generator.

Each set is the distribution of a scikit-learn generator (or the swiss roll of 'Diffusion model from scratch')
with angles and positions drawn at random rather than on an even grid, followed by
a fixed affine map to roughly unit scale, the coordinates the models are trained
in. `RESCALING` records each map as raw = trained / scale + offset.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch

TOY_DATASETS = ("moons", "circles", "moons_circles", "swissroll")


@dataclass(frozen=True)
class Rescaling:
    """The fixed affine map from a generator's raw coordinates: trained = (raw - offset) · scale."""

    offset: tuple[float, float]
    scale: float


RESCALING = {
    "moons": Rescaling(offset=(0.5, 0.25), scale=1.5),
    "circles": Rescaling(offset=(0.0, 0.0), scale=1.5),
    "moons_circles": Rescaling(offset=(0.0, 0.0), scale=0.75),
    "swissroll": Rescaling(offset=(0.0, 0.0), scale=0.1),
}

CLASS_NAMES = {
    "moons": ("upper moon", "lower moon"),
    "circles": ("outer ring", "inner ring"),
    "moons_circles": ("circles", "moons"),
    "swissroll": ("inner half", "outer half"),
}


def _moons_raw(n: int, noise: float, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """make_moons: upper (cos θ, sin θ), lower (1 - cos θ, 0.5 - sin θ), θ ~ U[0, π]."""
    labels = torch.randint(0, 2, (n,), generator=generator)
    theta = torch.rand(n, generator=generator, dtype=torch.float64) * math.pi
    upper = torch.stack([theta.cos(), theta.sin()], dim=1)
    lower = torch.stack([1.0 - theta.cos(), 0.5 - theta.sin()], dim=1)
    points = torch.where(labels[:, None] == 0, upper, lower)
    return points + noise * torch.randn(n, 2, generator=generator, dtype=torch.float64), labels


def _circles_raw(n: int, noise: float, generator: torch.Generator, factor: float = 0.5):
    """make_circles: rings of radius 1 (label 0) and `factor` (label 1), θ ~ U[0, 2π)."""
    labels = torch.randint(0, 2, (n,), generator=generator)
    theta = torch.rand(n, generator=generator, dtype=torch.float64) * (2 * math.pi)
    radius = torch.where(labels == 0, 1.0, factor).to(torch.float64)
    points = radius[:, None] * torch.stack([theta.cos(), theta.sin()], dim=1)
    return points + noise * torch.randn(n, 2, generator=generator, dtype=torch.float64), labels


def _moons_circles_raw(n: int, noise: float, generator: torch.Generator):
    """Seed 000's figure: circles (label 0) centred at (-2, 0), moons (label 1) centred at (2, 0)."""
    circles, _ = _circles_raw(n, noise, generator)
    moons, _ = _moons_raw(n, noise, generator)
    labels = torch.randint(0, 2, (n,), generator=generator)
    left = circles + torch.tensor([-2.0, 0.0], dtype=torch.float64)
    right = moons + torch.tensor([2.0 - 0.5, -0.25], dtype=torch.float64)
    return torch.where(labels[:, None] == 0, left, right), labels


def _swissroll_raw(n: int, noise: float, generator: torch.Generator):
    """make_swiss_roll's (x, z) = (t cos t, t sin t), t = 1.5π(1 + 2u); label 1 where t > 3π (outer half)."""
    u = torch.rand(n, generator=generator, dtype=torch.float64)
    t = 1.5 * math.pi * (1.0 + 2.0 * u)
    points = torch.stack([t * t.cos(), t * t.sin()], dim=1)
    labels = (u > 0.5).long()
    return points + noise * torch.randn(n, 2, generator=generator, dtype=torch.float64), labels


_RAW: dict[str, tuple[Callable, float]] = {
    "moons": (_moons_raw, 0.05),
    "circles": (_circles_raw, 0.05),
    "moons_circles": (_moons_circles_raw, 0.05),
    "swissroll": (_swissroll_raw, 1.0),
}


# Point sets registered at run time (a visitor's drawing, a checkpoint's points.csv), by name: anything
# with draw(n, generator) -> (points, labels) and class_names (data.custom.PointSet).
_REGISTERED: dict = {}


def register_point_set(name: str, point_set) -> None:
    """Make `point_set` drawable as toy set `name` (for `toy_dataset`, the app's views, the figures)."""
    if name in TOY_DATASETS:
        raise ValueError(f"{name!r} is a built-in toy set")
    _REGISTERED[name] = point_set


def forget_point_set(name: str) -> None:
    _REGISTERED.pop(name, None)


def is_point_set(name) -> bool:
    """Whether `name` is a built-in toy set or a registered point set."""
    return name in TOY_DATASETS or name in _REGISTERED


def point_set_classes(name: str) -> tuple[str, ...]:
    return CLASS_NAMES[name] if name in CLASS_NAMES else _REGISTERED[check_dataset(name)].class_names


def check_dataset(name: str) -> str:
    if not is_point_set(name):
        raise ValueError(f"unknown toy dataset {name!r}; choose one of {', '.join(TOY_DATASETS)}")
    return name


def draw_toy(name: str, n: int, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """n i.i.d. points of toy set `name` from `generator`: float32 (n, 2) and long labels (n,)."""
    if check_dataset(name) in _REGISTERED:
        points, labels = _REGISTERED[name].draw(n, generator)
        return points.float(), labels
    raw, noise = _RAW[name]
    points, labels = raw(n, noise, generator)
    rescaling = RESCALING[name]
    points = (points - torch.tensor(rescaling.offset, dtype=torch.float64)) * rescaling.scale
    return points.float(), labels


def toy_dataset(name: str, n: int = 2000, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """n i.i.d. points of toy set `name` drawn with `seed`, in training coordinates."""
    if not isinstance(n, int) or n < 1:
        raise ValueError(f"n must be a positive integer, got {n!r}")
    return draw_toy(name, n, torch.Generator().manual_seed(int(seed)))
