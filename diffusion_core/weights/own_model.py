"""Train a 2D model on a visitor's own point set in seconds, and keep it as a checkpoint folder.

The same FiLM MLP and `training.Trainer` as the shipped 2D models (train_toy.py), on a
recipe tuned for speed: bigger steps (lr 3e-3), a short warmup and a short EMA, as many
steps as fit the time budget. `train_own_model` runs in chunks and reports after each,
so the app can draw the loss as it falls and stop between chunks; the result is an
in-memory `Pipeline` whose `dataset` is the point set's registered name. `own_checkpoint`
writes it as a folder that `load_pipeline` and `train_toy.py eval` accept, with the points
in `points.csv` (which `load_pipeline` registers again) and a card.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import torch

from ..data import register_point_set
from ..data.custom import PointSet
from ..device import pick_device
from ..models.mlp import MLPConfig
from ..schedules import NoiseSchedule
from ..training import TrainConfig, Trainer
from .checkpoint import POINTS_NAME, CheckpointConfig, save_checkpoint
from .pipeline import Pipeline

OWN_STEPS = 6000  # the most a run takes, should the time budget allow it
OWN_SECONDS = 30.0
CHUNK_STEPS = 100
OWN_RECIPE = TrainConfig(steps=OWN_STEPS, batch_size=512, lr=3e-3, warmup_steps=50, ema_decay=0.995)
OWN_MODEL = dict(hidden=48, num_layers=3, fourier_bands=4, activation="hardswish", prediction="v_prediction")


@dataclass(frozen=True)
class OwnProgress:
    """After a chunk: steps done of the most, seconds spent of the budget, the losses so far."""

    step: int
    steps: int
    seconds: float
    budget: float
    losses: list[float]


def own_config(point_set: PointSet, name: str, training: TrainConfig = OWN_RECIPE) -> CheckpointConfig:
    """The checkpoint config of a model of `point_set` whose data set is registered as `name`."""
    model = MLPConfig(num_classes=len(point_set.class_names), **OWN_MODEL)
    schedule = NoiseSchedule.create("cosine", 1000).config()
    return CheckpointConfig(model, schedule, point_set.class_names, name, (-3.0, 3.0), training.to_dict())


def train_own_model(
    point_set: PointSet,
    name: str | None = None,
    seconds: float = OWN_SECONDS,
    recipe: TrainConfig = OWN_RECIPE,
    stop: threading.Event | None = None,
    device: str | torch.device = "cpu",
    clock: Callable[[], float] = time.perf_counter,
) -> Iterator[OwnProgress | Pipeline]:
    """Train on `point_set` (registered as data set `name`, by default its content's name) for at most
    `seconds` (and `recipe.steps`), yielding an `OwnProgress` after every CHUNK_STEPS steps and the
    trained `Pipeline` (EMA weights) last; with `stop` set, it ends after the chunk in progress and
    still yields the model trained so far."""
    name = name or point_set.name
    register_point_set(name, point_set)
    config = own_config(point_set, name, recipe)
    torch.manual_seed(recipe.seed)
    trainer = Trainer(config.build_model(), config.build_schedule(), point_set.draw, recipe, "v_prediction", device)
    start = clock()
    while trainer.step < recipe.steps:
        trainer.run(until=min(recipe.steps, trainer.step + CHUNK_STEPS), progress=False)
        spent = clock() - start
        yield OwnProgress(trainer.step, recipe.steps, spent, seconds, list(trainer.losses))
        if spent >= seconds or (stop is not None and stop.is_set()):
            break
    trained = replace(config, training={**config.training, "steps": trainer.step, "seconds": round(clock() - start, 1)})
    yield Pipeline(trainer.ema.eval(), trained, device)


def train_for_transfer(point_set: PointSet, name: str, seconds: float = OWN_SECONDS,
                       stop: threading.Event | None = None) -> Iterator[OwnProgress | tuple[dict, dict]]:
    """`train_own_model` on the best device, its model given back as (config dict, CPU weights): what can
    leave the process it trained in (a ZeroGPU Space trains in a GPU worker, not the server's own)."""
    for item in train_own_model(point_set, name, seconds, stop=stop, device=pick_device(None)):
        if isinstance(item, OwnProgress):
            yield item
        else:
            weights = {key: value.detach().cpu() for key, value in item.model.state_dict().items()}
            yield item.config.to_dict(), weights


def pipeline_from(config: dict, weights: dict[str, torch.Tensor], point_set: PointSet) -> Pipeline:
    """The CPU pipeline of a transferred model (`train_for_transfer`), its points registered as its data set."""
    checked = CheckpointConfig.from_dict(config)
    model = checked.build_model()
    model.load_state_dict(weights)
    register_point_set(checked.dataset, point_set)
    return Pipeline(model, checked, "cpu")


def own_checkpoint(pipeline: Pipeline, point_set: PointSet, folder: Path, card: str) -> Path:
    """Save the trained model as a checkpoint folder: config.json, model.safetensors, points.csv, README.md."""
    extra = {POINTS_NAME: point_set.to_csv().encode(), "README.md": card.encode()}
    return save_checkpoint(folder, pipeline.config, pipeline.model.state_dict(), None, extra)
