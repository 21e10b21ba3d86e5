import json

import pytest
import torch
from safetensors.torch import save_file

from diffusion_core.evaluation.judge import ClassifierLoadError, accuracy, load_classifier, save_classifier
from diffusion_core.models import CharacterClassifier, ClassifierConfig

SMALL = ClassifierConfig(channels=(8, 16, 16), feature_dim=32)


def test_save_then_load_gives_identical_outputs(tmp_path):
    model = CharacterClassifier(SMALL).eval()
    save_classifier(
        tmp_path,
        model,
        {
            "held_out_accuracy": 0.5,
            "held_out_accuracy_case_insensitive": 0.6,
            "case_merged_letters": "co",
            "train_images": 10,
            "held_out_images": 2,
            "epochs_completed": 1,
            "seconds": 1.0,
            "threads": 2,
            "settings": {
                "held_out_fraction": 0.1,
                "seed": 0,
                "lr": 1e-3,
                "weight_decay": 0.0,
                "batch_size": 4,
                "epochs": 1,
            },
        },
    )
    loaded = load_classifier(tmp_path)
    x = torch.randn(3, 1, 28, 28)
    with torch.no_grad():
        assert torch.equal(loaded(x), model(x))
    assert "50.00%" in (tmp_path / "README.md").read_text()
    assert json.loads((tmp_path / "config.json").read_text())["report"]["held_out_accuracy"] == 0.5


def test_loading_names_missing_unknown_and_misshapen_tensors(tmp_path):
    model = CharacterClassifier(SMALL)
    weights = {k: v.clone().contiguous() for k, v in model.state_dict().items()}
    (tmp_path / "config.json").write_text(json.dumps({"model": SMALL.to_dict()}))
    weights.pop("head.1.bias")
    weights["extra"] = torch.zeros(1)
    weights["embed.1.weight"] = torch.zeros(32, 7)
    save_file(weights, tmp_path / "model.safetensors")
    with pytest.raises(ClassifierLoadError) as error:
        load_classifier(tmp_path)
    message = str(error.value)
    assert "missing tensors ['head.1.bias']" in message
    assert "unknown tensors ['extra']" in message
    assert "embed.1.weight: file (32, 7) vs model (32, 144)" in message


def test_loading_rejects_a_missing_folder_and_a_non_safetensors_file(tmp_path):
    with pytest.raises(ClassifierLoadError, match="config.json is missing"):
        load_classifier(tmp_path)
    (tmp_path / "config.json").write_text(json.dumps({"model": SMALL.to_dict()}))
    (tmp_path / "model.safetensors").write_bytes(b"not a safetensors file")
    with pytest.raises(ClassifierLoadError, match="model.safetensors is not a readable safetensors file"):
        load_classifier(tmp_path)
    (tmp_path / "config.json").write_text(json.dumps({"model": {"width": 3}}))
    with pytest.raises(ClassifierLoadError, match=r"unknown classifier config keys \['width'\]"):
        load_classifier(tmp_path)


def test_case_insensitive_accuracy_forgives_only_merged_letters():
    names = tuple("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz")
    index = {n: i for i, n in enumerate(names)}
    labels = torch.tensor([index[c] for c in "oOaA"])
    predicted = torch.tensor([index[c] for c in "OoAA"])
    exact, merged = accuracy(predicted, labels, names)
    assert exact == pytest.approx(0.25)
    assert merged == pytest.approx(0.75)
