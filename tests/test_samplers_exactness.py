"""End to end: driven by the exact ε of a Gaussian mixture, each sampler must recover the mixture.

Targets set from diffusers' schedulers on the same mixture (an independent implementation): fresh true
samples score about 0.05 worst relative error on 4000 points.
"""

import pytest
import torch

from diffusion_core import NoiseSchedule, sample
from diffusion_core.analytic import GaussianMixture

N = 4000

MIXTURE = GaussianMixture(
    means=torch.tensor([[-2.0, -1.5], [-1.5, 2.0], [2.0, -2.0], [2.5, 1.5]]),
    stds=torch.tensor([0.2, 0.3, 0.25, 0.4]),
    weights=torch.tensor([0.2, 0.3, 0.35, 0.15]),
    classes=torch.tensor([0, 0, 1, 1]),
)


@pytest.fixture(scope="module")
def schedule():
    return NoiseSchedule.create("linear", 1000)


def final_sample(schedule, **kwargs):
    *_, last = sample(MIXTURE.denoiser(schedule), schedule, (N, 2), generator=2024, **kwargs)
    return last.x


def worst(errors):
    return max(errors.values())


def test_fresh_true_samples_score_the_calibration_figure():
    x, _ = MIXTURE.sample(N, torch.Generator().manual_seed(1))
    assert worst(MIXTURE.recovery_errors(x)) < 0.08


@pytest.mark.parametrize(
    "kwargs, bound",
    [
        (dict(sampler="ddpm", steps=None), 0.10),
        (dict(sampler="ddim", steps=50), 0.15),
        (dict(sampler="ddim", steps=250), 0.08),
        # The solvers, with bounds a little above what they reach here (and what diffusers' own
        # schedulers reach on the same mixture: `python -m bench.solver_exactness` prints both).
        # Their error at few steps is the spread of the tightest component: the last step returns
        # x̂0 at t = T/steps - 1 (trailing spacing), which shrinks it, whatever the order.
        (dict(sampler="dpmpp_2m", steps=10), 0.37),
        (dict(sampler="dpmpp_2m", steps=20), 0.28),
        (dict(sampler="dpmpp_2m", steps=50), 0.08),
        # Steps even in log-SNR (DPM-Solver's own choice) end at t = 10 rather than T/steps - 1, and
        # give the solvers the targets: DPM-Solver++(2M) 0.16 / 0.08 / 0.07 here.
        (dict(sampler="dpmpp_2m", steps=10, spacing="logsnr"), 0.20),
        (dict(sampler="dpmpp_2m", steps=20, spacing="logsnr"), 0.15),
        (dict(sampler="dpmpp_2m", steps=50, spacing="logsnr"), 0.08),
        (dict(sampler="heun", steps=10, spacing="logsnr"), 0.12),
        (dict(sampler="heun", steps=20), 0.22),
        (dict(sampler="heun", steps=50), 0.08),
        (dict(sampler="euler_ancestral", steps=50), 0.24),
        (dict(sampler="euler_ancestral", steps=250), 0.10),
    ],
    ids=["ddpm-all-T", "ddim-50", "ddim-250", "dpmpp-10", "dpmpp-20", "dpmpp-50", "dpmpp-10-logsnr",
         "dpmpp-20-logsnr", "dpmpp-50-logsnr", "heun-10-logsnr", "heun-20", "heun-50",
         "euler-a-50", "euler-a-250"],
)
def test_sampler_recovers_every_component_weight_mean_and_std(schedule, kwargs, bound):
    errors = MIXTURE.recovery_errors(final_sample(schedule, **kwargs))
    assert worst(errors) <= bound, errors


ALL_SAMPLERS = ["ddpm", "ddim", "dpmpp_2m", "heun", "euler_ancestral"]


@pytest.mark.parametrize("sampler", ALL_SAMPLERS)
def test_cfg_towards_one_class_keeps_samples_in_its_components(schedule, sampler):
    for label in (0, 1):
        x = final_sample(schedule, sampler=sampler, steps=100, labels=label, guidance=3.0)
        nearest = torch.cdist(x, MIXTURE.means).argmin(1)
        assert (MIXTURE.classes[nearest] != label).float().mean() <= 0.01


@pytest.mark.parametrize("sampler", ALL_SAMPLERS)
def test_classifier_guidance_with_the_exact_classifier_samples_the_conditional(schedule, sampler):
    """∇ log p(y|x_t) = ∇ log p(x_t|y) - ∇ log p(x_t): added to the unconditional score it gives p(x|y)."""
    exact = MIXTURE.denoiser(schedule)
    label = 1

    def grad_log_classifier(x, t, labels):
        sqrt_1m_ab = schedule.sqrt_one_minus_alphas_cumprod[t][:, None]
        conditional = exact(x, t, torch.full_like(t, label))
        return (exact(x, t, None) - conditional) / sqrt_1m_ab

    x = final_sample(schedule, sampler=sampler, steps=100, classifier_grad=grad_log_classifier)
    nearest = torch.cdist(x, MIXTURE.means).argmin(1)
    assert (MIXTURE.classes[nearest] != label).float().mean() <= 0.01
    # Within the class the two components keep their relative weights 0.35 : 0.15.
    assert (nearest == 2).float().mean().item() == pytest.approx(0.7, abs=0.04)
