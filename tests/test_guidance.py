"""Classifier guidance with a trained noise-aware classifier: its gradient, the two corrections, the pipeline."""

import math

import pytest
import torch

from diffusion_core.data import draw_toy
from diffusion_core.guidance import GuideTraining, accuracy_by_timestep, classifier_gradient, train_guide
from diffusion_core.models.guide import GuideConfig, ImageGuide, PointGuide, build_guide
from diffusion_core.samplers import make_timesteps, sample
from diffusion_core.schedules import NoiseSchedule

SCHEDULE = NoiseSchedule.create("cosine", 200)
LINEAR = NoiseSchedule.create("linear", 200)  # x̂0 stays moderate at T-1, so float32 differences stay exact


def moons(n, generator):
    return draw_toy("moons", n, generator)


@pytest.fixture(scope="module")
def trained_guide():
    torch.manual_seed(0)
    guide = PointGuide(GuideConfig(hidden=32, num_layers=2))
    train_guide(guide, SCHEDULE, moons, GuideTraining(steps=300, batch_size=256, lr=3e-3, warmup_steps=20))
    return guide


def test_a_trained_guide_knows_the_class_at_low_noise_and_guesses_at_pure_noise(trained_guide):
    x0, labels = draw_toy("moons", 2000, torch.Generator().manual_seed(5))
    accuracy = accuracy_by_timestep(trained_guide, SCHEDULE, x0, labels, (0, 199))
    assert accuracy[0] >= 0.97
    assert abs(accuracy[199] - 0.5) <= 0.05


def test_the_gradient_is_scale_times_grad_log_softmax_of_the_chosen_class(trained_guide):
    x = torch.randn(6, 2, dtype=torch.float64)
    t = torch.tensor([0, 20, 50, 100, 150, 199])
    labels = torch.tensor([0, 1, 0, 1, 0, 1])
    guide = trained_guide.double()
    try:
        found = classifier_gradient(guide, 2.5)(x, t, labels)
        # Central differences of log p(y | x, t), coordinate by coordinate.
        h = 1e-6
        expected = torch.zeros_like(x)
        for d in range(2):
            step = torch.zeros_like(x)
            step[:, d] = h
            with torch.no_grad():
                up = torch.log_softmax(guide(x + step, t), 1).gather(1, labels[:, None])[:, 0]
                down = torch.log_softmax(guide(x - step, t), 1).gather(1, labels[:, None])[:, 0]
            expected[:, d] = 2.5 * (up - down) / (2 * h)
    finally:
        trained_guide.float()
    assert torch.allclose(found, expected, atol=1e-6)


def test_unconditional_rows_and_scale_zero_get_no_gradient(trained_guide):
    x, t = torch.randn(4, 2), torch.full((4,), 10)
    found = classifier_gradient(trained_guide, 3.0)(x, t, torch.tensor([0, -1, 1, -1]))
    assert torch.equal(found[[1, 3]], torch.zeros(2, 2)) and found[[0, 2]].abs().sum() > 0
    assert torch.equal(classifier_gradient(trained_guide, 0.0)(x, t, torch.zeros(4, dtype=torch.long)),
                       torch.zeros(4, 2))


@pytest.mark.parametrize("scale", [-1.0, float("nan"), float("inf")])
def test_a_bad_scale_is_refused_naming_it(trained_guide, scale):
    with pytest.raises(ValueError, match="classifier scale must be a finite number >= 0"):
        classifier_gradient(trained_guide, scale)


def denoiser(x, t, labels):
    return 0.3 * x


def first_steps(sampler, classifier_grad, labels):
    x_T = torch.randn(64, 2, generator=torch.Generator().manual_seed(1))
    return next(iter(sample(denoiser, LINEAR, (64, 2), sampler=sampler, steps=10, labels=labels, x_T=x_T,
                            generator=3, classifier_grad=classifier_grad)))


def test_guided_ddpm_mean_is_the_mean_plus_sigma_times_the_trained_gradient(trained_guide):
    labels = torch.randint(0, 2, (64,), generator=torch.Generator().manual_seed(2))
    gradient = classifier_gradient(trained_guide, 4.0)
    plain, guided = first_steps("ddpm", None, labels), first_steps("ddpm", gradient, labels)
    x_T = torch.randn(64, 2, generator=torch.Generator().manual_seed(1))
    t = torch.full((64,), plain.t)
    variance = LINEAR.respace(make_timesteps(200, 10), dtype=torch.float64).posterior_variance[-1].item()
    # Same noise, so the samples differ by the shift of the mean alone.
    assert torch.allclose(guided.x - plain.x, variance * gradient(x_T, t, labels), atol=1e-6)


def test_guided_ddim_eps_is_corrected_by_sqrt_one_minus_alpha_bar_times_the_trained_gradient(trained_guide):
    labels = torch.randint(0, 2, (64,), generator=torch.Generator().manual_seed(2))
    gradient = classifier_gradient(trained_guide, 4.0)
    plain, guided = first_steps("ddim", None, labels), first_steps("ddim", gradient, labels)
    x_T = torch.randn(64, 2, generator=torch.Generator().manual_seed(1))
    t = torch.full((64,), plain.t)
    sqrt_1m_ab = math.sqrt(1 - LINEAR.alphas_cumprod_float64()[plain.t].item())
    assert torch.allclose(guided.eps - plain.eps, -sqrt_1m_ab * gradient(x_T, t, labels), atol=1e-5)


def test_an_image_guide_takes_images_and_timesteps_to_logits():
    torch.manual_seed(0)
    guide = build_guide(GuideConfig(kind="images", num_classes=62, hidden=16))
    assert isinstance(guide, ImageGuide)
    logits = guide(torch.randn(3, 1, 28, 28), torch.tensor([0, 500, 999]))
    assert logits.shape == (3, 62) and torch.isfinite(logits).all()


@pytest.mark.parametrize("fields, message", [
    (dict(kind="voxels"), "kind 'voxels' is not one of points, images"),
    (dict(num_classes=1), "num_classes must be at least 2"),
    (dict(hidden=0), "hidden must be a positive integer"),
    (dict(kind="images", image_size=30), "image_size divisible by 4"),
])
def test_a_bad_guide_config_is_refused_naming_the_field(fields, message):
    with pytest.raises(ValueError, match=message):
        GuideConfig(**fields)


def test_the_gradient_works_inside_a_callers_inference_mode(trained_guide):
    x, t, labels = torch.randn(4, 2), torch.full((4,), 30), torch.tensor([0, 1, 0, 1])
    expected = classifier_gradient(trained_guide, 2.0)(x, t, labels)
    with torch.inference_mode():
        inside = classifier_gradient(trained_guide, 2.0)(torch.randn(4, 2) * 0 + x, t.clone(), labels.clone())
    assert torch.allclose(inside, expected)
    with torch.inference_mode():  # and the whole guided sampler, as a caller's inference mode leaves it
        steps = list(sample(denoiser, LINEAR, (8, 2), sampler="ddim", steps=3, labels=0, generator=0,
                            classifier_grad=classifier_gradient(trained_guide, 2.0)))
    assert torch.isfinite(steps[-1].x).all()


@pytest.mark.parametrize("fields, message", [
    (dict(warmup_steps=0), "warmup_steps must be a positive integer"),
    (dict(weight_decay=-1.0), "weight_decay must be >= 0"),
    (dict(lr=0.0), "lr must be > 0"),
])
def test_bad_guide_training_settings_are_refused_naming_them(fields, message):
    with pytest.raises(ValueError, match=message):
        GuideTraining(**fields)
