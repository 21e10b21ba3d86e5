"""Our schedules and samplers against diffusers' DDPMScheduler and DDIMScheduler, step by step.

diffusers is a dev-only dependency and serves here as an independent reference. Both
get the same toy denoiser, the same x_T and the same per-step noise (an identically
seeded CPU generator, drawn in the same order); at every step diffusers updates our
x_t, so each update is compared on the same input and float32 rounding does not
compound. Every x_{t_prev} and x̂0 must agree to 1e-5 in float32 (see RTOL for the one
family of trajectories that grows to |x| ~ 1e3).

diffusers stores β and ᾱ in float32 and forms its step coefficients from them, which
near the end of the cosine schedule loses more than 1e-5 on its own: β_999 = 0.999 is
stored as 0.99900001, so ᾱ_999 ≈ 2.4e-9 is off by 1.3e-5 relative, and DDIM's
1 - ᾱ_prev - σ² ≈ 9.6e-8 (η = 1, t = 999 -> 899) comes out as 1.19e-7. Measured on
cosine, ε, clipped, η = 1: diffusers as shipped is 1e-4 from an all-float64 run, ours,
which forms the coefficients in float64, 4e-7. So the tables are compared with
diffusers' own float32 ones, and the step tests hand diffusers the float64 ᾱ, so that
they compare the update rules.
"""

from __future__ import annotations

import pytest
import torch

diffusers = pytest.importorskip("diffusers")

from diffusion_core import NoiseSchedule, make_timesteps, sample  # noqa: E402

T = 1000
ATOL = 1e-5
# Unclipped ε with the cosine schedule divides by √ᾱ_999 ≈ 5e-5, so those trajectories reach
# |x| ~ 1e3, where float32 spacing is 6e-5; there the agreement asked for is ~8 float32 ulps.
RTOL = 1e-6
SHAPE = (8, 1, 4, 4)
SEED = 1234
CLIP_RANGE = (-1.0, 1.0)
# Our schedule name -> diffusers' `beta_schedule`; DDIMScheduler has no "sigmoid".
DIFFUSERS_BETA_SCHEDULE = {"linear": "linear", "cosine": "squaredcos_cap_v2", "sigmoid": "sigmoid"}


def toy_denoiser(x: torch.Tensor, t: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
    """A fixed nonlinear function of (x_t, t) standing in for a trained network; x: (B, ...), t: (B,)."""
    s = (t.to(x.dtype) / T).reshape(-1, *([1] * (x.dim() - 1)))
    return 0.9 * x + 0.3 * torch.sin(3.0 * x) * s + 0.1 * (1.0 - s)


def diffusers_config(kind: str, prediction: str, clip: bool, spacing: str) -> dict:
    """diffusers scheduler settings equal to our `NoiseSchedule.create(kind, T)` and sampler options."""
    return {
        "num_train_timesteps": T,
        "beta_start": 1e-4,
        "beta_end": 0.02,
        "beta_schedule": DIFFUSERS_BETA_SCHEDULE[kind],
        "prediction_type": prediction,
        "clip_sample": clip,
        "clip_sample_range": 1.0,
        "timestep_spacing": spacing,
        "steps_offset": 0,
    }


def reference_scheduler(scheduler_class: type, kind: str, steps: int, **config) -> diffusers.SchedulerMixin:
    """A diffusers scheduler set to `steps` timesteps, stepping with float64 ᾱ (see module docstring)."""
    scheduler = scheduler_class(**config)
    scheduler.set_timesteps(steps)
    scheduler.alphas_cumprod = NoiseSchedule.create(kind, T, dtype=torch.float64).alphas_cumprod
    return scheduler


def ddim_step(
    scheduler: diffusers.DDIMScheduler,
    model_output: torch.Tensor,
    t: torch.Tensor,
    x: torch.Tensor,
    t_prev: int,
    **kwargs,
) -> diffusers.schedulers.scheduling_ddim.DDIMSchedulerOutput:
    """diffusers' DDIM step from timestep `t` to `t_prev`, the next timestep of our list.

    DDIMScheduler takes the previous timestep to be t - T // num_inference_steps rather
    than reading it from its list. That is right for `leading`, and for `trailing` when
    T is divisible by the step count, but not for `linspace` (T = 1000, 10 steps: it
    steps 999 -> 899 while its list goes 999 -> 888). Our sampler reads t_prev from the
    list, which is what the spacing means. Rather than copy diffusers' update, this sets
    `num_inference_steps` to a k with T // k == t - t_prev for this one step, which
    leaves every line of the update as diffusers wrote it; where no such k exists the
    case cannot be compared exactly, and the assertion says so.
    """
    gap = int(t) - t_prev
    # Any negative previous timestep means "ᾱ_prev = 1" to diffusers, as -1 does to us.
    if max(int(t) - T // scheduler.num_inference_steps, -1) != t_prev:
        k = next((k for k in range(1, T + 1) if T // k == gap), None)
        assert k is not None, f"no num_inference_steps makes DDIMScheduler step {int(t)} -> {t_prev}"
        scheduler.num_inference_steps = k
    return scheduler.step(model_output, t, x, **kwargs)


@pytest.mark.parametrize("kind", ["linear", "cosine", "sigmoid"])
def test_betas_and_alphas_cumprod_equal_diffusers_float32_tables(kind):
    ours = NoiseSchedule.create(kind, T)
    theirs = diffusers.DDPMScheduler(**diffusers_config(kind, "epsilon", False, "leading"))
    torch.testing.assert_close(ours.betas, theirs.betas, atol=1e-8, rtol=0)
    # diffusers multiplies 1000 float32 factors; ours is the float64 product cast once.
    torch.testing.assert_close(ours.alphas_cumprod, theirs.alphas_cumprod, atol=1e-6, rtol=0)


@pytest.mark.parametrize("spacing", ["trailing", "leading", "linspace"])
@pytest.mark.parametrize("steps", [1, 7, 10, 25, 333, 1000])
def test_make_timesteps_equals_diffusers_timestep_spacing(spacing, steps):
    config = diffusers_config("linear", "epsilon", False, spacing)
    for scheduler in (diffusers.DDPMScheduler(**config), diffusers.DDIMScheduler(**config)):
        scheduler.set_timesteps(steps)
        assert make_timesteps(T, steps, spacing) == scheduler.timesteps.tolist()


@pytest.mark.parametrize("kind", ["linear", "cosine", "sigmoid"])
@pytest.mark.parametrize("prediction", ["epsilon", "sample", "v_prediction"])
@pytest.mark.parametrize("clip", [False, True])
@pytest.mark.parametrize("variance", ["fixed_small", "fixed_large"])
@pytest.mark.parametrize(("spacing", "steps"), [("trailing", 10), ("leading", 25), ("linspace", 12)])
def test_respaced_ddpm_equals_diffusers_ddpm_scheduler_at_every_step(
    kind, prediction, clip, variance, spacing, steps
):
    # With num_inference_steps set, DDPMScheduler reads each previous timestep from its
    # list, so it runs the respaced chain exactly (as `set_timesteps(timesteps=...)` would).
    config = diffusers_config(kind, prediction, clip, spacing)
    scheduler = reference_scheduler(diffusers.DDPMScheduler, kind, steps, **config, variance_type=variance)
    generator = torch.Generator().manual_seed(SEED)
    x = torch.randn(SHAPE, generator=generator)
    ours = sample(
        toy_denoiser,
        NoiseSchedule.create(kind, T),
        SHAPE,
        sampler="ddpm",
        steps=steps,
        prediction=prediction,
        clip_range=CLIP_RANGE if clip else None,
        spacing=spacing,
        generator=SEED,
        variance=variance,
    )
    for step, t in zip(ours, scheduler.timesteps, strict=True):
        assert step.t == int(t)
        # DDPM's posterior mean is written in (x̂0, x_t), with no ε, so diffusers' clipped
        # x̂0 enters it directly: the same as our ε re-derived from the clipped x̂0.
        out = scheduler.step(toy_denoiser(x, t.expand(SHAPE[0])), t, x, generator=generator)
        torch.testing.assert_close(step.x0, out.pred_original_sample, atol=ATOL, rtol=RTOL)
        if step.t_prev >= 0:
            expected = out.prev_sample
        else:
            # diffusers adds noise whenever the training timestep t > 0, so a trailing
            # list (last t = 99) gets noise even on its final step (fixed_large: √(1-ᾱ_t) z).
            # Ours follows DDPM Algorithm 2, z = 0 on the last step. With ᾱ_prev = 1 the
            # posterior mean is x̂0 exactly (coef1 = 1, coef2 = 0), so our final sample is
            # diffusers' noiseless mean, its pred_original_sample.
            expected = out.pred_original_sample
        torch.testing.assert_close(step.x, expected, atol=ATOL, rtol=RTOL)
        x = step.x


@pytest.mark.parametrize("kind", ["linear", "cosine"])
@pytest.mark.parametrize("prediction", ["epsilon", "sample", "v_prediction"])
@pytest.mark.parametrize("clip", [False, True])
@pytest.mark.parametrize("eta", [0.0, 0.5, 1.0])
@pytest.mark.parametrize(("spacing", "steps"), [("trailing", 10), ("leading", 7), ("linspace", 10)])
def test_ddim_equals_diffusers_ddim_scheduler_at_every_step(kind, prediction, clip, eta, spacing, steps):
    scheduler = reference_scheduler(
        diffusers.DDIMScheduler, kind, steps, **diffusers_config(kind, prediction, clip, spacing)
    )
    generator = torch.Generator().manual_seed(SEED)
    x = torch.randn(SHAPE, generator=generator)
    ours = sample(
        toy_denoiser,
        NoiseSchedule.create(kind, T),
        SHAPE,
        sampler="ddim",
        steps=steps,
        eta=eta,
        prediction=prediction,
        clip_range=CLIP_RANGE if clip else None,
        spacing=spacing,
        generator=SEED,
    )
    for step, t in zip(ours, scheduler.timesteps, strict=True):
        assert step.t == int(t)
        # For η > 0 diffusers also draws (and multiplies by σ = 0) on its last step; being
        # last, that draw shifts nothing, so one generator serves both.
        out = ddim_step(
            scheduler,
            toy_denoiser(x, t.expand(SHAPE[0])),
            t,
            x,
            step.t_prev,
            eta=eta,
            use_clipped_model_output=True,
            generator=generator,
        )
        torch.testing.assert_close(step.x0, out.pred_original_sample, atol=ATOL, rtol=RTOL)
        torch.testing.assert_close(step.x, out.prev_sample, atol=ATOL, rtol=RTOL)
        x = step.x
