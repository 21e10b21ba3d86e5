import pytest
import torch

from diffusion_core.models import FiLMMLP, MLPConfig
from diffusion_core.schedules import NoiseSchedule
from diffusion_core.weights.checkpoint import CheckpointConfig, CheckpointError, save_checkpoint
from diffusion_core.weights.pipeline import load_pipeline, resolve_checkpoint

pytestmark = pytest.mark.usefixtures("single_thread")


@pytest.fixture
def folder(tmp_path):
    torch.manual_seed(0)
    config = CheckpointConfig(
        model=MLPConfig(hidden=16, num_layers=2),
        schedule=NoiseSchedule.create("linear", 40).config(),
        class_names=("left", "right"),
        dataset="moons",
    )
    return save_checkpoint(tmp_path / "tiny", config, FiLMMLP(config.model).state_dict())


def test_pipeline_exposes_class_names_and_schedule(folder):
    pipe = load_pipeline(folder, device="cpu")
    assert pipe.class_names == ("left", "right")
    assert len(pipe.schedule) == 40


def test_ddpm_trajectory_visits_every_step_and_ddim_the_requested_number(folder):
    pipe = load_pipeline(folder, device="cpu")
    ddpm = list(pipe.trajectory(8, sampler="ddpm", seed=0))
    assert [s.t for s in ddpm] == list(range(39, -1, -1))
    ddim = list(pipe.trajectory(8, sampler="ddim", steps=5, seed=0))
    assert len(ddim) == 5 and ddim[-1].t_prev == -1 and ddim[-1].x.shape == (8, 2)


def test_generate_returns_the_last_trajectory_step_and_is_reproducible_by_seed(folder):
    pipe = load_pipeline(folder, device="cpu")
    last = list(pipe.trajectory(16, sampler="ddim", steps=4, label="right", guidance=2.0, seed=3))[-1].x
    points = pipe.generate(16, sampler="ddim", steps=4, label=1, guidance=2.0, seed=3)
    assert torch.equal(points, last)
    assert not torch.equal(points, pipe.generate(16, sampler="ddim", steps=4, label=1, guidance=2.0, seed=4))


def test_label_accepts_names_indices_and_none_and_rejects_others(folder):
    pipe = load_pipeline(folder, device="cpu")
    assert pipe.label_index("left") == 0 and pipe.label_index(1) == 1 and pipe.label_index(None) is None
    with pytest.raises(ValueError, match="unknown class 'up'; choose one of \\['left', 'right'\\]"):
        pipe.label_index("up")
    with pytest.raises(ValueError, match="integer in \\[0, 1\\] or None, got 2"):
        pipe.label_index(2)


def test_an_unknown_checkpoint_name_lists_what_is_available(tmp_path):
    with pytest.raises(CheckpointError, match="no checkpoint 'nothing'.*available: none"):
        resolve_checkpoint("nothing", root=tmp_path)


def test_shipped_moons_checkpoint_samples_close_to_the_data_and_obeys_labels():
    from diffusion_core.data import toy_dataset
    from diffusion_core.evaluation.metrics import class_conformity, sliced_wasserstein_ratio

    pipe = load_pipeline("moons", device="cpu")
    assert pipe.class_names == ("upper moon", "lower moon")
    fresh = [toy_dataset("moons", 2000, seed)[0] for seed in (101, 102, 103)]
    generated = pipe.generate(2000, sampler="ddim", steps=50, seed=0)
    # Loose: 2000 points make the ratio noisy; the full figures come from `train_toy.py eval`.
    assert sliced_wasserstein_ratio(generated, fresh, num_directions=64).ratio < 2.5
    reference, labels = toy_dataset("moons", 4000, seed=104)
    for index in (0, 1):
        points = pipe.generate(500, sampler="ddim", steps=50, label=index, guidance=3.0, seed=1)
        assert class_conformity(points, index, reference, labels) > 0.97
