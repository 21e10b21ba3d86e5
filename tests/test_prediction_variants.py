"""The shipped moons in three variants that differ only in what the network predicts (ε, x0, v): each
loads and samples through the same pipeline, and the app shows them side by side."""

import json

import pytest

from diffusion_core.data import toy_dataset
from diffusion_core.demo.cache import ModelCache, model_label
from diffusion_core.demo.handlers import Handlers
from diffusion_core.evaluation.metrics import stray_share
from diffusion_core.evaluation.toy import fresh_sets
from diffusion_core.weights.pipeline import CHECKPOINTS_DIR, load_pipeline

VARIANTS = {"moons": "v_prediction", "moons_epsilon": "epsilon", "moons_x0": "sample"}


def training_without_target(name: str) -> dict:
    config = json.loads((CHECKPOINTS_DIR / name / "config.json").read_text())
    training = {k: v for k, v in config["training"].items() if k not in ("seconds", "final_loss", "command", "threads")}
    model = {k: v for k, v in config["model"].items() if k != "prediction"}
    return {"training": training, "model": model, "schedule": config["schedule"], "dataset": config["dataset"]}


def test_the_variants_were_trained_identically_but_for_the_target():
    recipes = {name: training_without_target(name) for name in VARIANTS}
    assert recipes["moons_epsilon"] == recipes["moons"] == recipes["moons_x0"]
    for name, prediction in VARIANTS.items():
        assert load_pipeline(name).prediction == prediction


@pytest.mark.parametrize("name", VARIANTS)
def test_each_variant_samples_the_moons_through_the_same_pipeline(name):
    pipeline = load_pipeline(name)
    points = pipeline.generate(2000, sampler="ddpm", steps=100, seed=0)
    assert points.shape == (2000, 2) and points.isfinite().all()
    assert stray_share(points, fresh_sets("moons", 2000)) < 0.04  # fresh data: 1%
    upper = pipeline.generate(500, sampler="ddim", steps=50, label="upper moon", guidance=3.0, seed=1)
    reference, labels = toy_dataset("moons", 4000, seed=7)
    nearest = labels[((upper[:, None] - reference[None]) ** 2).sum(-1).argmin(1)]
    assert (nearest == 0).float().mean() > 0.98


def test_the_app_names_the_variants_and_charts_them_together():
    handlers = Handlers(ModelCache())
    assert model_label("moons_epsilon") == "Two moons, predicting ε"
    assert model_label("moons_x0") == "Two moons, predicting x₀"
    assert "predicts **the clean sample**" in handlers.explain_run("moons_x0", "ddim", 50, 0.0, "none", 0.0)
    figure = handlers.prediction_figure("moons")
    names = {trace["name"] for trace in figure.to_dict()["data"]}
    assert names == {"predicts ε", "predicts x₀", "predicts v"}
