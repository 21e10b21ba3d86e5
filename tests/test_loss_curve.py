"""The loss curve beside a checkpoint: window means of the training loss, the per-timestep loss against
closed forms, the file train_toy.py writes and the app's chart of it."""

import json

import pytest
import torch
from torch import nn

import train_toy
from diffusion_core.demo.tables import loss_figure
from diffusion_core.schedules import NoiseSchedule
from diffusion_core.training import loss_curve, timestep_losses
from diffusion_core.weights.curves import LOSS_CURVE_NAME, read_loss_curve, write_loss_curve


class Zero(nn.Module):
    """Predicts 0 whatever it sees."""

    def __init__(self):
        super().__init__()
        self.unused = nn.Parameter(torch.zeros(1))

    def forward(self, x, t, labels):
        return torch.zeros_like(x)


def test_window_means_by_hand():
    assert loss_curve([1.0, 3.0, 5.0, 7.0, 9.0], points=2) == ([3, 5], [3.0, 8.0])
    assert loss_curve([2.0, 4.0], points=10) == ([1, 2], [2.0, 4.0]) and loss_curve([]) == ([], [])


@pytest.mark.parametrize(("prediction", "expected"), [("epsilon", 1.0), ("sample", 4.0)])
def test_a_model_that_predicts_zero_has_the_closed_form_loss_in_every_band(prediction, expected):
    # ε-target: E[ε²] = 1; x0-target: E[x0²] = 2² for data at ±2.
    x0 = torch.full((20_000, 2), 2.0) * torch.where(torch.rand(20_000, 1) < 0.5, 1.0, -1.0)
    losses = timestep_losses(Zero(), NoiseSchedule.create("cosine", 1000), prediction, x0, None, buckets=8)
    assert len(losses) == 8 and all(abs(v - expected) < 0.03 * expected for v in losses)


def test_the_v_target_of_a_zero_model_grows_with_t_as_the_closed_form_says():
    # v = √ᾱ ε − √(1−ᾱ) x0, so E[v²] = ᾱ + (1−ᾱ)·E[x0²]: with x0 = ±2, from ≈1 at t = 0 to ≈4 at t = T.
    x0 = torch.full((20_000, 1), 2.0)
    losses = timestep_losses(Zero(), NoiseSchedule.create("cosine", 1000), "v_prediction", x0, None, buckets=10)
    assert losses[0] < 1.3 and losses[-1] > 3.7 and all(a < b for a, b in zip(losses, losses[1:]))


def test_train_writes_the_curve_and_eval_refreshes_it_for_the_app(tmp_path):
    out = tmp_path / "moons"
    train_toy.main(["train", "moons", "--out", str(out), "--steps", "40", "--batch-size", "64", "--hidden", "16",
                    "--layers", "1", "--timesteps", "50", "--quiet"])
    record = read_loss_curve(out)
    assert record["steps"][-1] == 40 and len(record["loss"]) == 40 and len(record["timestep_loss"]) == 20
    assert record["timestep_edges"][0] == 0 and record["timestep_edges"][-1] == 50
    (out / LOSS_CURVE_NAME).unlink()
    schedule = NoiseSchedule.create("cosine", 50)
    again = write_loss_curve(out, Zero(), schedule, "epsilon", torch.randn(500, 2), None)
    assert again["steps"] == record["steps"]  # the step curve read back from the local training state
    figure = loss_figure(json.loads((out / LOSS_CURVE_NAME).read_text()))
    assert [trace.type for trace in figure.data] == ["scatter", "bar"]
    assert loss_figure(None) is None and loss_figure({"steps": []}) is None
