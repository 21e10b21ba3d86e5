import math

import pytest
import torch

from diffusion_core import NoiseSchedule, make_timesteps, sample


def toy_denoiser(x_t, t, labels):
    """A fixed, nontrivial ε-prediction of (x_t, t, labels)."""
    shift = 0.0 if labels is None else 0.1 * labels.clamp(min=0).float()[:, None]
    return 0.5 * torch.tanh(x_t) + 1e-4 * t.float()[:, None] + shift


@pytest.fixture(scope="module")
def schedule():
    return NoiseSchedule.create("linear", 200)


def run(*args, **kwargs):
    return list(sample(*args, **kwargs))


def test_steps_report_the_timesteps_in_order_and_end_at_minus_one(schedule):
    steps = run(toy_denoiser, schedule, (8, 2), sampler="ddim", steps=7, generator=0)
    assert [s.index for s in steps] == list(range(7))
    assert [s.t for s in steps] == make_timesteps(200, 7, "trailing")
    assert [s.t_prev for s in steps] == [s.t for s in steps[1:]] + [-1]
    assert all(s.num_steps == 7 and s.x.shape == (8, 2) for s in steps)


@pytest.mark.parametrize("spacing", ["trailing", "leading", "linspace"])
def test_previous_timestep_comes_from_the_list_for_uneven_gaps(spacing):
    ts = make_timesteps(1000, 30, spacing)  # 1000/30 is not an integer: gaps vary
    assert len(set(ts)) == 30 and ts == sorted(ts, reverse=True)
    steps = run(toy_denoiser, NoiseSchedule.create("linear", 1000), (4, 2), sampler="ddim", steps=30,
                spacing=spacing, generator=0)
    assert [s.t_prev for s in steps[:-1]] == ts[1:]


def test_spacings_start_where_each_definition_says():
    assert make_timesteps(1000, 10, "trailing")[0] == 999
    assert make_timesteps(1000, 10, "leading")[0] == 900
    assert make_timesteps(1000, 10, "linspace") [0] == 999
    assert make_timesteps(1000, 1000, "trailing") == list(range(999, -1, -1))


def test_same_seed_gives_the_same_trajectory_and_another_seed_does_not(schedule):
    a = run(toy_denoiser, schedule, (16, 2), sampler="ddpm", steps=20, generator=123)
    b = run(toy_denoiser, schedule, (16, 2), sampler="ddpm", steps=20, generator=torch.Generator().manual_seed(123))
    c = run(toy_denoiser, schedule, (16, 2), sampler="ddpm", steps=20, generator=124)
    assert all(torch.equal(p.x, q.x) for p, q in zip(a, b))
    assert not torch.equal(a[-1].x, c[-1].x)


def test_ddim_eta_zero_is_deterministic_given_x_T(schedule):
    x_T = torch.randn(32, 2, generator=torch.Generator().manual_seed(5))
    a = run(toy_denoiser, schedule, (32, 2), sampler="ddim", steps=25, eta=0.0, x_T=x_T, generator=1)
    b = run(toy_denoiser, schedule, (32, 2), sampler="ddim", steps=25, eta=0.0, x_T=x_T, generator=2)
    assert all(torch.equal(p.x, q.x) for p, q in zip(a, b))


def test_ddim_eta_one_over_all_steps_equals_ddpm_fixed_small(schedule):
    """DDIM eq. 16 with η=1 gives σ² = β̃_t and the same mean as DDPM's posterior, step by step."""
    x_T = torch.randn(64, 2, generator=torch.Generator().manual_seed(7))
    common = dict(steps=None, x_T=x_T, generator=3)
    ddim = run(toy_denoiser, schedule, (64, 2), sampler="ddim", eta=1.0, **common)
    ddpm = run(toy_denoiser, schedule, (64, 2), sampler="ddpm", variance="fixed_small", **common)
    assert len(ddim) == len(ddpm) == 200
    for p, q in zip(ddim, ddpm):
        assert torch.allclose(p.x, q.x, atol=1e-4), p.index


def test_ddim_eta_one_per_step_mean_and_variance_equal_the_ddpm_posterior():
    schedule = NoiseSchedule.create("cosine", 1000, dtype=torch.float64)
    for t in (999, 500, 3, 1):
        ab, ab_prev = schedule.alphas_cumprod[t].item(), schedule.alphas_cumprod[t - 1].item()
        sigma2 = (1 - ab_prev) / (1 - ab) * (1 - ab / ab_prev)
        assert sigma2 == pytest.approx(schedule.posterior_variance[t].item(), rel=1e-9)
        # With ε = (x_t - √ᾱ x0)/√(1-ᾱ): √ᾱ_prev x0 + √(1-ᾱ_prev-σ²) ε = c1 x0 + c2 x_t.
        x0, x_t = 0.7, -0.4
        eps = (x_t - math.sqrt(ab) * x0) / math.sqrt(1 - ab)
        ddim_mean = math.sqrt(ab_prev) * x0 + math.sqrt(1 - ab_prev - sigma2) * eps
        ddpm_mean = schedule.posterior_mean_coef1[t].item() * x0 + schedule.posterior_mean_coef2[t].item() * x_t
        assert ddim_mean == pytest.approx(ddpm_mean, rel=1e-9)


def test_ddpm_fixed_large_adds_more_noise_than_fixed_small(schedule):
    x_T = torch.zeros(20_000, 1)
    small = run(lambda x, t, y: torch.zeros_like(x), schedule, (20_000, 1), steps=10, x_T=x_T, generator=0)
    large = run(lambda x, t, y: torch.zeros_like(x), schedule, (20_000, 1), steps=10, x_T=x_T, generator=0,
                variance="fixed_large")
    ts = make_timesteps(200, 10)
    respaced = schedule.respace(ts, dtype=torch.float64)
    # First step: x = c2·x_T + σ z with x_T = 0, so the spread is exactly the chosen σ.
    assert small[0].x.std().item() == pytest.approx(respaced.posterior_variance[-1].sqrt().item(), rel=0.02)
    assert large[0].x.std().item() == pytest.approx(respaced.betas[-1].sqrt().item(), rel=0.02)


def test_cfg_makes_one_batched_call_per_step_and_combines_as_the_seeds_do(schedule):
    calls = []

    def counting(x_t, t, labels):
        calls.append((x_t.shape[0], labels.clone()))
        return toy_denoiser(x_t, t, labels)

    labels = torch.tensor([0, 1, 1, -1])
    x_T = torch.randn(4, 2, generator=torch.Generator().manual_seed(0))
    steps = run(counting, schedule, (4, 2), sampler="ddim", steps=5, labels=labels, guidance=2.0, x_T=x_T)
    assert len(calls) == 5 and all(batch == 8 for batch, _ in calls)
    assert calls[0][1].tolist() == [0, 1, 1, -1, -1, -1, -1, -1]

    # The first step's ε̂ is (1+w)·ε(x, c) - w·ε(x, ∅) from two separate calls.
    t = torch.full((4,), steps[0].t)
    expected = 3.0 * toy_denoiser(x_T, t, labels) - 2.0 * toy_denoiser(x_T, t, torch.full((4,), -1))
    assert torch.allclose(steps[0].eps, expected, atol=1e-6)


def test_guidance_zero_is_plain_conditional_with_one_unbatched_call(schedule):
    sizes = []

    def counting(x_t, t, labels):
        sizes.append(x_t.shape[0])
        return toy_denoiser(x_t, t, labels)

    plain = run(counting, schedule, (4, 2), sampler="ddim", steps=5, labels=1, guidance=0.0, generator=0)
    assert sizes == [4] * 5
    t = torch.full((4,), plain[0].t)
    x_T = torch.randn((4, 2), generator=torch.Generator().manual_seed(0))
    assert torch.allclose(plain[0].eps, toy_denoiser(x_T, t, torch.ones(4, dtype=torch.long)))


def test_classifier_gradient_shifts_ddpm_mean_by_variance_times_gradient(schedule):
    x_T = torch.randn(16, 2, generator=torch.Generator().manual_seed(0))
    gradient = torch.tensor([0.3, -0.2])
    plain = run(toy_denoiser, schedule, (16, 2), steps=4, x_T=x_T, generator=9)
    guided = run(toy_denoiser, schedule, (16, 2), steps=4, x_T=x_T, generator=9,
                 classifier_grad=lambda x, t, y: gradient.expand_as(x))
    variance = schedule.respace(make_timesteps(200, 4), dtype=torch.float64).posterior_variance[-1].item()
    assert torch.allclose(guided[0].x - plain[0].x, variance * gradient.expand(16, 2), atol=1e-6)


def test_classifier_gradient_corrects_ddim_eps_by_sqrt_one_minus_alpha_bar(schedule):
    x_T = torch.randn(16, 2, generator=torch.Generator().manual_seed(0))
    gradient = torch.tensor([0.3, -0.2])
    plain = run(toy_denoiser, schedule, (16, 2), sampler="ddim", steps=4, x_T=x_T)
    guided = run(toy_denoiser, schedule, (16, 2), sampler="ddim", steps=4, x_T=x_T,
                 classifier_grad=lambda x, t, y: gradient.expand_as(x))
    ab = schedule.alphas_cumprod[plain[0].t].item()
    assert torch.allclose(guided[0].eps - plain[0].eps, -math.sqrt(1 - ab) * gradient.expand(16, 2), atol=1e-6)


def test_classifier_gradient_may_use_autograd():
    target = torch.tensor([2.0, 0.0])

    def grad_log_p(x, t, labels):
        x = x.detach().requires_grad_(True)
        log_p = -((x - target) ** 2).sum()
        return torch.autograd.grad(log_p, x)[0]

    steps = run(toy_denoiser, NoiseSchedule.create("linear", 100), (8, 2), sampler="ddim", steps=10,
                classifier_grad=grad_log_p, generator=0)
    assert torch.isfinite(steps[-1].x).all()


def test_clip_range_bounds_every_x0_prediction(schedule):
    steps = run(lambda x, t, y: -5 * x, schedule, (32, 2), sampler="ddpm", steps=10, clip_range=(-1.0, 1.0),
                generator=0)
    assert all(s.x0.abs().max() <= 1.0 for s in steps)


def test_inference_mode_does_not_leak_to_the_consumer(schedule):
    for step in sample(toy_denoiser, schedule, (4, 2), steps=3, generator=0):
        assert not torch.is_inference_mode_enabled()
        assert step.x.is_inference()


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(sampler="euler"), "unknown sampler 'euler'"),
        (dict(steps=0), "steps must be an integer from 1 to 200"),
        (dict(steps=201), "from 1 to 200, got 201"),
        (dict(eta=1.5), "eta must be a number in \\[0, 1\\]"),
        (dict(guidance=float("nan")), "guidance weight must be a finite"),
        (dict(guidance=-1.0), "guidance weight"),
        (dict(spacing="uniform"), "unknown timestep spacing 'uniform'"),
        (dict(prediction="score"), "unknown prediction type 'score'"),
        (dict(variance="learnt"), "unknown variance type 'learnt'"),
        (dict(variance="learned"), "variance 'learned' needs a network that outputs its variance"),
        (dict(x_T=torch.zeros(3, 2)), "x_T has shape \\(3, 2\\), expected \\(4, 2\\)"),
        (dict(labels=torch.zeros(3, dtype=torch.long)), "labels must have shape \\(4,\\)"),
    ],
)
def test_bad_arguments_fail_at_call_time_naming_the_value(schedule, kwargs, message):
    with pytest.raises(ValueError, match=message):
        sample(toy_denoiser, schedule, (4, 2), **kwargs)


def test_sampling_follows_the_requested_device(schedule):
    devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    finals = []
    for device in devices:
        seen = []

        def spy(x, t, y):
            seen.append(x.device.type)
            return toy_denoiser(x, t, y)

        finals.append(run(spy, schedule, (8, 2), steps=5, generator=4, device=device)[-1].x.cpu())
        assert set(seen) == {torch.device(device).type}
    # The noise is drawn on the CPU generator, so every device starts from the same x_T.
    assert all(torch.allclose(finals[0], f, atol=1e-5) for f in finals)


@pytest.mark.parametrize("steps", [1, 2, 10, 37, 990, 1000])
@pytest.mark.parametrize("kind", ["linear", "cosine"])
def test_logsnr_spacing_gives_distinct_falling_timesteps_from_t_minus_1(kind, steps):
    alphas_cumprod = NoiseSchedule.create(kind, 1000).alphas_cumprod_float64()
    ts = make_timesteps(1000, steps, "logsnr", alphas_cumprod)
    assert len(ts) == steps and ts[0] == 999 and all(a > b for a, b in zip(ts, ts[1:]))
    assert ts[-1] == (min(10, 1000 - steps) if steps > 1 else 999)


def test_logsnr_spacing_is_even_in_log_snr_on_the_linear_schedule():
    alphas_cumprod = NoiseSchedule.create("linear", 1000).alphas_cumprod_float64()
    log_snr = 0.5 * torch.log(alphas_cumprod / (1 - alphas_cumprod))
    gaps = torch.diff(log_snr[make_timesteps(1000, 20, "logsnr", alphas_cumprod)])
    assert gaps.min() > 0 and gaps.max() / gaps.min() < 1.1  # even up to rounding to whole timesteps
    trailing = torch.diff(log_snr[make_timesteps(1000, 20, "trailing")])
    assert trailing.max() / trailing.min() > 2.5  # what trailing spacing does instead


def test_logsnr_spacing_needs_the_schedule():
    with pytest.raises(ValueError, match="logsnr spacing needs the schedule's alphas_cumprod"):
        make_timesteps(1000, 10, "logsnr")
    schedule = NoiseSchedule.create("linear", 200)
    steps = list(sample(lambda x, t, y: torch.zeros_like(x), schedule, (4, 2), sampler="ddim", steps=8,
                        spacing="logsnr", generator=0))
    assert [s.t for s in steps] == make_timesteps(200, 8, "logsnr", schedule.alphas_cumprod_float64())
