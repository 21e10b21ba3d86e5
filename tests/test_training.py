import pytest
import torch

from diffusion_core import NoiseSchedule
from diffusion_core.data import draw_toy
from diffusion_core.models import FiLMMLP, MLPConfig
from diffusion_core.training import TrainConfig, Trainer, ema_decay_at, learning_rate

pytestmark = pytest.mark.usefixtures("single_thread")


def make_trainer(steps=60, prediction="epsilon", seed=0):
    torch.manual_seed(seed)
    config = TrainConfig(steps=steps, batch_size=256, lr=1e-2, warmup_steps=5, seed=seed, ema_decay=0.9)
    model = FiLMMLP(MLPConfig(hidden=32, num_layers=2, prediction=prediction))
    schedule = NoiseSchedule.create("linear", 100)
    return Trainer(model, schedule, lambda n, g: draw_toy("moons", n, g), config, prediction)


@pytest.mark.parametrize("prediction", ["epsilon", "v_prediction", "sample"])
def test_a_short_training_run_lowers_the_loss(prediction):
    trainer = make_trainer(prediction=prediction)
    losses = trainer.run(progress=False)
    assert len(losses) == 60 and trainer.step == 60
    first, last = sum(losses[:10]) / 10, sum(losses[-10:]) / 10
    assert last < 0.9 * first


def test_ema_weights_differ_from_live_weights_but_follow_them():
    trainer = make_trainer(steps=20)
    trainer.run(progress=False)
    live = torch.cat([p.flatten() for p in trainer.model.parameters()])
    ema = torch.cat([p.flatten() for p in trainer.ema.parameters()])
    assert not torch.equal(live, ema)
    assert (live - ema).norm() < live.norm()


def test_learning_rate_warms_up_linearly_then_decays_by_cosine_to_zero():
    config = TrainConfig(steps=110, lr=1.0, warmup_steps=10)
    assert learning_rate(config, 0) == pytest.approx(0.1)
    assert learning_rate(config, 9) == pytest.approx(1.0)
    assert learning_rate(config, 60) == pytest.approx(0.5)
    assert learning_rate(config, 110) == pytest.approx(0.0, abs=1e-12)


def test_ema_decay_ramps_up_to_its_configured_value():
    config = TrainConfig(ema_decay=0.99)
    assert ema_decay_at(config, 0) == pytest.approx(0.1)
    assert ema_decay_at(config, 10_000) == 0.99


def test_same_seed_trains_to_identical_weights():
    a, b = make_trainer(steps=15), make_trainer(steps=15)
    a.run(progress=False)
    b.run(progress=False)
    assert a.losses == b.losses
    assert all(torch.equal(p, q) for p, q in zip(a.ema.parameters(), b.ema.parameters()))


def test_resuming_from_a_saved_state_continues_exactly_like_an_uninterrupted_run():
    straight = make_trainer(steps=30)
    straight.run(progress=False)
    first = make_trainer(steps=30)
    first.run(until=12, progress=False)
    tensors, meta = first.state()
    resumed = make_trainer(steps=30, seed=5)  # a different seed: everything must come from the state
    resumed.load_state(tensors, meta)
    resumed.run(progress=False)
    assert resumed.losses == pytest.approx(straight.losses, rel=1e-5)
    for p, q in zip(resumed.ema.parameters(), straight.ema.parameters()):
        assert torch.allclose(p, q, atol=1e-6)


def test_train_config_rejects_out_of_range_values():
    with pytest.raises(ValueError, match="p_uncond must be in \\[0, 1\\], got 1.5"):
        TrainConfig(p_uncond=1.5)
    with pytest.raises(ValueError, match="steps must be a positive integer, got 0"):
        TrainConfig(steps=0)
