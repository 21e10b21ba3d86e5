"""The forward process in closed form: every frame has q(x_t | x_0)'s moments, the last is standard
normal, and the schedule curves agree with their definitions."""

import math

import numpy as np
import pytest
import torch

from diffusion_core import BETA_SCHEDULES, NoiseSchedule
from diffusion_core.forward import forward_frames, forward_timesteps, schedule_curves

N = 20_000


@pytest.mark.parametrize("kind", BETA_SCHEDULES)
def test_each_frame_has_the_closed_form_mean_and_variance_of_q(kind):
    schedule = NoiseSchedule.create(kind, 1000)
    x0 = torch.tensor([1.5, -0.5]).expand(N, 2)  # one data point, many draws of its noised copy
    alphas_cumprod = schedule.alphas_cumprod_float64()
    for t, x_t in forward_frames(x0, schedule, [0, 250, 500, 999], torch.Generator().manual_seed(0)):
        ab = float(alphas_cumprod[t])
        # Sampling error of a mean over N draws: 4 standard errors; of a variance: 4·√(2/N) relative.
        assert torch.allclose(x_t.mean(0).double(), math.sqrt(ab) * x0[0].double(), atol=4 * math.sqrt((1 - ab) / N))
        assert torch.allclose(x_t.var(0).double(), torch.full((2,), 1 - ab, dtype=torch.float64),
                              rtol=4 * math.sqrt(2 / N), atol=1e-12)


@pytest.mark.parametrize("kind", BETA_SCHEDULES)
def test_at_t_T_minus_1_the_data_is_gone_standard_normal(kind):
    schedule = NoiseSchedule.create(kind, 1000)
    x0 = torch.randn(N, 2, generator=torch.Generator().manual_seed(1)) * 0.3 + torch.tensor([2.0, -1.0])
    (_, x_last), = forward_frames(x0, schedule, [999], torch.Generator().manual_seed(2))
    assert x_last.mean(0).abs().max() < 0.05 + 2.0 * math.sqrt(float(schedule.alphas_cumprod_float64()[999]))
    assert (x_last.var(0) - 1).abs().max() < 0.05
    # Uncorrelated with the data it came from, for the schedules that end near ᾱ = 0.
    if float(schedule.alphas_cumprod_float64()[999]) < 1e-3:
        assert abs(float(torch.corrcoef(torch.stack([x0[:, 0], x_last[:, 0]]))[0, 1])) < 0.05


def test_the_frames_share_one_noise_so_each_point_moves_smoothly():
    schedule = NoiseSchedule.create("cosine", 1000)
    x0 = torch.randn(500, 2, generator=torch.Generator().manual_seed(3))
    frames = list(forward_frames(x0, schedule, forward_timesteps(1000, 60), torch.Generator().manual_seed(4)))
    assert [t for t, _ in frames][:2] == [0, 17] and frames[-1][0] == 999 and len(frames) == 60
    jumps = [float((b - a).norm(dim=1).max()) for (_, a), (_, b) in zip(frames, frames[1:])]
    assert max(jumps) < 0.5  # no frame re-draws the noise
    with pytest.raises(ValueError, match="outside"):
        list(forward_frames(x0, schedule, [1000], torch.Generator()))


@pytest.mark.parametrize("kind", BETA_SCHEDULES)
def test_schedule_curves_follow_their_definitions(kind):
    schedule = NoiseSchedule.create(kind, 200)
    curves = schedule_curves(schedule)
    assert np.allclose(curves["alpha_bar"], np.cumprod(1 - curves["beta"]), rtol=1e-6)
    assert np.all(np.diff(curves["log_snr"]) < 0)  # the signal only fades
    assert np.allclose(curves["log_snr"], np.log(curves["alpha_bar"] / (1 - curves["alpha_bar"])))
