import json

import pytest
import torch

from diffusion_core.models import FiLMMLP, MLPConfig
from diffusion_core.schedules import NoiseSchedule
from diffusion_core.weights import checkpoint
from diffusion_core.weights.checkpoint import (
    CheckpointConfig,
    CheckpointError,
    load_config,
    load_model,
    save_checkpoint,
)

pytestmark = pytest.mark.usefixtures("single_thread")


def small_config(**model):
    return CheckpointConfig(
        model=MLPConfig(hidden=16, num_layers=2, **model),
        schedule=NoiseSchedule.create("linear", 100).config(),
        class_names=("a", "b"),
        dataset="moons",
        clip_range=(-3.0, 3.0),
    )


@pytest.fixture
def saved(tmp_path):
    torch.manual_seed(0)
    config = small_config()
    model = FiLMMLP(config.model)
    for p in model.parameters():
        torch.nn.init.normal_(p, std=0.2)
    folder = save_checkpoint(tmp_path / "ck", config, model.state_dict())
    return folder, model, config


def test_save_then_load_gives_identical_outputs_and_config(saved):
    folder, model, config = saved
    loaded, loaded_config = load_model(folder)
    assert loaded_config == config
    x, t, labels = torch.randn(7, 2), torch.randint(0, 100, (7,)), torch.tensor([0, 1, -1, 0, 1, -1, 0])
    assert torch.equal(loaded(x, t, labels), model.eval()(x, t, labels))


def test_saving_over_a_checkpoint_replaces_it_and_leaves_no_temporary_folders(saved):
    folder, model, config = saved
    save_checkpoint(folder, config, {k: torch.zeros_like(v) for k, v in model.state_dict().items()})
    loaded, _ = load_model(folder)
    assert all((p == 0).all() for p in loaded.parameters())
    assert sorted(p.name for p in folder.parent.iterdir()) == ["ck"]


def test_a_save_interrupted_mid_write_keeps_the_previous_checkpoint_intact(saved, monkeypatch):
    folder, model, config = saved
    before = (folder / "model.safetensors").read_bytes()

    def interrupted(tensors, path, metadata=None):
        path.write_bytes(b"half")
        raise KeyboardInterrupt

    monkeypatch.setattr(checkpoint, "save_file", interrupted)
    with pytest.raises(KeyboardInterrupt):
        save_checkpoint(folder, config, model.state_dict())
    assert (folder / "model.safetensors").read_bytes() == before
    assert sorted(p.name for p in folder.parent.iterdir()) == ["ck"]


def test_loading_names_a_missing_weights_file(saved):
    folder, _, _ = saved
    (folder / "model.safetensors").unlink()
    with pytest.raises(CheckpointError, match="model.safetensors is missing"):
        load_model(folder)


def test_loading_names_a_missing_config_file(tmp_path):
    with pytest.raises(CheckpointError, match="config.json is missing"):
        load_model(tmp_path)


def test_loading_names_tensors_of_the_wrong_shape(saved, tmp_path):
    folder, _, _ = saved
    wider = FiLMMLP(MLPConfig(hidden=24, num_layers=2))
    save_checkpoint(tmp_path / "wide", small_config(), wider.state_dict())
    with pytest.raises(CheckpointError, match=r"shape mismatch .*input.weight: file \(24, 2\) vs model \(16, 2\)"):
        load_model(tmp_path / "wide")


def test_loading_names_unknown_and_missing_tensors(saved):
    folder, model, config = saved
    weights = dict(model.state_dict())
    weights["extra.weight"] = torch.zeros(3)
    del weights["output.bias"]
    save_checkpoint(folder, config, weights)
    with pytest.raises(CheckpointError, match=r"missing tensors \['output.bias'\], unknown tensors \['extra.weight'\]"):
        load_model(folder)


def test_loading_rejects_a_corrupt_safetensors_file(saved):
    folder, _, _ = saved
    data = (folder / "model.safetensors").read_bytes()
    (folder / "model.safetensors").write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="not a readable safetensors file"):
        load_model(folder)


def test_loading_names_unknown_config_keys_and_bad_values(saved):
    folder, _, _ = saved
    values = json.loads((folder / "config.json").read_text())
    (folder / "config.json").write_text(json.dumps({**values, "colour": "red"}))
    with pytest.raises(CheckpointError, match=r"unknown keys \['colour'\]"):
        load_config(folder)
    values["schedule"]["kind"] = "quadratic"
    (folder / "config.json").write_text(json.dumps(values))
    with pytest.raises(CheckpointError, match="unknown beta schedule 'quadratic'"):
        load_config(folder)
    (folder / "config.json").write_text("{not json")
    with pytest.raises(CheckpointError, match="not valid JSON"):
        load_config(folder)


def test_config_json_follows_the_hub_mixin_file_layout(saved):
    folder, _, _ = saved
    assert {p.name for p in folder.iterdir()} == {"config.json", "model.safetensors"}
    values = json.loads((folder / "config.json").read_text())
    assert values["prediction_type"] == "epsilon" and values["class_names"] == ["a", "b"]


def test_only_diffusion_checkpoints_are_listed_and_unreadable_configs_still_count(saved, tmp_path):
    folder, _, _ = saved
    judge = tmp_path / "judge"
    judge.mkdir()
    (judge / "config.json").write_text('{"model": {"num_classes": 62}, "report": {}}')  # the classifier's shape
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "config.json").write_text("{not json")
    (tmp_path / "empty").mkdir()
    assert [p.name for p in checkpoint.list_checkpoints(tmp_path)] == ["broken", "ck"]
    assert checkpoint.list_checkpoints(tmp_path / "missing") == []
