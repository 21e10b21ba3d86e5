import pytest
import torch

from diffusion_core.models import UNet, UNetConfig
from diffusion_core.schedules import NoiseSchedule
from diffusion_core.training import TrainConfig, Trainer


def trained_looking(model):
    """Random non-zero weights everywhere, so zero-initialised layers do not hide the conditioning."""
    torch.manual_seed(0)
    with torch.no_grad():
        for p in model.parameters():
            p.normal_(0.0, 0.1)
    return model


def test_shipped_design_stays_under_four_million_parameters_and_sixteen_megabytes():
    parameters = sum(p.numel() for p in UNet(UNetConfig()).parameters())
    assert parameters <= 4_000_000
    assert parameters * 4 <= 16 * 2**20


def test_every_class_and_the_null_label_give_28x28_outputs():
    model = UNet(UNetConfig()).eval()
    labels = torch.cat([torch.arange(62), torch.tensor([-1, 62])])
    x = torch.randn(len(labels), 1, 28, 28)
    t = torch.randint(0, 1000, (len(labels),))
    with torch.no_grad():
        out = model(x, t, labels)
        unconditional = model(x[:3], t[:3], None)
    assert out.shape == (64, 1, 28, 28) and torch.isfinite(out).all()
    assert unconditional.shape == (3, 1, 28, 28)


def test_minus_one_and_none_labels_both_select_the_null_label():
    model = trained_looking(UNet(UNetConfig(channels=(16, 32), head_dim=16))).eval()
    x, t = torch.randn(4, 1, 28, 28), torch.tensor([3, 50, 50, 900])
    with torch.no_grad():
        null = model(x, t, torch.full((4,), model.null_label))
        assert model.null_label == 62
        assert torch.allclose(model(x, t, torch.full((4,), -1)), null)
        assert torch.allclose(model(x, t, None), null)
        assert not torch.allclose(model(x, t, torch.zeros(4, dtype=torch.long)), null, atol=1e-3)


def test_rows_are_independent_and_channels_last_gives_the_same_output():
    model = trained_looking(UNet(UNetConfig(channels=(16, 32), head_dim=16))).eval()
    x, t, labels = (
        torch.randn(5, 1, 28, 28),
        torch.tensor([1, 10, 100, 500, 999]),
        torch.tensor([0, 5, -1, 61, 30]),
    )
    with torch.no_grad():
        together = model(x, t, labels)
        rows = torch.cat([model(x[i : i + 1], t[i : i + 1], labels[i : i + 1]) for i in range(5)])
        fast = model.to(memory_format=torch.channels_last)(
            x.contiguous(memory_format=torch.channels_last), t, labels
        )
    assert torch.allclose(together, rows, atol=1e-5)
    assert torch.allclose(together, fast, atol=1e-5)


def test_a_few_training_steps_lower_the_denoising_loss(single_thread):
    torch.manual_seed(0)
    images = -torch.ones(8, 1, 28, 28)
    images[:, :, 6:22, 12:16] = 1.0  # a bar, the same in every image: an easy target to learn
    labels = torch.arange(8) % 62

    def batches(n, generator):
        rows = torch.randint(0, 8, (n,), generator=generator)
        return images[rows], labels[rows]

    model = UNet(UNetConfig(channels=(16, 32), head_dim=16))
    trainer = Trainer(
        model,
        NoiseSchedule.create("linear", 1000),
        batches,
        TrainConfig(steps=30, batch_size=16, lr=2e-3, warmup_steps=5),
    )
    losses = trainer.run(progress=False)
    assert sum(losses[:5]) / 5 > 1.5 * sum(losses[-5:]) / 5


def test_config_round_trips_and_rejects_bad_values():
    config = UNetConfig(channels=(16, 32), blocks=(1, 2), head_dim=16)
    assert UNetConfig.from_dict(config.to_dict()) == config
    with pytest.raises(ValueError, match=r"unknown model config keys \['depth'\]"):
        UNetConfig.from_dict({"depth": 3})
    with pytest.raises(ValueError, match=r"image_size 28 / patch 2 must halve evenly 2 times"):
        UNetConfig(channels=(16, 32, 64), blocks=(1, 1, 1))
    with pytest.raises(ValueError, match=r"channels must be positive multiples of groups=8, got \[12, 32\]"):
        UNetConfig(channels=(12, 32))
    with pytest.raises(ValueError, match=r"blocks must give one count >= 1 per level \(2\), got \[1\]"):
        UNetConfig(blocks=(1,))
