"""A model's guide folder: trained by `train-guide`, found by `load_pipeline`, refused when it does not fit."""

import json

import pytest
import torch

import train_toy
from diffusion_core.weights.checkpoint import list_checkpoints
from diffusion_core.weights.guide import guide_folder
from diffusion_core.weights.guide_training import guide_card, record_guide_sweep
from diffusion_core.weights.pipeline import load_pipeline

pytestmark = pytest.mark.usefixtures("single_thread")

TINY = ["--steps", "30", "--batch-size", "64", "--hidden", "16", "--layers", "1", "--timesteps", "50", "--quiet"]


@pytest.fixture(scope="module")
def guided_model(tmp_path_factory):
    folder = tmp_path_factory.mktemp("guided") / "moons"
    assert train_toy.main(["train", "moons", "--out", str(folder), *TINY]) == 0
    assert train_toy.main(["train-guide", str(folder), "--steps", "60"]) == 0
    return folder


def test_train_guide_saves_a_guide_beside_the_model_that_no_listing_offers_as_a_model(guided_model):
    folder = guide_folder(guided_model)
    assert folder.name == "moons-guide"
    config = json.loads((folder / "config.json").read_text())
    assert config["guides"] == "moons" and config["training"]["command"].startswith("python train_toy.py train-guide")
    assert set(config["accuracy_by_t"]) == {"0", "12", "25", "37", "49"}
    assert "train-guide" in (folder / "README.md").read_text()
    assert [p.name for p in list_checkpoints(guided_model.parent)] == ["moons"]


def test_the_pipeline_guides_with_it_steering_the_unconditional_network_when_only_the_classifier_guides(guided_model):
    pipeline = load_pipeline(guided_model)
    assert pipeline.guide is not None
    options = dict(n=200, sampler="ddim", steps=10, label=0, seed=3, classifier_scale=2.0)
    default = pipeline.generate(**options)
    assert torch.equal(default, pipeline.generate(**options, conditional=False))
    assert not torch.equal(default, pipeline.generate(**options, conditional=True))
    assert not torch.equal(default, pipeline.generate(**{**options, "classifier_scale": 0.0}, conditional=False))


@pytest.mark.parametrize("options, message", [
    (dict(label=None, classifier_scale=1.0), "classifier guidance needs a class"),
    (dict(label=0, classifier_scale=-2.0), "classifier scale must be a finite number >= 0"),
    (dict(label=0, classifier_scale=float("nan")), "classifier scale must be a finite number >= 0"),
    (dict(label=0, guidance=1.0, classifier_scale=1.0, conditional=False), "needs the conditional network"),
    (dict(variance="learned"), "did not learn its variance"),
    (dict(variance="wide"), "unknown variance 'wide'"),
])
def test_bad_guidance_options_are_refused_naming_them(guided_model, options, message):
    with pytest.raises(ValueError, match=message):
        load_pipeline(guided_model).generate(10, sampler="ddim", steps=2, **options)


def test_a_model_without_a_guide_says_how_to_train_one(tmp_path):
    folder = tmp_path / "moons"
    train_toy.main(["train", "moons", "--out", str(folder), *TINY])
    with pytest.raises(ValueError, match="no guide classifier .*train-guide"):
        load_pipeline(folder).generate(10, sampler="ddim", steps=2, label=0, classifier_scale=1.0)


def copy_model(source, destination):
    destination.mkdir()
    for path in source.iterdir():
        (destination / path.name).write_bytes(path.read_bytes())
    guide = guide_folder(destination)
    guide.mkdir()
    for path in guide_folder(source).iterdir():
        (guide / path.name).write_bytes(path.read_bytes())
    return destination


@pytest.mark.parametrize("damage, message", [
    (lambda g: (g / "model.safetensors").write_bytes(b"not safetensors"), "not a readable safetensors file"),
    (lambda g: (g / "config.json").write_text("{"), "not valid JSON"),
    (lambda g: (g / "config.json").write_text(json.dumps({"kind": "tokenizer"})), "is not a guide's config"),
    (lambda g: _edit(g, noise_schedule={"kind": "linear", "num_steps": 50, "beta_start": 1e-4, "beta_end": 0.02}),
     "trained on the noise schedule"),
    (lambda g: _edit(g, class_names=["a", "b"]), "classes .* are not the model's"),
    (lambda g: _edit(g, model={"kind": "points", "hidden": 100000}), "outside the allowed range"),
    (lambda g: _reshape(g, data_dim=3), "reads samples of shape \\(3,\\), the model draws \\(2,\\)"),
    (lambda g: _reshape(g, kind="images", hidden=16), "reads samples of shape \\(1, 28, 28\\)"),
    (lambda g: _reshape(g, num_classes=3), "\\(3 outputs\\) are not the model's 2"),
    (lambda g: _reshape(g, fourier_extent=float("nan")), "fourier_extent must be a finite number > 0"),
    (lambda g: _reshape(g, fourier_extent="x"), "fourier_extent must be a finite number > 0"),
])
def test_a_broken_guide_leaves_the_model_usable_and_classifier_guidance_says_why(guided_model, tmp_path, damage,
                                                                               message):
    folder = copy_model(guided_model, tmp_path / "moons")
    damage(guide_folder(folder))
    pipeline = load_pipeline(folder)
    assert pipeline.guide is None and pipeline.generate(5, sampler="ddim", steps=2, seed=0).shape == (5, 2)
    with pytest.raises(ValueError, match="could not be loaded: .*" + message):
        pipeline.generate(5, sampler="ddim", steps=2, label=0, classifier_scale=1.0)


def _reshape(guide, **fields):
    """The guide's network config changed, and weights saved for the changed network (so only the fit fails)."""
    from safetensors.torch import save_file

    from diffusion_core.models.guide import GuideConfig, build_guide

    values = json.loads((guide / "config.json").read_text())
    values["model"].update(fields)
    try:
        network = build_guide(GuideConfig.from_dict(values["model"]))
        save_file(network.state_dict(), guide / "model.safetensors")
    except (TypeError, ValueError):
        pass  # the config itself is what is refused
    (guide / "config.json").write_text(json.dumps(values))


def _edit(guide, **changes):
    values = json.loads((guide / "config.json").read_text())
    values.update(changes)
    (guide / "config.json").write_text(json.dumps(values))


def test_the_eval_sweep_lands_in_the_guides_config_and_card(guided_model, tmp_path):
    folder = copy_model(guided_model, tmp_path / "moons")
    sweep = {"description": "DDIM-50, 100 points per class.", "columns": ["upper moon", "lower moon"],
             "rows": {"0": ["50.0%", "51.0%"], "3": ["99.0%", "99.5%"]}, "best": "conformity >= 99% from s = 3"}
    record_guide_sweep(folder, sweep)
    values = json.loads((guide_folder(folder) / "config.json").read_text())
    assert values["sweep"] == sweep
    card = (guide_folder(folder) / "README.md").read_text()
    assert card == guide_card(values) and "| 3 | 99.0% | 99.5% |" in card and "from s = 3" in card


def test_learned_variance_is_refused_for_the_emnist_unet(capsys):
    assert train_toy.main(["train", "emnist", "--learn-variance", "--steps", "1"]) == 2
    assert "--learn-variance only apply to the 2D models' MLP" in capsys.readouterr().err
