"""Min-SNR-γ loss weighting (training.min_snr_weight): one weighting of the x0 error, whatever the target."""

import pytest
import torch

from diffusion_core.parameterization import prediction_target, to_x0_eps
from diffusion_core.schedules import NoiseSchedule
from diffusion_core.training import TrainConfig, Trainer, min_snr_weight


def test_the_weight_is_one_where_the_snr_is_below_gamma_and_gamma_over_snr_above_for_epsilon():
    schedule = NoiseSchedule.create("linear", 1000)
    ab = schedule.alphas_cumprod.double()
    snr = ab / (1 - ab)
    weights = min_snr_weight(ab, "epsilon", 5.0)
    low, high = snr < 5.0, snr > 5.0
    assert low.any() and high.any()
    assert torch.allclose(weights[low], torch.ones_like(weights[low]))
    assert torch.allclose(weights[high], 5.0 / snr[high])


@pytest.mark.parametrize("prediction", ["epsilon", "sample", "v_prediction"])
def test_each_target_weighted_is_the_same_clipped_snr_times_the_x0_error(prediction):
    # For one network guess, the weighted loss of any target equals min(SNR, γ)·‖x̂0 − x0‖².
    schedule = NoiseSchedule.create("cosine", 1000)
    g = torch.Generator().manual_seed(0)
    t = torch.randint(1, 999, (64,), generator=g)
    x0, eps = torch.randn(64, 2, generator=g), torch.randn(64, 2, generator=g)
    ab = schedule.alphas_cumprod[t].double()
    a, b = ab.sqrt()[:, None], (1 - ab).sqrt()[:, None]  # in float64, so that a² + b² = 1 holds to the last bits
    x0, eps = x0.double(), eps.double()
    x_t = a * x0 + b * eps
    eps_guess = eps + 0.3 * torch.randn(64, 2, generator=g).double()
    x0_guess, _ = to_x0_eps(eps_guess, x_t, a, b, "epsilon")
    guess = {"epsilon": eps_guess, "sample": x0_guess, "v_prediction": a * eps_guess - b * x0_guess}[prediction]
    target = prediction_target(prediction, x0, eps, a, b)
    weighted = min_snr_weight(ab, prediction, 5.0) * (guess - target).square().sum(1)
    expected = (ab / (1 - ab)).clamp(max=5.0) * (x0_guess - x0).square().sum(1)
    assert torch.allclose(weighted, expected, rtol=1e-9)


def test_a_gamma_above_every_snr_leaves_the_epsilon_loss_as_plain_mse():
    schedule = NoiseSchedule.create("linear", 100)
    shared = torch.nn.Linear(2, 2)

    class Net(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.linear = shared  # one network's outputs for the three trainers

        def forward(self, x, t, labels=None):
            return self.linear(x)

    data = lambda n, g: (torch.randn(n, 2, generator=g), None)  # noqa: E731
    plain = Trainer(Net(), schedule, data, TrainConfig(steps=1, batch_size=256))
    huge = Trainer(Net(), schedule, data, TrainConfig(steps=1, batch_size=256, min_snr_gamma=1e12))
    weighted = Trainer(Net(), schedule, data, TrainConfig(steps=1, batch_size=256, min_snr_gamma=1.0))
    batch = torch.randn(256, 2)
    losses = [trainer.loss(batch, None).item() for trainer in (plain, huge, weighted)]
    assert losses[0] == pytest.approx(losses[1], rel=1e-6)
    assert losses[2] < losses[0]  # the low-noise steps' ε error is weighted down


@pytest.mark.parametrize("gamma", [-1.0, float("nan"), float("inf")])
def test_a_bad_gamma_is_refused(gamma):
    with pytest.raises(ValueError, match="min_snr_gamma must be >= 0"):
        TrainConfig(min_snr_gamma=gamma)
