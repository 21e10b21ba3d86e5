"""Training a model of one's own point set: quick, stoppable, and kept as a folder that loads again."""

import math
import subprocess
import sys
import threading
from pathlib import Path

import pytest
import torch

from diffusion_core.data import forget_point_set, is_point_set
from diffusion_core.data.custom import from_strokes
from diffusion_core.evaluation.metrics import sliced_wasserstein_ratio, stray_share
from diffusion_core.evaluation.toy import fresh_sets
from diffusion_core.weights.own_model import OwnProgress, own_checkpoint, train_own_model
from diffusion_core.weights.pipeline import Pipeline, load_pipeline

ROOT = Path(__file__).resolve().parent.parent
RING = {"strokes": [{"class": 0, "points": [[200 + 100 * math.cos(a / 20), 200 + 100 * math.sin(a / 20)]
                                            for a in range(127)]}]}


@pytest.fixture(scope="module")
def trained():
    torch.set_num_threads(2)
    point_set = from_strokes(RING)
    *progress, pipeline = train_own_model(point_set, "yours-ring-test", seconds=8.0)
    yield point_set, progress, pipeline
    forget_point_set("yours-ring-test")


def test_training_reports_each_chunk_and_ends_with_a_pipeline_of_the_set(trained):
    point_set, progress, pipeline = trained
    assert all(isinstance(p, OwnProgress) for p in progress) and isinstance(pipeline, Pipeline)
    assert [p.step for p in progress] == sorted(p.step for p in progress) and progress[-1].step >= 300
    assert len(progress[-1].losses) == progress[-1].step
    assert pipeline.dataset == "yours-ring-test" and pipeline.class_names == ("orange",)


def test_the_trained_model_samples_the_drawn_ring(trained):
    _, _, pipeline = trained
    fresh = fresh_sets("yours-ring-test", 1000)
    points = pipeline.generate(1000, sampler="ddpm", steps=100, seed=0)
    assert sliced_wasserstein_ratio(points, fresh, 64).ratio < 2.5
    assert stray_share(points, fresh) < 0.08
    radius = points.norm(dim=1)
    assert (radius < 1.0).float().mean() < 0.1  # not a blob: the middle of the ring stays empty


def test_a_stopped_training_ends_after_its_chunk_with_the_model_so_far():
    stop = threading.Event()
    stream = train_own_model(from_strokes(RING), "yours-stop-test", seconds=60.0, stop=stop)
    first = next(stream)
    stop.set()
    rest = list(stream)
    assert isinstance(first, OwnProgress) and first.step == 100
    assert isinstance(rest[-1], Pipeline) and rest[-1].config.training["steps"] <= 200
    forget_point_set("yours-stop-test")


def test_the_saved_folder_loads_with_its_points_and_train_toy_evaluates_it(trained, tmp_path):
    point_set, _, pipeline = trained
    folder = own_checkpoint(pipeline, point_set, tmp_path / "mine", "# mine\n")
    assert {p.name for p in folder.iterdir()} >= {"config.json", "model.safetensors", "points.csv", "README.md"}
    forget_point_set("yours-ring-test")
    loaded = load_pipeline(folder)  # registers points.csv as the model's data set again
    assert is_point_set("yours-ring-test")
    same = loaded.generate(200, sampler="ddim", steps=20, seed=3)
    assert torch.allclose(same, pipeline.generate(200, sampler="ddim", steps=20, seed=3), atol=1e-5)
    done = subprocess.run([sys.executable, "train_toy.py", "eval", str(folder), "--n-samples", "500",
                           "--n-conformity", "100", "--no-card", "--threads", "1"],
                          cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert "SW ratio, DDPM all steps, 500 points" in done.stdout, done.stdout + done.stderr


def test_a_folder_with_a_broken_points_file_is_refused_clearly(trained, tmp_path):
    point_set, _, pipeline = trained
    folder = own_checkpoint(pipeline, point_set, tmp_path / "broken", "# broken\n")
    (folder / "points.csv").write_text("1,2\nthree,4\n")
    from diffusion_core.weights.checkpoint import CheckpointError

    with pytest.raises(CheckpointError, match="points.csv: line 2: expected x,y or x,y,label numbers"):
        load_pipeline(folder)


def test_a_model_trained_elsewhere_comes_back_as_config_and_weights_and_samples_alike():
    from diffusion_core.weights.own_model import pipeline_from, train_for_transfer

    point_set = from_strokes(RING)
    *_, (config, weights) = train_for_transfer(point_set, "yours-transfer-test", seconds=1.0)
    assert all(tensor.device.type == "cpu" for tensor in weights.values())
    forget_point_set("yours-transfer-test")  # as in the server's own process, which never saw it
    pipeline = pipeline_from(config, weights, point_set)
    assert is_point_set("yours-transfer-test") and pipeline.dataset == "yours-transfer-test"
    again = pipeline_from(config, weights, point_set)
    a = pipeline.generate(100, sampler="ddim", steps=10, seed=0)
    assert torch.equal(a, again.generate(100, sampler="ddim", steps=10, seed=0)) and a.isfinite().all()
    forget_point_set("yours-transfer-test")
