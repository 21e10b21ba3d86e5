"""diffusion_core.weights.pipeline.smoke_test: one sampling step that a model must pass before it is installed
or served, and the shipped checkpoints passing it within the loader's limits."""

import pytest
import torch

from diffusion_core.models import MLPConfig, UNetConfig
from diffusion_core.schedules import NoiseSchedule
from diffusion_core.weights.checkpoint import CheckpointConfig, CheckpointError, list_checkpoints, load_model
from diffusion_core.weights.pipeline import CHECKPOINTS_DIR, Pipeline, smoke_test

pytestmark = pytest.mark.usefixtures("single_thread")


def overflowing_pipeline() -> Pipeline:
    """Finite weights (3e38, the float32 edge) whose first layer overflows to inf, then NaN."""
    config = CheckpointConfig(MLPConfig(hidden=16, num_layers=1), NoiseSchedule.create("linear", 20).config(),
                              ("a", "b"), "moons", clip_range=(-3.0, 3.0))
    model = config.build_model()
    with torch.no_grad():
        model.input.weight.fill_(3e38)
        model.output.weight.fill_(3e38)
    return Pipeline(model, config, "cpu")


def test_a_model_whose_finite_weights_overflow_is_refused():
    pipeline = overflowing_pipeline()
    assert all(torch.isfinite(v).all() for v in pipeline.model.state_dict().values())
    with pytest.raises(CheckpointError, match=r"one DDIM step of this moons model gives non-finite x \(NaN or inf\)"):
        smoke_test(pipeline)


def test_a_network_that_cannot_take_a_sampling_step_is_refused():
    config = CheckpointConfig(UNetConfig(channels=(8, 32), head_dim=8, cond_dim=16, time_dim=8, num_classes=10),
                              NoiseSchedule.create("linear", 20).config(), tuple("0123456789"), "emnist",
                              architecture="UNet")

    class Cropping(torch.nn.Module):  # a denoiser answering (B, 1, 14, 14) for (B, 1, 28, 28)
        def __init__(self, inner):
            super().__init__()
            self.inner = inner

        def forward(self, x, t, labels=None):
            return self.inner(x, t, labels)[..., :14, :14]

    pipeline = Pipeline(Cropping(config.build_model()), config, "cpu")
    with pytest.raises(CheckpointError, match=r"one DDIM step of this emnist model failed: The size of tensor"):
        smoke_test(pipeline)


@pytest.mark.parametrize("folder", list_checkpoints(CHECKPOINTS_DIR), ids=lambda folder: folder.name)
def test_every_shipped_checkpoint_loads_within_the_limits_and_passes_the_smoke_test(folder):
    model, config = load_model(folder)
    assert smoke_test(Pipeline(model, config, "cpu")) is None
