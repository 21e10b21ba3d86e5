"""The quality meter: for characters what a judge reads, case-alike letters, diversity; for points the
slow metrics' figures, read from rasters."""

import numpy as np
import pytest
import torch

from diffusion_core.data import CLASS_NAMES, TOY_DATASETS, toy_dataset
from diffusion_core.data.emnist import BYCLASS_NAMES
from diffusion_core.demo import quality
from diffusion_core.demo.cache import ModelInfo
from diffusion_core.evaluation.judge import save_classifier
from diffusion_core.evaluation.metrics import StrayReference, class_conformity
from diffusion_core.models import CharacterClassifier, ClassifierConfig

INFO = ModelInfo("emnist", "images", (1, 28, 28), BYCLASS_NAMES, 1000, "emnist", 64, 16)
REPORT = {
    "held_out_accuracy": 0.5, "held_out_accuracy_case_insensitive": 0.6, "case_merged_letters": "co",
    "train_images": 10, "held_out_images": 2, "epochs_completed": 1, "seconds": 1.0, "threads": 1,
    "settings": {"held_out_fraction": 0.1, "seed": 0, "lr": 1e-3, "weight_decay": 0.0, "batch_size": 4, "epochs": 1},
}


def judge_reading(folder, name: str):
    """A judge that reads every image as class `name`: its last layer is a constant."""
    model = CharacterClassifier(ClassifierConfig(channels=(4, 8, 8), feature_dim=16)).eval()
    with torch.no_grad():
        model.head[1].weight.zero_()
        model.head[1].bias.zero_()
        model.head[1].bias[BYCLASS_NAMES.index(name)] = 10.0
    save_classifier(folder, model, REPORT)
    return folder


def test_conformity_counts_the_requested_class_and_either_case_of_look_alike_letters(tmp_path):
    judge = judge_reading(tmp_path / "reads-c", "c")
    images = np.random.default_rng(0).uniform(-1, 1, (5, 1, 28, 28)).astype(np.float32)
    asked_upper_c = quality.quality_figures(INFO, BYCLASS_NAMES.index("C"), images, judge)
    assert asked_upper_c["class_conformity"] == 1.0 and asked_upper_c["read_as"] == {"c": 5}
    assert quality.quality_figures(INFO, BYCLASS_NAMES.index("a"), images, judge)["class_conformity"] == 0.0
    assert "class_conformity" not in quality.quality_figures(INFO, None, images, judge)


def test_diversity_is_zero_for_copies_and_grows_with_different_images(tmp_path):
    judge = judge_reading(tmp_path / "reads-7", "7")
    torch.manual_seed(0)
    copies = np.repeat(np.random.default_rng(1).uniform(-1, 1, (1, 1, 28, 28)), 4, axis=0).astype(np.float32)
    varied = np.random.default_rng(2).uniform(-1, 1, (4, 1, 28, 28)).astype(np.float32)
    assert quality.quality_figures(INFO, 7, copies, judge)["diversity"] == pytest.approx(0.0, abs=1e-6)
    assert quality.quality_figures(INFO, 7, varied, judge)["diversity"] > 0.0


def test_no_judge_or_a_broken_one_gives_no_meter_rather_than_an_error(tmp_path):
    images = np.zeros((2, 1, 28, 28), np.float32)
    assert quality.quality_figures(INFO, 0, images, tmp_path / "missing") is None
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "config.json").write_text("{")
    assert quality.quality_figures(INFO, 0, images, tmp_path / "broken") is None


@pytest.mark.parametrize("dataset", sorted(TOY_DATASETS))
def test_the_points_meter_gives_the_slow_metrics_figures_on_every_toy_set(dataset):
    names = CLASS_NAMES.get(dataset, ())
    info = ModelInfo(dataset, "points", (2,), names, 1000, dataset, 5000, 2000)
    points, labels = toy_dataset(dataset, 2000, seed=5)
    samples = (points + 0.1 * torch.randn(points.shape, generator=torch.Generator().manual_seed(6))).numpy()
    figures = quality.points_quality(info, 0 if names else None, samples)
    stray_reference, _ = toy_dataset(dataset, quality.STRAY_POINTS, quality.REFERENCE_SEED + 1)
    calibration, _ = toy_dataset(dataset, quality.STRAY_POINTS, quality.REFERENCE_SEED + 2)
    slow = StrayReference(stray_reference, calibration).share(torch.from_numpy(samples))
    assert figures["strays"] == round(slow, 4) and 0.02 < slow < 0.9  # blurred data: some strays, not all
    if names:
        reference, reference_labels = toy_dataset(dataset, quality.REFERENCE_POINTS, quality.REFERENCE_SEED)
        expected = class_conformity(torch.from_numpy(samples), 0, reference, reference_labels)
        assert figures["class_conformity"] == round(expected, 4)
