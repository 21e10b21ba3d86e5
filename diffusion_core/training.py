"""The denoising training loop, generic over the model and the source of batches.

Each step draws (x_0, y) from the batch source, t ~ U{0..T-1} and ε ~ N(0, I),
forms x_t = √ᾱ_t x_0 + √(1-ᾱ_t) ε (DDPM eq. 4), drops each label to the null label
with probability p_uncond (classifier-free guidance, Ho & Salimans 2022, Algorithm 1)
and regresses the network on the target of its prediction type, ‖target - f(x_t, t, y)‖²
(DDPM eq. 14 for ε). A network that learns its variance (Improved DDPM) adds λ L_vlb with the
mean's gradient stopped, L_hybrid of `variance`. AdamW with warmup and cosine decay, gradient clipping, and an
exponential moving average of the weights that sampling uses. On CUDA the forward
pass runs under bfloat16 autocast (float32 weights, optimiser and EMA; bfloat16 has
float32's exponent range, so no loss scaling is needed); elsewhere it stays float32.
"""

from __future__ import annotations

import copy
import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass

import torch
from torch import nn
from tqdm.auto import tqdm

from .models.configs import check_positive_ints
from .parameterization import check_prediction, prediction_target, to_x0_eps
from .schedules import NoiseSchedule, broadcast
from .variance import VLB_WEIGHT, interpolated_log_variance, posterior_log_variance_clipped, vlb_terms

BatchSource = Callable[[int, torch.Generator], "tuple[torch.Tensor, torch.Tensor | None]"]


@dataclass(frozen=True)
class TrainConfig:
    """Optimisation settings; saved in config.json under `training`."""

    steps: int = 3000
    batch_size: int = 1024
    lr: float = 2e-3
    warmup_steps: int = 100
    final_lr_fraction: float = 0.0
    weight_decay: float = 0.0
    grad_clip: float = 1.0
    ema_decay: float = 0.998
    p_uncond: float = 0.15
    seed: int = 0
    # Min-SNR-γ loss weighting (Hang et al. 2023): each timestep's loss weighted so the easy,
    # low-noise steps (SNR(t) = ᾱ/(1-ᾱ) above γ) no longer dominate the gradient; 0: plain MSE.
    min_snr_gamma: float = 0.0
    # How evenly a labelled data set's classes are drawn (`data.emnist.batch_source`): 0 as the
    # data has them, 1 every class equally often.
    class_balance: float = 0.0

    def __post_init__(self):
        check_positive_ints(self, ("steps", "batch_size"), what="")
        if not self.lr > 0:
            raise ValueError(f"lr must be > 0, got {self.lr!r}")
        if not 0.0 <= self.p_uncond <= 1.0:
            raise ValueError(f"p_uncond must be in [0, 1], got {self.p_uncond!r}")
        if not 0.0 <= self.ema_decay < 1.0:
            raise ValueError(f"ema_decay must be in [0, 1), got {self.ema_decay!r}")
        if not (math.isfinite(self.min_snr_gamma) and self.min_snr_gamma >= 0.0):
            raise ValueError(f"min_snr_gamma must be >= 0 (0: off), got {self.min_snr_gamma!r}")
        if not 0.0 <= self.class_balance <= 1.0:
            raise ValueError(f"class_balance must be in [0, 1], got {self.class_balance!r}")

    def to_dict(self) -> dict:
        return asdict(self)


def learning_rate(config: TrainConfig, step: int) -> float:
    """Linear warmup over `warmup_steps`, then cosine decay to `final_lr_fraction` · lr at `steps`."""
    if step < config.warmup_steps:
        return config.lr * (step + 1) / config.warmup_steps
    progress = min(1.0, (step - config.warmup_steps) / max(1, config.steps - config.warmup_steps))
    floor = config.final_lr_fraction
    return config.lr * (floor + (1.0 - floor) * 0.5 * (1.0 + math.cos(math.pi * progress)))


def min_snr_weight(alphas_cumprod: torch.Tensor, prediction: str, gamma: float) -> torch.Tensor:
    """The min-SNR-γ weight of each timestep's MSE for a network of type `prediction`.

    The weight on the x0 error is min(SNR, γ); the ε and v targets' errors are the x0 error
    times SNR and SNR + 1, so their weights are min(SNR, γ)/SNR and min(SNR, γ)/(SNR + 1)."""
    snr = alphas_cumprod / (1.0 - alphas_cumprod)
    clipped = snr.clamp(max=gamma)
    if prediction == "epsilon":
        return clipped / snr
    if prediction == "sample":
        return clipped
    return clipped / (snr + 1.0)


def ema_decay_at(config: TrainConfig, step: int) -> float:
    """The EMA decay, ramped as min(decay, (1 + n)/(10 + n)) so early averages forget the init."""
    return min(config.ema_decay, (1.0 + step) / (10.0 + step))


class Trainer:
    """Trains `model` on batches from `batch_source(batch_size, generator)`; keeps `ema`, `losses`, `step`."""

    def __init__(
        self,
        model: nn.Module,
        schedule: NoiseSchedule,
        batch_source: BatchSource,
        config: TrainConfig,
        prediction: str = "epsilon",
        device: torch.device | str = "cpu",
        sample_name: str = "points",
    ):
        self.device = torch.device(device)
        self.model = model.to(self.device)
        self.ema = copy.deepcopy(self.model).requires_grad_(False)
        self.schedule = schedule.to(self.device)
        self.batch_source = batch_source
        self.config = config
        self.prediction = check_prediction(prediction)
        # A network whose config learns its variance returns its prediction and v stacked
        # (`prediction_and_variance`) and is trained on L_hybrid.
        self.learn_variance = bool(getattr(getattr(model, "config", None), "learn_variance", False))
        self.mixed_precision = self.device.type == "cuda"
        self.sample_name = sample_name  # what one training example is, for the progress bar's rate
        self.optimizer = torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
        # Every random draw of training (data, t, ε, label dropout) comes from this generator.
        self.generator = torch.Generator().manual_seed(config.seed)
        self.step = 0
        self.losses: list[float] = []
        self.seconds = 0.0

    def loss(self, x0: torch.Tensor, labels: torch.Tensor | None) -> torch.Tensor:
        """The mean squared error of the prediction target on one batch x0: (B, ...)."""
        batch = x0.shape[0]
        g = self.generator
        t = torch.randint(0, self.schedule.num_train_steps, (batch,), generator=g).to(self.device)
        noise = torch.randn(x0.shape, generator=g).to(self.device)
        if labels is not None:
            dropped = torch.rand(batch, generator=g).to(self.device) < self.config.p_uncond
            labels = torch.where(dropped, torch.full_like(labels, -1), labels)
        x_t = self.schedule.q_sample(x0, t, noise)
        shape = (batch,) + (1,) * (x0.dim() - 1)
        sqrt_ab = self.schedule.sqrt_alphas_cumprod[t].reshape(shape)
        sqrt_1m_ab = self.schedule.sqrt_one_minus_alphas_cumprod[t].reshape(shape)
        target = prediction_target(self.prediction, x0, noise, sqrt_ab, sqrt_1m_ab)
        network = self.model.prediction_and_variance if self.learn_variance else self.model
        with torch.autocast(self.device.type, torch.bfloat16, enabled=self.mixed_precision):
            output = network(x_t, t, labels).float()
        if not self.learn_variance:
            return self.weighted_mse(output, target, t)
        prediction, v = output.chunk(2, dim=1)
        return self.weighted_mse(prediction, target, t) + VLB_WEIGHT * self.vlb(prediction.detach(), v, x0, x_t, t)

    def weighted_mse(self, output: torch.Tensor, target: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """The batch's mean squared error, each example's weighted by min-SNR-γ where that is on."""
        if not self.config.min_snr_gamma:
            return (output - target).square().mean()
        per_example = (output - target).square().flatten(1).mean(1)
        weights = min_snr_weight(self.schedule.alphas_cumprod[t], self.prediction, self.config.min_snr_gamma)
        return (weights * per_example).mean()

    def vlb(self, prediction: torch.Tensor, v: torch.Tensor, x0, x_t, t) -> torch.Tensor:
        """L_vlb ≈ T · E_t[L_t] (bits per dimension) of the model's step at x_t: its mean from the (detached)
        prediction's x̂0, its variance Σ_θ from v (Improved DDPM eq. 15)."""
        s = self.schedule
        x0_hat, _ = to_x0_eps(prediction, x_t, broadcast(s.sqrt_alphas_cumprod[t], x_t),
                              broadcast(s.sqrt_one_minus_alphas_cumprod[t], x_t), self.prediction)
        mean, _ = s.q_posterior(x0_hat, x_t, t)
        log_var = interpolated_log_variance(v, broadcast(s.betas.log()[t], x_t),
                                            broadcast(posterior_log_variance_clipped(s)[t], x_t))
        return s.num_train_steps * vlb_terms(s, x0, x_t, t, mean, log_var).mean()

    def train_step(self) -> float:
        x0, labels = self.batch_source(self.config.batch_size, self.generator)
        x0 = x0.to(self.device)
        labels = None if labels is None else labels.to(self.device)
        for group in self.optimizer.param_groups:
            group["lr"] = learning_rate(self.config, self.step)
        loss = self.loss(x0, labels)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        nn.utils.clip_grad_norm_(self.model.parameters(), self.config.grad_clip)
        self.optimizer.step()
        decay = ema_decay_at(self.config, self.step)
        with torch.no_grad():
            for ema_p, p in zip(self.ema.parameters(), self.model.parameters()):
                ema_p.lerp_(p, 1.0 - decay)
        self.step += 1
        return loss.item()

    def run(self, until: int | None = None, progress: bool = True, log_every: int = 25) -> list[float]:
        """Train up to step `until` (default `config.steps`); returns all losses so far."""
        until = self.config.steps if until is None else until
        self.model.train()
        bar = tqdm(total=max(until, self.config.steps), initial=self.step, disable=not progress, desc="train", unit="step")
        start = time.perf_counter()
        window_start, window_steps = start, 0
        try:
            while self.step < until:
                loss = self.train_step()
                self.losses.append(loss)
                bar.update(1)
                window_steps += 1
                if self.step % log_every == 0:
                    now = time.perf_counter()
                    recent = self.losses[-log_every:]
                    rate = window_steps * self.config.batch_size / (now - window_start)
                    bar.set_postfix({"loss": f"{sum(recent) / len(recent):.4f}", f"{self.sample_name}/s": f"{rate:.0f}"})
                    window_start, window_steps = now, 0
        finally:
            self.seconds += time.perf_counter() - start
            bar.close()
        return self.losses

    def state(self) -> tuple[dict[str, torch.Tensor], dict]:
        """Everything needed to resume: tensors (safetensors-ready) and JSON-ready metadata."""
        tensors = {f"model.{k}": v.detach().cpu().contiguous() for k, v in self.model.state_dict().items()}
        tensors.update({f"ema.{k}": v.detach().cpu().contiguous() for k, v in self.ema.state_dict().items()})
        optimizer = self.optimizer.state_dict()
        for index, values in optimizer["state"].items():
            for key, value in values.items():
                tensors[f"optimizer.{index}.{key}"] = torch.as_tensor(value).detach().cpu().contiguous()
        tensors["rng"] = self.generator.get_state()
        meta = {
            "step": self.step,
            "seconds": self.seconds,
            "losses": self.losses,
            "param_groups": optimizer["param_groups"],
        }
        return tensors, meta

    def load_state(self, tensors: dict[str, torch.Tensor], meta: dict) -> None:
        """Restore a `state()`; raises ValueError naming what does not fit this trainer."""
        for prefix, module in (("model.", self.model), ("ema.", self.ema)):
            weights = {k[len(prefix):]: v for k, v in tensors.items() if k.startswith(prefix)}
            missing, unexpected = module.load_state_dict(weights, strict=False)
            if missing or unexpected:
                raise ValueError(f"training state {prefix[:-1]} weights do not fit: missing {missing}, unknown {unexpected}")
        state: dict[int, dict] = {}
        for key, value in tensors.items():
            if key.startswith("optimizer."):
                _, index, name = key.split(".", 2)
                state.setdefault(int(index), {})[name] = value.to(self.device) if name != "step" else value
        self.optimizer.load_state_dict({"state": state, "param_groups": meta["param_groups"]})
        self.generator.set_state(tensors["rng"])
        self.step = int(meta["step"])
        self.seconds = float(meta["seconds"])
        self.losses = [float(v) for v in meta["losses"]]


def timestep_losses(
    model: nn.Module,
    schedule: NoiseSchedule,
    prediction: str,
    x0: torch.Tensor,
    labels: torch.Tensor | None,
    buckets: int = 20,
    seed: int = 0,
) -> list[float]:
    """The training loss of `model` on x0 per band of timesteps: for each of `buckets` equal bands of
    0..T-1, every sample noised at a t drawn within the band, the mean squared error of the prediction
    target. Where it is high the model struggles (seed 001's per-timestep view of the loss)."""
    generator = torch.Generator().manual_seed(seed)
    device = next(model.parameters()).device
    x0 = x0.to(device)
    labels = None if labels is None else labels.to(device)
    edges = torch.linspace(0, schedule.num_train_steps, buckets + 1).round().long().tolist()
    shape = (x0.shape[0],) + (1,) * (x0.dim() - 1)
    losses = []
    model.eval()
    with torch.inference_mode():
        for low, high in zip(edges, edges[1:]):
            t = torch.randint(low, max(high, low + 1), (x0.shape[0],), generator=generator).to(device)
            noise = torch.randn(x0.shape, generator=generator).to(device)
            sqrt_ab = schedule.sqrt_alphas_cumprod.to(device)[t].reshape(shape)
            sqrt_1m_ab = schedule.sqrt_one_minus_alphas_cumprod.to(device)[t].reshape(shape)
            target = prediction_target(prediction, x0, noise, sqrt_ab, sqrt_1m_ab)
            output = model(sqrt_ab * x0 + sqrt_1m_ab * noise, t, labels)
            losses.append(float((output.float() - target).square().mean()))
    return losses


def loss_curve(losses: list[float], points: int = 200) -> tuple[list[int], list[float]]:
    """The per-step training losses as at most `points` window means: (the window's last step, its mean)."""
    if not losses:
        return [], []
    width = max(1, math.ceil(len(losses) / points))
    steps, means = [], []
    for start in range(0, len(losses), width):
        window = losses[start:start + width]
        steps.append(start + len(window))
        means.append(sum(window) / len(window))
    return steps, means
