"""Classifier guidance: train a noise-aware classifier p_φ(y | x_t, t) and turn it into the sampler's gradient.

Dhariwal & Nichol (2021), section 4. The conditional reverse step is the unconditional
one times p_φ(y | x_t), which shifts DDPM's mean by s Σ ∇_x log p_φ(y | x_t) (Algorithm 1)
and corrects a deterministic sampler's ε̂ by −√(1−ᾱ_t) s ∇_x log p_φ(y | x_t) (Algorithm 2);
`samplers.sample` applies both from the `classifier_gradient` built here. The scale s
sharpens the classifier: s ∇ log p(y|x) = ∇ log (p(y|x)^s / Z).

Classifier-free guidance (Ho & Salimans 2022) is the same correction with an implicit
classifier, p(y | x_t) ∝ p(x_t | y) / p(x_t): its w plays the part of s.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass

import torch
from torch import nn

from .models.configs import check_positive_ints
from .samplers import ClassifierGrad
from .schedules import NoiseSchedule

Classifier = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]  # (x_t, t) → logits
BatchSource = Callable[[int, torch.Generator], "tuple[torch.Tensor, torch.Tensor]"]


def classifier_gradient(classifier: Classifier, scale: float) -> ClassifierGrad:
    """s ∇_x log p_φ(y | x_t, t) as the sampler's `classifier_grad(x_t, t, labels)`; rows with label -1
    (unconditional) get zero. The classifier runs in float32 with gradients, whatever the caller's mode."""
    if not (isinstance(scale, (int, float)) and math.isfinite(scale) and scale >= 0):
        raise ValueError(f"classifier scale must be a finite number >= 0, got {scale!r}")

    def gradient(x_t: torch.Tensor, t: torch.Tensor, labels: torch.Tensor | None) -> torch.Tensor:
        if labels is None or scale == 0:
            return torch.zeros_like(x_t)
        # Inside inference mode (a caller's, or a view's) enable_grad alone does not bring autograd back,
        # and its tensors cannot enter a graph: leave the mode and work on ordinary copies.
        with torch.inference_mode(False), torch.enable_grad():
            x = x_t.detach().clone().float().requires_grad_(True)
            t, labels = t.clone(), labels.clone()
            log_probs = torch.log_softmax(classifier(x, t), dim=-1)
            chosen = log_probs.gather(1, labels.clamp_min(0)[:, None])[:, 0]
            (grad,) = torch.autograd.grad((chosen * (labels >= 0)).sum(), x)
        return scale * grad.to(x_t.dtype)

    return gradient


def noised_cross_entropy(classifier: Classifier, schedule: NoiseSchedule, x0: torch.Tensor, labels: torch.Tensor,
                         generator: torch.Generator) -> torch.Tensor:
    """The guide's training loss: cross-entropy of y at x_t = √ᾱ_t x_0 + √(1−ᾱ_t) ε, t ~ U{0..T-1}."""
    t = torch.randint(0, schedule.num_train_steps, (len(x0),), generator=generator).to(x0.device)
    noise = torch.randn(x0.shape, generator=generator).to(x0.device)
    return nn.functional.cross_entropy(classifier(schedule.q_sample(x0, t, noise), t), labels)


@dataclass(frozen=True)
class GuideTraining:
    """AdamW at `lr` with a linear warmup and cosine decay over `steps`, batches of `batch_size`."""

    steps: int = 3000
    batch_size: int = 512
    lr: float = 2e-3
    warmup_steps: int = 100
    weight_decay: float = 1e-4
    seed: int = 0

    def __post_init__(self):
        check_positive_ints(self, ("steps", "batch_size", "warmup_steps"), what="")
        if not self.lr > 0:
            raise ValueError(f"lr must be > 0, got {self.lr!r}")
        if not self.weight_decay >= 0:
            raise ValueError(f"weight_decay must be >= 0, got {self.weight_decay!r}")

    def to_dict(self) -> dict:
        return asdict(self)


def train_guide(
    classifier: nn.Module,
    schedule: NoiseSchedule,
    batch_source: BatchSource,
    settings: GuideTraining,
    device: torch.device | str = "cpu",
    log: Callable[[str], None] | None = None,
) -> dict:
    """Train `classifier` in place on noised batches from `batch_source(n, generator)`; returns
    {"losses", "seconds"}. Every random draw comes from one generator seeded with `settings.seed`."""
    device = torch.device(device)
    classifier.to(device).train()
    schedule = schedule.to(device)
    generator = torch.Generator().manual_seed(settings.seed)
    optimizer = torch.optim.AdamW(classifier.parameters(), lr=settings.lr, weight_decay=settings.weight_decay)
    losses: list[float] = []
    start = time.perf_counter()
    for step in range(settings.steps):
        warm = min(1.0, (step + 1) / settings.warmup_steps)
        progress = max(0, step - settings.warmup_steps) / max(1, settings.steps - settings.warmup_steps)
        for group in optimizer.param_groups:
            group["lr"] = settings.lr * warm * 0.5 * (1.0 + math.cos(math.pi * progress))
        x0, labels = batch_source(settings.batch_size, generator)
        loss = noised_cross_entropy(classifier, schedule, x0.to(device), labels.to(device), generator)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        nn.utils.clip_grad_norm_(classifier.parameters(), 1.0)
        optimizer.step()
        losses.append(loss.item())
        if log is not None and (step + 1) % 250 == 0:
            log(f"guide step {step + 1}/{settings.steps}: loss {sum(losses[-250:]) / 250:.4f} "
                f"({time.perf_counter() - start:.0f} s)")
    classifier.eval()
    return {"losses": losses, "seconds": time.perf_counter() - start}


@torch.inference_mode()
def accuracy_by_timestep(classifier: Classifier, schedule: NoiseSchedule, x0: torch.Tensor, labels: torch.Tensor,
                         timesteps: tuple[int, ...], seed: int = 0) -> dict[int, float]:
    """The share of x0 noised to each t in `timesteps` whose argmax class is its label: how far into the
    noise the classifier still knows the class (near chance at t = T−1)."""
    generator = torch.Generator().manual_seed(seed)
    device = schedule.alphas_cumprod.device
    x0, labels = x0.to(device), labels.to(device)
    shown = {}
    for step in timesteps:
        t = torch.full((len(x0),), step, dtype=torch.long, device=device)
        noise = torch.randn(x0.shape, generator=generator).to(device)
        predicted = classifier(schedule.q_sample(x0, t, noise), t).argmax(dim=1)
        shown[step] = float((predicted == labels).double().mean())
    return shown
