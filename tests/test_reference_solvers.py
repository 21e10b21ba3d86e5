"""DPM-Solver++(2M), Heun and Euler ancestral against diffusers' schedulers, step by step.

As in test_reference_diffusers.py: the same toy denoiser, x_T and per-step noise (one CPU generator
drawn in the same order), diffusers updating our x at every step so each update is compared on the
same input, and diffusers handed float64 noise levels (it stores σ in float32, which at the cosine
schedule's σ_max ≈ 2·10⁴ is 1e-3 off on its own).

Conventions: diffusers' Heun and Euler schedulers keep x̃ = x_t / √ᾱ_t (σ-space, "VE") where we keep
x_t, so each comparison converts with √ᾱ; Heun's two stages are two diffusers calls. Our Heun skips
its correction on a step from σ > HEUN_MAX_SIGMA (see `solvers`); there our step equals diffusers'
first, Euler, stage. Clipping: DPMSolverMultistepScheduler has dynamic thresholding rather than a
clip and EulerAncestralDiscreteScheduler neither, so only Heun is compared with x̂0 clipped.
"""

from __future__ import annotations

import math

import pytest
import torch

diffusers = pytest.importorskip("diffusers")

from test_reference_diffusers import (  # noqa: E402
    ATOL,
    CLIP_RANGE,
    DIFFUSERS_BETA_SCHEDULE,
    RTOL,
    SEED,
    SHAPE,
    T,
    toy_denoiser,
)

from diffusion_core import NoiseSchedule, make_timesteps, sample  # noqa: E402
from diffusion_core.solvers import HEUN_MAX_SIGMA, karras_sigma  # noqa: E402


def config(kind: str, prediction: str, spacing: str, **extra) -> dict:
    return {"num_train_timesteps": T, "beta_start": 1e-4, "beta_end": 0.02,
            "beta_schedule": DIFFUSERS_BETA_SCHEDULE[kind], "prediction_type": prediction,
            "timestep_spacing": spacing, "steps_offset": 0, **extra}


def sigmas64(kind: str, timesteps) -> list[float]:
    """σ at each of diffusers' timesteps from our float64 ᾱ, and the final 0."""
    alphas_cumprod = NoiseSchedule.create(kind, T, dtype=torch.float64).alphas_cumprod
    return [karras_sigma(float(alphas_cumprod[int(t)])) for t in timesteps] + [0.0]


def ours(kind, sampler, steps, prediction, spacing, clip=False):
    return sample(toy_denoiser, NoiseSchedule.create(kind, T), SHAPE, sampler=sampler, steps=steps,
                  prediction=prediction, spacing=spacing, clip_range=CLIP_RANGE if clip else None, generator=SEED)


def to_vp(x_ve: torch.Tensor, sigma: float) -> torch.Tensor:
    return x_ve / math.sqrt(sigma**2 + 1.0)


def slack(x: torch.Tensor, sigma: float, sigma_next: float) -> float:
    """ATOL plus two float32 spacings of diffusers' x̃ = x √(σ²+1), carried to x_next: diffusers forms
    x̃ - σ ε̂ on numbers of size σ (at the cosine schedule's first step, σ = 2·10⁴: about 1e-3); ours,
    written in x_t, does not (see `solvers`). For σ ≤ 10² this adds less than 1e-5."""
    spacing = 2 * torch.finfo(torch.float32).eps * math.sqrt(sigma**2 + 1) * float(x.abs().max())
    return ATOL + spacing / math.sqrt(sigma_next**2 + 1)


@pytest.mark.parametrize("kind", ["linear", "cosine"])
@pytest.mark.parametrize("prediction", ["epsilon", "sample", "v_prediction"])
@pytest.mark.parametrize(("spacing", "steps"), [("trailing", 10), ("trailing", 4), ("leading", 25), ("logsnr", 10)])
def test_dpmpp_2m_equals_diffusers_dpm_solver_multistep_at_every_step(kind, prediction, spacing, steps):
    scheduler = diffusers.DPMSolverMultistepScheduler(**config(
        kind, prediction, "trailing" if spacing == "logsnr" else spacing, algorithm_type="dpmsolver++",
        solver_order=2, final_sigmas_type="zero"))
    # Its own `leading` list differs from the other schedulers' (and ours), and it has no log-SNR
    # list for a discrete schedule; given the list, it runs it.
    alphas_cumprod = NoiseSchedule.create(kind, T).alphas_cumprod_float64()
    scheduler.set_timesteps(timesteps=make_timesteps(T, steps, spacing, alphas_cumprod))
    scheduler.sigmas = torch.tensor(sigmas64(kind, scheduler.timesteps), dtype=torch.float64)
    x = torch.randn(SHAPE, generator=torch.Generator().manual_seed(SEED))
    for step, t in zip(ours(kind, "dpmpp_2m", steps, prediction, spacing), scheduler.timesteps, strict=True):
        assert step.t == int(t)
        out = scheduler.step(toy_denoiser(x, t.expand(SHAPE[0])), t, x).prev_sample
        torch.testing.assert_close(step.x, out, atol=ATOL, rtol=RTOL)
        x = step.x


@pytest.mark.parametrize("kind", ["linear", "cosine"])
@pytest.mark.parametrize("prediction", ["epsilon", "sample", "v_prediction"])
@pytest.mark.parametrize("clip", [False, True])
@pytest.mark.parametrize(("spacing", "steps"), [("trailing", 10), ("leading", 25)])
def test_heun_equals_diffusers_heun_discrete_at_every_step(kind, prediction, clip, spacing, steps):
    scheduler = diffusers.HeunDiscreteScheduler(**config(kind, prediction, spacing, clip_sample=clip,
                                                         clip_sample_range=CLIP_RANGE[1]))
    scheduler.set_timesteps(steps)
    levels = sigmas64(kind, scheduler.timesteps[::2])  # σ_0, σ_1, ..., 0 at our timesteps
    scheduler.sigmas = torch.tensor([levels[0], *[s for s in levels[1:-1] for _ in (0, 1)], 0.0], dtype=torch.float64)
    generator = torch.Generator().manual_seed(SEED)
    x = torch.randn(SHAPE, generator=generator)
    corrected = 0
    for i, step in enumerate(ours(kind, "heun", steps, prediction, spacing, clip)):
        sigma, sigma_next = levels[i], levels[i + 1]
        t = torch.tensor(step.t)
        euler_ve = scheduler.step(toy_denoiser(x, t.expand(SHAPE[0])), t, x * math.sqrt(sigma**2 + 1)).prev_sample
        if sigma_next == 0.0:
            torch.testing.assert_close(step.x, euler_ve, atol=slack(x, sigma, 0.0), rtol=RTOL)
            break
        euler, t_next = to_vp(euler_ve, sigma_next), torch.tensor(step.t_prev)
        heun = to_vp(scheduler.step(toy_denoiser(euler, t_next.expand(SHAPE[0])), t_next, euler_ve).prev_sample,
                     sigma_next)
        torch.testing.assert_close(step.x, heun if sigma <= HEUN_MAX_SIGMA else euler,
                                   atol=slack(x, sigma, sigma_next), rtol=RTOL)
        corrected += sigma <= HEUN_MAX_SIGMA
        assert step.calls == i + 1 + corrected
        x = step.x
    assert corrected >= steps // 2  # the comparison covered the second-order steps, not only Euler's


@pytest.mark.parametrize("kind", ["linear", "cosine"])
@pytest.mark.parametrize("prediction", ["epsilon", "v_prediction"])  # diffusers' has no "sample"
@pytest.mark.parametrize(("spacing", "steps"), [("trailing", 10), ("leading", 25)])
def test_euler_ancestral_equals_diffusers_euler_ancestral_discrete_at_every_step(kind, prediction, spacing, steps):
    scheduler = diffusers.EulerAncestralDiscreteScheduler(**config(kind, prediction, spacing))
    scheduler.set_timesteps(steps)
    levels = sigmas64(kind, scheduler.timesteps)
    scheduler.sigmas = torch.tensor(levels, dtype=torch.float64)
    generator = torch.Generator().manual_seed(SEED)
    x = torch.randn(SHAPE, generator=generator)
    for i, (step, t) in enumerate(zip(ours(kind, "euler_ancestral", steps, prediction, spacing),
                                      scheduler.timesteps, strict=True)):
        out = scheduler.step(toy_denoiser(x, t.expand(SHAPE[0])), t, x * math.sqrt(levels[i] ** 2 + 1),
                             generator=generator).prev_sample
        torch.testing.assert_close(step.x, to_vp(out, levels[i + 1]), atol=slack(x, levels[i], levels[i + 1]), rtol=RTOL)
        x = step.x


@pytest.mark.parametrize("kind", ["linear", "cosine"])
@pytest.mark.parametrize("prediction", ["epsilon", "v_prediction"])
def test_ddim_with_eta_zero_is_euler_on_the_probability_flow_ode(kind, prediction):
    """dx̃/dσ = ε̂(x̃, σ) in σ-space (x̃ = x_t/√ᾱ_t): Euler's step x̃ + (σ_next - σ) ε̂, written out here
    on its own, gives DDIM's trajectory."""
    schedule = NoiseSchedule.create(kind, T)
    alphas_cumprod = schedule.alphas_cumprod_float64()
    x = torch.randn(SHAPE, generator=torch.Generator().manual_seed(SEED)).double()
    for step in ours(kind, "ddim", 20, prediction, "trailing"):
        ab = float(alphas_cumprod[step.t])
        ab_next = float(alphas_cumprod[step.t_prev]) if step.t_prev >= 0 else 1.0
        t = torch.full((SHAPE[0],), step.t)
        output = toy_denoiser(x, t).double()
        eps = output if prediction == "epsilon" else math.sqrt(1 - ab) * x + math.sqrt(ab) * output
        sigma, sigma_next = karras_sigma(ab), math.sqrt((1 - ab_next) / ab_next)
        x_ve = x / math.sqrt(ab) + (sigma_next - sigma) * eps
        # To 1e-6, plus what float32 leaves of DDIM's x̂0 = (x - √(1-ᾱ) ε̂)/√ᾱ where ᾱ ≈ 0 (cosine, t = 999:
        # √ᾱ = 5e-5, so one float32 spacing of x becomes 2e-3 in x̂0 and 3e-4 in the next x).
        rounding = 2 * torch.finfo(torch.float32).eps * float(x.abs().max()) * math.sqrt(ab_next / ab)
        torch.testing.assert_close(step.x.double(), x_ve * math.sqrt(ab_next), atol=1e-6 + rounding, rtol=1e-6)
        x = step.x.double()  # each step from the same input, as in the diffusers tests


def test_euler_ancestral_is_ddpm_respaced_and_ddim_with_eta_one():
    """σ_up² = σ_next²(σ² - σ_next²)/σ² is the DDPM posterior variance β̃ over ᾱ_next, and the
    deterministic part x̂0 + σ_down ε̂ its mean: the three samplers are one, step for step."""
    runs = {name: list(ours("cosine", name, 12, "v_prediction", "trailing")) for name in ("euler_ancestral", "ddpm")}
    runs["ddim"] = list(sample(toy_denoiser, NoiseSchedule.create("cosine", T), SHAPE, sampler="ddim", steps=12,
                               eta=1.0, prediction="v_prediction", generator=SEED))
    for a, b, c in zip(runs["euler_ancestral"], runs["ddpm"], runs["ddim"], strict=True):
        torch.testing.assert_close(a.x, b.x, atol=1e-5, rtol=1e-5)
        torch.testing.assert_close(a.x, c.x, atol=1e-5, rtol=1e-5)
