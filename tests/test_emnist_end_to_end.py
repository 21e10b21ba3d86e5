"""EMNIST through the common checkpoint format, the pipeline and `train_toy.py`, on tiny IDX files."""

import io
import json

import numpy as np
import pytest
import torch
from emnist_files import upright_l, write_split
from PIL import Image

import train_toy
from diffusion_core.data.emnist import BYCLASS_NAMES
from diffusion_core.evaluation.judge import ClassifierTraining, train_classifier
from diffusion_core.models import ClassifierConfig, UNet, UNetConfig
from diffusion_core.schedules import NoiseSchedule
from diffusion_core.weights.checkpoint import (
    CheckpointConfig,
    CheckpointError,
    load_config,
    load_model,
    save_checkpoint,
)
from diffusion_core.weights.pipeline import CHECKPOINTS_DIR, load_pipeline

pytestmark = pytest.mark.usefixtures("single_thread")

SMALL = UNetConfig(channels=(8, 16), head_dim=8, cond_dim=16, time_dim=8)
TINY = ["--steps", "3", "--batch-size", "8", "--channels", "8,32", "--timesteps", "50", "--quiet"]


def unet_config(**changes) -> CheckpointConfig:
    values = dict(
        model=SMALL,
        schedule=NoiseSchedule.create("linear", 20).config(),
        class_names=BYCLASS_NAMES,
        dataset="emnist",
        clip_range=(-1.0, 1.0),
        architecture="UNet",
    )
    return CheckpointConfig(**{**values, **changes})


@pytest.fixture
def unet_folder(tmp_path):
    torch.manual_seed(0)
    model = UNet(SMALL)
    for p in model.parameters():  # zero-initialised layers would make every output 0
        torch.nn.init.normal_(p, std=0.2)
    return save_checkpoint(tmp_path / "emnist", unet_config(), model.state_dict()), model


@pytest.fixture
def data_dir(tmp_path):
    """40 characters: an 'L' (class 21) and blank pages of the other classes, in EMNIST's file layout."""
    folder = tmp_path / "data"
    folder.mkdir()
    labels = np.arange(40) % 62
    images = np.stack([upright_l() if label == 21 else np.full((28, 28), 4 * k, np.uint8) for k, label in enumerate(labels)])
    write_split(folder, images, labels)
    return folder


def test_a_unet_checkpoint_round_trips_and_samples_images_within_the_clip_range(unet_folder):
    folder, model = unet_folder
    loaded, config = load_model(folder)
    assert config.architecture == "UNet" and config.sample_shape == (1, 28, 28)
    x, t = torch.randn(3, 1, 28, 28), torch.tensor([0, 7, 19])
    labels = torch.tensor([0, 61, -1])
    assert torch.equal(loaded(x, t, labels), model.eval()(x, t, labels))
    pipeline = load_pipeline(folder)
    assert pipeline.sample_shape == (1, 28, 28)
    images = pipeline.generate(4, sampler="ddim", steps=5, label="g", guidance=3.0, seed=1)
    assert images.shape == (4, 1, 28, 28) and torch.isfinite(images).all()
    assert images.min() >= -1.0 and images.max() <= 1.0


def test_one_label_per_sample_is_accepted_and_checked(unet_folder):
    pipeline = load_pipeline(unet_folder[0])
    per_sample = torch.tensor([0, 10, 36, 61])
    images = pipeline.generate(4, sampler="ddim", steps=3, label=per_sample, guidance=1.0, seed=0)
    assert images.shape == (4, 1, 28, 28)
    # Sample k with its own label equals sample k drawn alone in a batch of that label: rows are independent.
    alone = pipeline.generate(4, sampler="ddim", steps=3, label=36, guidance=1.0, seed=0)
    torch.testing.assert_close(images[2], alone[2], atol=1e-5, rtol=0)
    with pytest.raises(ValueError, match=r"labels must lie in \[0, 61\]"):
        pipeline.generate(2, sampler="ddim", steps=3, label=torch.tensor([0, 62]))


def test_architecture_and_model_entry_must_agree(unet_folder):
    folder, _ = unet_folder
    values = json.loads((folder / "config.json").read_text())
    values["architecture"] = "FiLMMLP"
    (folder / "config.json").write_text(json.dumps(values))
    with pytest.raises(CheckpointError, match=r"unknown model config keys \['attention', 'blocks', 'channels'"):
        load_config(folder)
    values["architecture"] = "Transformer"
    (folder / "config.json").write_text(json.dumps(values))
    with pytest.raises(CheckpointError, match=r"architecture 'Transformer' is not one of \['FiLMMLP', 'UNet'\]"):
        load_config(folder)


def test_weights_of_another_width_are_named_tensor_by_tensor(unet_folder, tmp_path):
    folder, _ = unet_folder
    wider = UNet(UNetConfig(channels=(16, 16), head_dim=8, cond_dim=16, time_dim=8))
    other = save_checkpoint(tmp_path / "other", unet_config(), wider.state_dict())
    with pytest.raises(CheckpointError, match=r"shape mismatch .*stem\.weight: file \(16, 4, 3, 3\) vs model \(8, 4, 3, 3\)"):
        load_model(other)


def test_train_emnist_from_idx_files_then_eval_writes_figures_grid_and_card(tmp_path, data_dir, capsys):
    out = tmp_path / "emnist"
    assert train_toy.main(["train", "emnist", "--data-dir", str(data_dir), "--out", str(out), *TINY]) == 0
    config = load_config(out)
    assert config.architecture == "UNet" and config.clip_range == (-1.0, 1.0)
    assert config.model.channels == (8, 32) and config.schedule["kind"] == "linear"
    assert "training on 36 of 40 images" in capsys.readouterr().out

    judge = tmp_path / "judge"
    settings = ClassifierTraining(epochs=1, batch_size=8)
    train_classifier(data_dir, judge, settings, ClassifierConfig(channels=(4, 8, 8), feature_dim=16), log=lambda _: None)
    status = train_toy.main(
        ["eval", str(out), "--data-dir", str(data_dir), "--classifier", str(judge), "--per-class", "2", "--n-frechet", "4"]
    )
    printed = capsys.readouterr().out
    assert status == 1 and "TARGETS NOT MET" in printed  # a 3-step model cannot meet them
    for heading in ("class conformity at w=3", "guidance sweep", "Fréchet distance", "DDIM eta=1, 10 steps", "DDPM, 50 steps"):
        assert heading in printed
    report = json.loads((out / "eval.json").read_text())
    assert list(report["sweep"]) == ["0", "1", "2", "3", "5", "8"]
    assert all(len(row["per_class"]) == 62 and 0 <= row["conformity"] <= 1 for row in report["sweep"].values())
    assert all(value >= 0 for value in report["frechet"].values())
    grid = (out / "samples.png").read_bytes()
    assert grid[:4] == b"\x89PNG"
    width, height = Image.open(io.BytesIO(grid)).size
    assert height == 62 * 30 + 2 and width == 16 + 2 * 30 + 2  # one row per class, 2 characters each
    card = (out / "README.md").read_text()
    assert "- emnist" in card and "![samples](samples.png)" in card and "Fréchet" in card


def test_train_emnist_with_class_balance_records_it_and_resumes_only_alike(tmp_path, data_dir, capsys):
    out = tmp_path / "emnist"
    assert train_toy.main(["train", "emnist", "--data-dir", str(data_dir), "--out", str(out), *TINY,
                           "--class-balance", "0.5"]) == 0
    assert load_config(out).training["class_balance"] == 0.5
    assert "class c drawn with probability ∝ n_c^(1 − 0.5) (`--class-balance 0.5`)" in (out / "README.md").read_text()
    assert train_toy.main(["train", "emnist", "--data-dir", str(data_dir), "--out", str(out), "--resume", *TINY]) == 2
    assert "other settings (class_balance 0.5 -> 0.0)" in capsys.readouterr().err


def test_emnist_input_errors_exit_2_with_a_message_naming_the_fix(tmp_path, data_dir, capsys):
    assert train_toy.main(["train", "emnist", "--out", str(tmp_path / "a"), *TINY]) == 2
    assert "train emnist needs --data-dir" in capsys.readouterr().err
    assert train_toy.main(["train", "emnist", "--data-dir", str(tmp_path), "--out", str(tmp_path / "a"), *TINY]) == 2
    err = capsys.readouterr().err
    assert "Pass --data-dir" in err and "emnist-byclass-test-images-idx3-ubyte.gz" in err
    assert train_toy.main(["train", "emnist", "--data-dir", str(data_dir), "--hidden", "8", *TINY]) == 2
    assert "--hidden only apply to the 2D models' MLP, not to emnist" in capsys.readouterr().err
    assert train_toy.main(["train", "emnist", "--data-dir", str(data_dir), "--activation", "hardswish", *TINY]) == 2
    assert "--activation only apply to the 2D models' MLP, not to emnist" in capsys.readouterr().err
    assert train_toy.main(["train", "moons", "--channels", "8,16", "--out", str(tmp_path / "m")]) == 2
    assert "--channels only apply to the EMNIST U-Net, not to moons" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        train_toy.main(["train", "emnist", "--channels", "8,x"])
    assert "expected comma-separated integers" in capsys.readouterr().err
    assert not (tmp_path / "a").exists()


def test_train_classifier_command_trains_and_saves_the_judge(tmp_path, data_dir, capsys):
    out = tmp_path / "judge"
    assert train_toy.main(["train-classifier", "--data-dir", str(data_dir), "--out", str(out), "--epochs", "1"]) == 0
    assert "held-out accuracy" in capsys.readouterr().out
    report = json.loads((out / "config.json").read_text())["report"]
    assert report["train_images"] == 36 and report["held_out_images"] == 4
    assert train_toy.main(["train-classifier", "--data-dir", str(tmp_path / "none"), "--out", str(out)]) == 2
    assert "Pass --data-dir" in capsys.readouterr().err


def test_the_shipped_emnist_checkpoint_draws_28x28_characters_on_a_dark_page():
    folder = CHECKPOINTS_DIR / "emnist"
    assert (folder / "model.safetensors").stat().st_size <= 16 * 2**20
    pipeline = load_pipeline(folder, device="cpu")
    assert pipeline.config.architecture == "UNet" and pipeline.class_names == BYCLASS_NAMES
    labels = torch.tensor([0, 10, 36, 61])  # '0', 'A', 'a', 'z'
    images = pipeline.generate(4, sampler="ddim", steps=10, label=labels, guidance=3.0, seed=0)
    assert images.shape == (4, 1, 28, 28) and torch.isfinite(images).all()
    assert images.min() >= -1.0 and images.max() <= 1.0
    # A character is a few strokes of ink on a dark page. In real EMNIST characters 58-75% of the
    # pixels are below -0.8 (1% and 50% quantiles) and 4-26% above 0.5 (1% and 99%); noise, or an
    # untrained network's output, is far from both.
    page = (images < -0.8).double().mean(dim=(1, 2, 3))
    ink = (images > 0.5).double().mean(dim=(1, 2, 3))
    assert (page > 0.5).all() and page.mean() > 0.6, page
    assert ((ink > 0.03) & (ink < 0.35)).all(), ink
