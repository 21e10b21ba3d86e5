import json
import shutil

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


# ---- bounds: what a checkpoint may cost, checked before it costs it ------------------------------


def edit_config(folder, edit):
    """Rewrite folder/config.json through `edit(values)`."""
    values = json.loads((folder / "config.json").read_text())
    edit(values)
    (folder / "config.json").write_text(json.dumps(values))


def never_built(self):
    raise AssertionError("the network was built before the config was refused")


@pytest.mark.parametrize("entry, value, message", [
    ("hidden", 6000, r"model\.hidden 6000 is outside the allowed range 1\.\.1024"),
    ("hidden", 30000, r"model\.hidden 30000 is outside the allowed range 1\.\.1024"),
    ("num_layers", 10**6, r"model\.num_layers 1000000 is outside the allowed range 1\.\.8"),
    ("cond_dim", 10**9, r"model\.cond_dim 1000000000 is outside the allowed range 1\.\.1024"),
])
def test_a_model_entry_beyond_its_range_is_refused_before_the_network_is_built(
    saved, monkeypatch, entry, value, message
):
    folder, _, _ = saved
    edit_config(folder, lambda values: values["model"].update({entry: value}))
    monkeypatch.setattr(CheckpointConfig, "build_model", never_built)
    with pytest.raises(CheckpointError, match=message):
        load_model(folder)


def test_a_model_of_too_many_parameters_is_refused_by_its_count_on_the_meta_device(saved, monkeypatch):
    folder, _, _ = saved  # every entry within its range, 26.3 M parameters in all
    edit_config(folder, lambda values: values["model"].update(hidden=1024, num_layers=8, cond_dim=1024))
    monkeypatch.setattr(CheckpointConfig, "build_model", never_built)
    with pytest.raises(CheckpointError, match=r"would hold 26,314,754 parameters; at most 16,000,000 are allowed"):
        load_model(folder)


def test_a_unet_of_too_many_parameters_is_refused_too(tmp_path):
    from diffusion_core.models import UNetConfig

    config = CheckpointConfig(
        UNetConfig(channels=(256, 512), blocks=(2, 2), head_dim=64), NoiseSchedule.create("linear", 100).config(),
        tuple(str(i) for i in range(62)), "emnist", (-1.0, 1.0), architecture="UNet",
    )
    (tmp_path / "config.json").write_text(json.dumps(config.to_dict()))
    with pytest.raises(CheckpointError, match=r"would hold 27,927,940 parameters; at most 16,000,000"):
        load_config(tmp_path)


def test_the_schedule_may_have_at_most_4000_steps_and_only_its_own_entries(saved):
    folder, _, _ = saved
    edit_config(folder, lambda values: values["schedule"].update(num_steps=4000))
    assert load_config(folder).build_schedule().num_train_steps == 4000
    edit_config(folder, lambda values: values["schedule"].update(num_steps=2_000_000))
    with pytest.raises(CheckpointError, match=r"schedule\.num_steps 2000000 is more than 4000"):
        load_config(folder)
    edit_config(folder, lambda values: values["schedule"].update(num_steps=100, device="cuda"))
    with pytest.raises(CheckpointError, match=r"unknown schedule keys \['device'\]; allowed: \['kind', 'num_steps'"):
        load_config(folder)


def test_a_weights_file_over_64_mib_is_refused_by_its_size_before_it_is_read(saved, monkeypatch):
    folder, _, _ = saved
    with open(folder / "model.safetensors", "r+b") as stream:
        stream.truncate(64 * 2**20 + 1)  # sparse: no disk is spent on it
    monkeypatch.setattr(checkpoint, "load_file", lambda path: pytest.fail("the oversized file was read"))
    with pytest.raises(CheckpointError, match=r"is 67,108,865 bytes, more than the 67,108,864 bytes allowed"):
        load_model(folder)


def test_a_config_file_over_1_mib_is_refused_before_it_is_parsed(saved):
    folder, _, _ = saved
    text = (folder / "config.json").read_text()
    (folder / "config.json").write_text(text + " " * 2**20)  # still valid JSON
    with pytest.raises(CheckpointError, match=r"config\.json is 1,04\d,\d{3} bytes, more than the 1,048,576 bytes"):
        load_config(folder)


@pytest.mark.parametrize("bad", [float("nan"), float("inf")])
def test_weights_holding_nan_or_inf_are_refused_naming_the_tensor(saved, bad):
    folder, model, config = saved
    weights = {k: v.clone() for k, v in model.state_dict().items()}
    weights["layers.1.weight"][3, 4] = bad
    save_checkpoint(folder, config, weights)
    with pytest.raises(CheckpointError, match=r"tensor 'layers\.1\.weight' holds 1 non-finite values \(NaN or inf\)"):
        load_model(folder)


def test_long_hostile_values_are_cut_short_in_the_messages(saved):
    folder, _, _ = saved
    edit_config(folder, lambda values: values.update(class_names=["x" * 20] * 20_000))
    with pytest.raises(CheckpointError) as error:
        load_config(folder)
    assert "class_names must list 2 strings" in str(error.value) and len(str(error.value)) < 400
    edit_config(folder, lambda values: values.update(architecture="U" * 500_000))
    with pytest.raises(CheckpointError, match=r"architecture 'UUUU.*\(500002 characters\) is not one of") as error:
        load_config(folder)
    assert len(str(error.value)) < 400


def test_dot_folders_are_never_listed_and_a_dead_saves_staging_folder_is_cleared(saved, tmp_path):
    folder, _, _ = saved
    staging = tmp_path / ".ck.tmp-abc123"  # what a save killed mid-write leaves, complete or not
    shutil.copytree(folder, staging)
    hidden = tmp_path / ".hidden"  # a dot-folder that is no save's: left alone, never offered
    shutil.copytree(folder, hidden)
    assert [p.name for p in checkpoint.list_checkpoints(tmp_path)] == ["ck"]
    assert not staging.exists() and hidden.is_dir()
