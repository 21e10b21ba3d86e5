"""A model's guide travels with it to and from the Hub (tests/fake_hub.py, the real huggingface_hub client)."""

import argparse
import json

import pytest
import torch
from hub_helpers import REPO, make_checkpoint

from diffusion_core.data import draw_toy
from diffusion_core.guidance import GuideTraining
from diffusion_core.weights import hub
from diffusion_core.weights.guide import guide_folder
from diffusion_core.weights.guide_training import fit_guide
from diffusion_core.weights.hub_checks import HubError
from diffusion_core.weights.hub_cli import run_pull
from diffusion_core.weights.pipeline import load_pipeline

pytestmark = pytest.mark.usefixtures("single_thread")


def guided_checkpoint(folder):
    make_checkpoint(folder)
    held_out = draw_toy("moons", 200, torch.Generator().manual_seed(3))
    fit_guide(folder, lambda n, g: draw_toy("moons", n, g), held_out, "python train_toy.py train-guide moons",
              GuideTraining(steps=20, batch_size=64, warmup_steps=5), log=lambda line: None)
    return folder


def steered(folder):
    return load_pipeline(folder).generate(32, sampler="ddim", steps=4, label=0, classifier_scale=2.0, seed=5)


def test_a_push_carries_the_guide_and_a_pull_brings_it_back_beside_the_model(fake_hub, tmp_path):
    local = guided_checkpoint(tmp_path / "ckpt" / "moons")
    commit = hub.push_checkpoint(local, REPO).commit
    files = fake_hub.repos[REPO].commits[commit]
    assert {"moons-guide/config.json", "moons-guide/model.safetensors", "moons-guide/README.md"} <= set(files)
    assert hub.list_models(REPO) == ("moons",)  # the guide's folder is not offered as a model
    pulled = hub.pull(REPO, "moons", cache_dir=tmp_path / "cache")
    assert (guide_folder(pulled.folder) / "model.safetensors").is_file()
    assert torch.equal(steered(pulled.folder), steered(local))


def test_a_guide_that_does_not_fit_its_model_is_never_pushed(fake_hub, tmp_path):
    local = guided_checkpoint(tmp_path / "moons")
    config_path = guide_folder(local) / "config.json"
    values = json.loads(config_path.read_text())
    values["class_names"] = ["left", "right"]
    config_path.write_text(json.dumps(values))
    with pytest.raises(HubError, match="guide beside moons would be refused by a pull, so nothing was pushed"):
        hub.push_checkpoint(local, REPO)
    assert REPO not in fake_hub.repos  # refused before any request


def pull_args(tmp_path):
    return argparse.Namespace(repo_id=REPO, revision=None, name=["moons"], cache_dir=tmp_path / "cache",
                              into=tmp_path / "checkpoints")


def test_cli_pull_installs_the_guide_beside_the_model_and_says_so(fake_hub, tmp_path, capsys):
    hub.push_checkpoint(guided_checkpoint(tmp_path / "ckpt" / "moons"), REPO)
    assert run_pull(pull_args(tmp_path)) == 0
    assert "installed its guide as" in capsys.readouterr().out
    installed = tmp_path / "checkpoints" / "moons"
    assert load_pipeline(installed).guide is not None
    assert torch.equal(steered(installed), steered(tmp_path / "ckpt" / "moons"))


def test_a_model_pulled_without_a_guide_keeps_the_local_one_and_says_so(fake_hub, tmp_path, capsys):
    hub.push_checkpoint(make_checkpoint(tmp_path / "plain" / "moons"), REPO)
    guided_checkpoint(tmp_path / "checkpoints" / "moons")
    assert run_pull(pull_args(tmp_path)) == 0
    assert "no guide in the repo for moons; the local moons-guide stays" in capsys.readouterr().out
    assert load_pipeline(tmp_path / "checkpoints" / "moons").guide is not None
