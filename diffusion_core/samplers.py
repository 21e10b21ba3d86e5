"""One streaming sampling loop for every sampler, with classifier-free and classifier guidance.

DDPM ancestral sampling (Ho et al. 2020, Algorithm 2), DDIM (Song et al. 2021, eq. 12)
and the faster solvers of `solvers` (DPM-Solver++(2M), Heun, Euler ancestral) differ
only in how x_{t_prev} is formed from (x̂0, ε̂), so all are settings of the loop in
`sample`, which yields a `SamplerStep` after every update. The sampler sees the
network only as a `denoiser(x_t, t, labels)` callable.
"""

from __future__ import annotations

import math
import secrets
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np
import torch

from .parameterization import (
    check_prediction,
    classifier_free_guidance,
    eps_from_score,
    eps_from_x0,
    score_from_eps,
    to_x0_eps,
)
from .schedules import NoiseSchedule
from .variance import interpolated_log_variance, posterior_log_variance_clipped
from .solvers import DPMSolverPP2M, euler_ancestral_step, heun_corrects, heun_step

SAMPLERS = ("ddpm", "ddim", "dpmpp_2m", "heun", "euler_ancestral")
SAMPLER_LABELS = {"ddpm": "DDPM", "ddim": "DDIM", "dpmpp_2m": "DPM-Solver++(2M)", "heun": "Heun",
                  "euler_ancestral": "Euler ancestral"}
# The samplers whose step follows the probability-flow ODE's score: classifier guidance corrects their ε̂.
SCORE_GUIDED = ("ddim", "dpmpp_2m", "heun", "euler_ancestral")
SPACINGS = ("trailing", "leading", "linspace", "logsnr")
# "logsnr" stops at this fraction of T (t = 10 of 1000): log-SNR shoots up over the last few timesteps
# (λ_0 - λ_10 is as wide as a fifth of the whole range on the linear schedule), so steps uniform in λ
# all the way to t = 0 would spend a third of themselves where the samples barely change.
LOGSNR_END_FRACTION = 0.01
# DDPM's Σ_t: β̃_t, β_t, or the network's own interpolation between them (Improved DDPM eq. 15).
VARIANCE_TYPES = ("fixed_small", "fixed_large", "learned")

Denoiser = Callable[[torch.Tensor, torch.Tensor, "torch.Tensor | None"], torch.Tensor]
ClassifierGrad = Callable[[torch.Tensor, torch.Tensor, "torch.Tensor | None"], torch.Tensor]


@dataclass(frozen=True)
class SamplerStep:
    """What one reverse step produced.

    index: 0-based position in the trajectory, of `num_steps`
    t: the timestep the model saw (x_t); t_prev: the timestep of `x` (-1 once finished)
    x: x_{t_prev}, shaped like the sample; the last step's x is the final sample
    x0: the prediction x̂0 at t (after clipping); eps: the guided ε̂ at t
    calls: network evaluations so far, this step's included (CFG's batched pair counts once)
    """

    index: int
    num_steps: int
    t: int
    t_prev: int
    x: torch.Tensor
    x0: torch.Tensor
    eps: torch.Tensor
    calls: int = 0


def make_timesteps(num_train_steps: int, steps: int, spacing: str = "trailing", alphas_cumprod=None) -> list[int]:
    """The descending training timesteps a `steps`-step sampler visits.

    Spacings as in diffusers and "Common Diffusion Noise Schedules and Sample Steps
    are Flawed" (Lin et al. 2024, table 2): `trailing` always starts at T-1,
    `leading` at T - T//steps, `linspace` rounds an even grid over [0, T-1]. `logsnr`
    (DPM-Solver's "logSNR" steps, Lu et al. 2022) spaces them evenly in the log-SNR
    λ_t = log(√ᾱ_t / √(1-ᾱ_t)) from T-1 down to t = T/100, and needs the schedule's
    `alphas_cumprod`. It suits a schedule whose λ falls steadily (the linear one); where
    ᾱ_{T-1} is all but zero (the cosine schedule's λ_{T-1} ≈ -9) its first steps crowd at T-1.
    """
    if spacing not in SPACINGS:
        raise ValueError(f"unknown timestep spacing {spacing!r}; choose one of {', '.join(SPACINGS)}")
    if not isinstance(steps, (int, np.integer)) or not 1 <= steps <= num_train_steps:
        raise ValueError(f"steps must be an integer from 1 to {num_train_steps}, got {steps!r}")
    if spacing == "trailing":
        ts = np.round(np.arange(num_train_steps, 0, -num_train_steps / steps)).astype(np.int64) - 1
    elif spacing == "leading":
        ts = (np.arange(steps) * (num_train_steps // steps))[::-1]
    elif spacing == "linspace":
        ts = np.linspace(0, num_train_steps - 1, steps).round().astype(np.int64)[::-1]
    else:
        ts = logsnr_timesteps(alphas_cumprod, num_train_steps, steps)
    return [int(t) for t in ts]


def logsnr_timesteps(alphas_cumprod, num_train_steps: int, steps: int) -> np.ndarray:
    """`steps` distinct timesteps from T-1 down to T/100 (less where T - steps is smaller), each the one
    whose log-SNR is nearest an even grid of λ between the two."""
    if alphas_cumprod is None or len(alphas_cumprod) != num_train_steps:
        raise ValueError("logsnr spacing needs the schedule's alphas_cumprod (one per training timestep)")
    alphas_cumprod = np.asarray(torch.as_tensor(alphas_cumprod, dtype=torch.float64).cpu())
    log_snr = 0.5 * (np.log(alphas_cumprod) - np.log1p(-alphas_cumprod))  # falls as t grows
    end = min(int(num_train_steps * LOGSNR_END_FRACTION), num_train_steps - steps)
    grid = np.linspace(log_snr[-1], log_snr[end], steps)
    ts = np.abs(log_snr[None, :] - grid[:, None]).argmin(axis=1)
    # Where the grid is finer than the timesteps (few near T-1 on a steep schedule), nearest
    # neighbours repeat: keep the i-th within the room its neighbours leave, then strictly falling.
    position = np.arange(steps)
    ts = np.clip(ts, end + steps - 1 - position, num_train_steps - 1 - position)
    for i in range(1, steps):
        ts[i] = min(ts[i], ts[i - 1] - 1)
    return ts


def sampler_label(sampler: str) -> str:
    """How a sampler is written for people: 'DPM-Solver++(2M)' for "dpmpp_2m"."""
    return SAMPLER_LABELS.get(sampler, sampler.upper())


def model_calls(sampler: str, steps: int, schedule: NoiseSchedule | None = None, spacing: str = "trailing") -> int:
    """Network evaluations (NFE) of a `steps`-step run: one per step; Heun two, but one on its last
    step and on steps from σ > HEUN_MAX_SIGMA (known with `schedule`; without it, the bound 2·steps - 1).
    Classifier-free guidance's two rows share one batched call and count once; `SamplerStep.calls`
    counts them as they happen."""
    if sampler != "heun":
        return steps
    if schedule is None:
        return 2 * steps - 1
    alphas_cumprod = schedule.alphas_cumprod_float64()
    timesteps = make_timesteps(schedule.num_train_steps, steps, spacing, alphas_cumprod)
    return steps + sum(heun_corrects(float(alphas_cumprod[t])) for t in timesteps[:-1])


def make_generator(generator: torch.Generator | int | None) -> torch.Generator:
    """A CPU generator from a seed, an existing generator, or fresh entropy."""
    if isinstance(generator, torch.Generator):
        return generator
    seed = secrets.randbits(63) if generator is None else int(generator)
    return torch.Generator().manual_seed(seed)


def draw_noise(shape, generator: torch.Generator, device, dtype=torch.float32) -> torch.Tensor:
    """Standard normal noise drawn on the generator's device, then moved to `device`.

    Drawing on the (CPU) generator keeps a seed's trajectory identical whichever
    device runs the model.
    """
    return torch.randn(shape, generator=generator, device=generator.device, dtype=dtype).to(device)


def _resolve_device(device, x_T, denoiser) -> torch.device:
    if device is not None:
        return torch.device(device)
    if x_T is not None:
        return x_T.device
    if isinstance(denoiser, torch.nn.Module):
        parameter = next(denoiser.parameters(), None)
        if parameter is not None:
            return parameter.device
    return torch.device("cpu")


def sample(
    denoiser: Denoiser,
    schedule: NoiseSchedule,
    shape: tuple[int, ...],
    sampler: str = "ddpm",
    steps: int | None = 50,
    eta: float = 0.0,
    labels: torch.Tensor | int | None = None,
    guidance: float = 0.0,
    prediction: str = "epsilon",
    clip_range: tuple[float, float] | None = None,
    spacing: str = "trailing",
    classifier_grad: ClassifierGrad | None = None,
    x_T: torch.Tensor | None = None,
    generator: torch.Generator | int | None = None,
    device: torch.device | str | None = None,
    variance: str = "fixed_small",
    outputs_variance: bool = False,
) -> Iterator[SamplerStep]:
    """Run the reverse process from x_T and yield a `SamplerStep` after every update.

    denoiser(x_t, t, labels) returns the model's prediction of type `prediction`;
    t is a long tensor (B,), labels a long tensor (B,) where -1 marks an
    unconditional row, or None for an all-unconditional batch.

    sampler: "ddpm" (ancestral, `variance` fixed_small β̃, fixed_large β, or learned),
    "ddim" (`eta` in [0, 1]: 0 deterministic, 1 matches DDPM fixed_small), or one of
    `solvers`: "dpmpp_2m" (DPM-Solver++(2M)), "heun" (2nd-order ODE, two model calls
    a step), "euler_ancestral" (stochastic Euler in σ-space).
    steps: how many of the schedule's timesteps to visit (None: all), chosen by
    `spacing`; DDPM over fewer steps uses the respaced betas.
    guidance: classifier-free guidance weight w, ε̃ = (1+w) ε(x, c) - w ε(x, ∅),
    with the conditional and unconditional rows in one batched model call.
    classifier_grad(x_t, t, labels): ∇_x log p(y | x_t) (already scaled); shifts the
    DDPM mean by Σ·∇ and, for every other sampler, ε̂ by -√(1-ᾱ_t)·∇ (Dhariwal & Nichol 2021).
    outputs_variance: the denoiser returns its prediction and Improved DDPM's v stacked along dim 1
    (a network that learned its variance); `variance="learned"` reads v, every other setting drops it.
    x_T: optional starting noise (B, ...); otherwise drawn from `generator`
    (a seed or a CPU torch.Generator) so runs are reproducible on any device.
    """
    _check_options(sampler, variance, prediction, eta, guidance)
    if variance == "learned" and not outputs_variance:
        raise ValueError("variance 'learned' needs a network that outputs its variance (outputs_variance=True)")
    timesteps = make_timesteps(
        schedule.num_train_steps, schedule.num_train_steps if steps is None else steps, spacing,
        schedule.alphas_cumprod_float64() if spacing == "logsnr" else None,
    )
    device = _resolve_device(device, x_T, denoiser)
    generator = make_generator(generator)
    if x_T is None:
        x = draw_noise(shape, generator, device)
    else:
        if tuple(x_T.shape) != tuple(shape):
            raise ValueError(f"x_T has shape {tuple(x_T.shape)}, expected {tuple(shape)}")
        x = x_T.to(device=device, dtype=torch.float32)
    labels = _batch_labels(labels, shape[0], device)
    loop = _Loop(denoiser, sampler, eta, labels, guidance, prediction, clip_range, classifier_grad, variance,
                 outputs_variance, generator, device)
    # A classifier gradient needs autograd, which inference mode forbids.
    context = torch.no_grad if classifier_grad is not None else torch.inference_mode
    return _each_step_in(context, loop.run(x, schedule, timesteps))


def _check_options(sampler: str, variance: str, prediction: str, eta, guidance) -> None:
    if sampler not in SAMPLERS:
        raise ValueError(f"unknown sampler {sampler!r}; choose one of {', '.join(SAMPLERS)}")
    if variance not in VARIANCE_TYPES:
        raise ValueError(f"unknown variance type {variance!r}; choose one of {', '.join(VARIANCE_TYPES)}")
    check_prediction(prediction)
    if not (isinstance(eta, (int, float)) and 0.0 <= eta <= 1.0):
        raise ValueError(f"eta must be a number in [0, 1], got {eta!r}")
    if not (isinstance(guidance, (int, float)) and math.isfinite(guidance) and guidance >= 0):
        raise ValueError(f"guidance weight must be a finite number >= 0, got {guidance!r}")


def _batch_labels(labels: torch.Tensor | int | None, batch: int, device) -> torch.Tensor | None:
    """One long label per sample on `device` (an int for all of them), or None."""
    if isinstance(labels, int):
        labels = torch.full((batch,), labels, dtype=torch.long)
    if labels is None:
        return None
    labels = torch.as_tensor(labels, dtype=torch.long).to(device)
    if labels.shape != (batch,):
        raise ValueError(f"labels must have shape ({batch},), got {tuple(labels.shape)}")
    return labels


# The respaced schedule's per-step coefficients the updates read.
_COEFFICIENTS = (
    "alphas_cumprod", "alphas_cumprod_prev", "betas", "posterior_variance", "posterior_mean_coef1",
    "posterior_mean_coef2",
)


@dataclass(frozen=True)
class _Loop:
    """The settings of one run of `sample`; `run` is the reverse process itself."""

    denoiser: Denoiser
    sampler: str
    eta: float
    labels: torch.Tensor | None
    guidance: float
    prediction: str
    clip_range: tuple[float, float] | None
    classifier_grad: ClassifierGrad | None
    variance: str
    outputs_variance: bool
    generator: torch.Generator
    device: torch.device

    def run(self, x: torch.Tensor, schedule: NoiseSchedule, timesteps: list[int]) -> Iterator[SamplerStep]:
        shape = tuple(x.shape)
        # Per-step coefficients in float64 from the respaced schedule, as Python floats,
        # so the loop makes no device round trip and no per-step tensor allocation.
        respaced = schedule.respace(timesteps, device="cpu", dtype=torch.float64)
        c = {name: getattr(respaced, name).flip(0).tolist() for name in _COEFFICIENTS}
        c["log_betas"] = respaced.betas.log().flip(0).tolist()
        c["log_posterior_variance"] = posterior_log_variance_clipped(respaced).flip(0).tolist()
        num_steps, calls = len(timesteps), 0
        t_rows = self._t_rows(timesteps, shape[0])
        solver = DPMSolverPP2M() if self.sampler == "dpmpp_2m" else None
        for i, t in enumerate(timesteps):
            t_prev = timesteps[i + 1] if i + 1 < num_steps else -1
            ab, ab_prev = c["alphas_cumprod"][i], c["alphas_cumprod_prev"][i]
            x0, eps, v = self.denoise(x, t_rows[i], ab)
            calls += 1
            variance_t = 0.0
            if self.sampler == "ddim":
                mean, variance_t = self._ddim(x0, eps, ab, ab_prev)
            elif self.sampler == "ddpm":
                mean, variance_t, x0, eps = self._ddpm(x, x0, eps, v, c, i, t_rows[i][: shape[0]])
            elif self.sampler == "dpmpp_2m":
                mean = solver.step(x, x0, ab, ab_prev)
            elif self.sampler == "heun":
                next_row = t_rows[i + 1] if i + 1 < num_steps else None
                mean, corrected = heun_step(x, x0, eps, ab, ab_prev,
                                            lambda x_next: self.denoise(x_next, next_row, ab_prev)[:2])
                calls += corrected
            else:
                mean = euler_ancestral_step(x0, eps, ab, ab_prev, lambda: self._noise(shape, x.dtype))
            if t_prev < 0 or (isinstance(variance_t, float) and variance_t == 0.0):
                x = mean
            elif isinstance(variance_t, float):
                x = mean + math.sqrt(variance_t) * self._noise(shape, x.dtype)
            else:
                x = mean + variance_t.sqrt() * self._noise(shape, x.dtype)
            yield SamplerStep(i, num_steps, t, t_prev, x, x0, eps, calls)

    def _t_rows(self, timesteps: list[int], batch: int) -> torch.Tensor:
        """Each step's timestep, one per row of the model's batch (twice the samples with CFG)."""
        rows = torch.tensor(timesteps, dtype=torch.long, device=self.device)[:, None]
        return rows.expand(-1, 2 * batch if self._use_cfg else batch)

    @property
    def _use_cfg(self) -> bool:
        return self.labels is not None and self.guidance > 0

    def _noise(self, shape, dtype) -> torch.Tensor:
        return draw_noise(shape, self.generator, self.device, dtype)

    def denoise(self, x: torch.Tensor, t_row: torch.Tensor, ab: float) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
        """(x̂0, ε̂, v) at x_t: one (batched, with CFG) model call, guided, corrected and clipped; v is the
        learned variance's interpolation (the conditional row's under CFG), None unless the network gives it."""
        batch = x.shape[0]
        v = None
        if self._use_cfg:
            model_labels = torch.cat([self.labels, torch.full_like(self.labels, -1)])
            cond, uncond = self.denoiser(torch.cat([x, x]), t_row, model_labels).chunk(2)
            if self.outputs_variance:
                (cond, v), uncond = cond.chunk(2, dim=1), uncond.chunk(2, dim=1)[0]
            output = classifier_free_guidance(cond, uncond, self.guidance)
        else:
            output = self.denoiser(x, t_row[:batch], self.labels)
            if self.outputs_variance:
                output, v = output.chunk(2, dim=1)
        return (*self._x0_eps(output, x, math.sqrt(ab), math.sqrt(1.0 - ab), t_row[:batch]), v)

    def _x0_eps(self, output, x, sqrt_ab: float, sqrt_1m_ab: float, t) -> tuple[torch.Tensor, torch.Tensor]:
        """(x̂0, ε̂) from the (guided) model output; the score-following samplers' classifier
        guidance corrects ε̂ first."""
        if self.classifier_grad is not None and self.sampler in SCORE_GUIDED:
            # condition_score: the score of p(x_t | y) is the model's plus ∇ log p(y|x_t), so
            # ε̂ ← ε̂ - √(1-ᾱ_t) ∇ log p(y|x_t); then x̂0 from the new ε̂.
            _, eps = to_x0_eps(output, x, sqrt_ab, sqrt_1m_ab, self.prediction)
            score = score_from_eps(eps, sqrt_1m_ab) + _gradient(self.classifier_grad, x, t, self.labels)
            return to_x0_eps(eps_from_score(score, sqrt_1m_ab), x, sqrt_ab, sqrt_1m_ab, "epsilon", self.clip_range)
        return to_x0_eps(output, x, sqrt_ab, sqrt_1m_ab, self.prediction, self.clip_range)

    def _ddpm(self, x, x0, eps, v, c: dict, i: int, t) -> tuple[torch.Tensor, float | torch.Tensor, torch.Tensor, torch.Tensor]:
        """The DDPM step's mean and variance, and the (x̂0, ε̂) its mean heads for."""
        # DDPM eq. 7: μ̃ = c1 x̂0 + c2 x_t; Σ = β̃ (fixed_small), β (fixed_large) or the learned interpolation.
        coef1 = c["posterior_mean_coef1"][i]
        if self.variance == "learned":
            variance_t = interpolated_log_variance(v, c["log_betas"][i], c["log_posterior_variance"][i]).exp()
        else:
            variance_t = c["posterior_variance" if self.variance == "fixed_small" else "betas"][i]
        mean = coef1 * x0 + c["posterior_mean_coef2"][i] * x
        if self.classifier_grad is not None:
            # condition_mean: μ ← μ + Σ ∇ log p(y|x_t). The views show the x̂0 the shifted mean heads
            # for, x̂0 + Σ ∇ / c1, and its ε̂.
            shift = variance_t * _gradient(self.classifier_grad, x, t, self.labels)
            mean = mean + shift
            x0 = x0 + shift / coef1
            ab = c["alphas_cumprod"][i]
            eps = eps_from_x0(x, x0, math.sqrt(ab), math.sqrt(1.0 - ab))
        return mean, variance_t, x0, eps

    def _ddim(self, x0, eps, ab: float, ab_prev: float) -> tuple[torch.Tensor, float]:
        """The DDIM update's mean and variance."""
        # DDIM eq. 16: σ = η √((1-ᾱ_prev)/(1-ᾱ_t)) √(1 - ᾱ_t/ᾱ_prev).
        sigma = self.eta * math.sqrt((1.0 - ab_prev) / (1.0 - ab) * (1.0 - ab / ab_prev))
        # DDIM eq. 12: x_prev = √ᾱ_prev x̂0 + √(1-ᾱ_prev-σ²) ε̂ + σ z.
        direction = math.sqrt(max(1.0 - ab_prev - sigma**2, 0.0))
        return math.sqrt(ab_prev) * x0 + direction * eps, sigma**2


def _gradient(classifier_grad: ClassifierGrad, x, t, labels) -> torch.Tensor:
    with torch.enable_grad():
        return classifier_grad(x, t, labels).detach()


def _each_step_in(context: Callable, steps: Iterator[SamplerStep]) -> Iterator[SamplerStep]:
    """Advance `steps` inside `context` without leaking the context to the consumer between steps."""
    while True:
        with context():
            step = next(steps, None)
        if step is None:
            return
        yield step
