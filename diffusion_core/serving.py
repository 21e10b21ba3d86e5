"""What the demo app needs besides its layout: the model cache, request validation, CPU and GPU setup.

A request from the UI or from an API client arrives as raw values; `validate_request`
turns it into a `SampleRequest` or raises `RequestError` naming the bad value and what
is allowed. `live.run_sample` then streams it. Nothing here imports gradio: the app
maps `RequestError` to `gr.Error`.
"""

from __future__ import annotations

import logging
import math
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from . import plots
from .data import TOY_DATASETS, toy_dataset
from .pipeline import CHECKPOINTS_DIR, load_pipeline

log = logging.getLogger(__name__)

SAMPLERS = ("ddpm", "ddim")
UNCONDITIONAL = "unconditional"
MAX_GUIDANCE = 20.0
MAX_SEED = 2**31 - 1
MAX_POINTS = 5000
MAX_IMAGES = 64
DEFAULT_POINTS = 2000
DEFAULT_IMAGES = 16
PICTURE_POINTS = 2000
# The dropdown lists these first, in this order, then any other checkpoint alphabetically.
PREFERRED_ORDER = ("moons", "circles", "moons_circles", "swissroll", "emnist")


class RequestError(ValueError):
    """A request the app will not run; the message names the bad value and what is allowed."""


@dataclass(frozen=True)
class ModelInfo:
    """What the UI and the validator need to know about a loaded model."""

    name: str
    kind: str  # "points" (2D scatter) or "images" (a grid of (1, H, W) pictures in [-1, 1])
    sample_shape: tuple[int, ...]
    class_names: tuple[str, ...]
    num_train_steps: int
    dataset: str | None
    max_samples: int
    default_samples: int


def describe(name: str, pipeline) -> ModelInfo:
    """A pipeline's `ModelInfo`; image pipelines expose `sample_shape = (C, H, W)`, 2D ones a config."""
    shape = getattr(pipeline, "sample_shape", None) or (pipeline.config.model.data_dim,)
    shape = tuple(int(s) for s in shape)
    if len(shape) == 3:
        kind, max_samples, default = "images", MAX_IMAGES, DEFAULT_IMAGES
    elif shape == (2,):
        kind, max_samples, default = "points", MAX_POINTS, DEFAULT_POINTS
    else:
        raise ValueError(
            f"model {name!r}: samples of shape {shape} are neither 2D points nor (C, H, W) images"
        )
    dataset = getattr(getattr(pipeline, "config", None), "dataset", None)
    return ModelInfo(
        name=name,
        kind=kind,
        sample_shape=shape,
        class_names=tuple(pipeline.class_names),
        num_train_steps=int(pipeline.schedule.num_train_steps),
        dataset=dataset,
        max_samples=max_samples,
        default_samples=default,
    )


@dataclass(frozen=True)
class DataPicture:
    """The faint true data behind a 2D model's frames: points (M, 2), labels (M,), the view's half-width."""

    data: np.ndarray
    labels: np.ndarray
    limit: float


class ModelCache:
    """Every model loaded once per process and shared by all requests.

    The app's one mutable global: `_lock` guards loading so two first requests for the
    same checkpoint load it once. Loaded models are only read afterwards (eval mode,
    inference), which torch allows from several threads at once.
    """

    def __init__(self, root: Path = CHECKPOINTS_DIR, loader: Callable = load_pipeline):
        self.root = Path(root)
        self.loader = loader
        self._pipelines: dict[str, object] = {}
        self._infos: dict[str, ModelInfo] = {}
        self._pictures: dict[str, DataPicture | None] = {}
        self._broken: dict[str, str] = {}
        self._lock = threading.Lock()

    def add(self, name: str, pipeline) -> None:
        """Serve an already-built pipeline under `name` (stand-ins in tests and benchmarks)."""
        with self._lock:
            self._pipelines[name] = pipeline
            self._infos[name] = describe(name, pipeline)

    def names(self) -> list[str]:
        """Checkpoint folders under `root` plus added pipelines, in display order, without broken ones."""
        on_disk = {p.name for p in self.root.glob("*") if (p / "config.json").is_file()}
        with self._lock:
            names = (on_disk | set(self._pipelines)) - set(self._broken)
        rank = {name: i for i, name in enumerate(PREFERRED_ORDER)}
        return sorted(names, key=lambda n: (rank.get(n, len(rank)), n))

    def preload(self) -> dict[str, str]:
        """Load every listed model now; returns {name: error} for those that fail (and drops them)."""
        for name in self.names():
            try:
                self.get(name)
            except Exception as error:  # noqa: BLE001 - a broken folder must not take the demo down
                log.warning("model %s could not be loaded and is not offered: %s", name, error)
                with self._lock:
                    self._broken[name] = str(error)
        return dict(self._broken)

    def get(self, name: str):
        pipeline = self._pipelines.get(name)
        if pipeline is not None:
            return pipeline
        with self._lock:
            if name not in self._pipelines:
                pipeline = self.loader(self.root / name)
                self._infos[name] = describe(name, pipeline)
                self._pipelines[name] = pipeline
            return self._pipelines[name]

    def info(self, name: str) -> ModelInfo:
        self.get(name)
        return self._infos[name]

    def picture(self, name: str) -> DataPicture | None:
        """The faint data picture of a 2D toy model (None for image models and unknown data sets)."""
        if name not in self._pictures:
            info = self.info(name)
            picture = None
            if info.kind == "points" and info.dataset in TOY_DATASETS:
                data, labels = toy_dataset(info.dataset, PICTURE_POINTS, seed=0)
                data, labels = data.numpy(), labels.numpy()
                picture = DataPicture(data, labels, plots.axis_limit(data))
            with self._lock:
                self._pictures[name] = picture
        return self._pictures[name]


@dataclass(frozen=True)
class SampleRequest:
    """A validated request: every field is within what `model` allows."""

    model: str
    sampler: str
    steps: int
    eta: float
    class_name: str
    guidance: float
    num_samples: int
    seed: int
    show_x0: bool = False

    @property
    def label(self) -> str | None:
        return None if self.class_name == UNCONDITIONAL else self.class_name


def _shown(value) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def number(value, name: str, low: float, high: float, whole: bool) -> float | int:
    """`value` as an int (whole) or float within [low, high], or RequestError naming it and the range."""
    if whole:
        allowed = f"a whole number from {int(low)} to {int(high)}"
    else:
        allowed = f"a number from {low:g} to {high:g}"
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise RequestError(f"{name} must be {allowed}, got {_shown(value)}")
    if not math.isfinite(value) or not low <= value <= high or (whole and value != int(value)):
        raise RequestError(f"{name} must be {allowed}, got {_shown(value)}")
    return int(value) if whole else float(value)


def validate_request(
    cache: ModelCache,
    model,
    sampler,
    steps,
    eta,
    class_name,
    guidance,
    num_samples,
    seed,
    show_x0=False,
) -> SampleRequest:
    """Check raw inputs (from the UI or an API client) and return a `SampleRequest`, or raise RequestError."""
    names = cache.names()
    if not isinstance(model, str) or model not in names:
        raise RequestError(f"unknown model {_shown(model)}; choose one of: {', '.join(names)}")
    try:
        info = cache.info(model)
    except Exception as error:
        raise RequestError(f"model {model!r} could not be loaded: {error}") from error
    if not isinstance(sampler, str) or sampler.lower() not in SAMPLERS:
        raise RequestError(f"unknown sampler {_shown(sampler)}; choose DDPM or DDIM")
    steps = number(steps, "steps", 1, info.num_train_steps, whole=True)
    eta = number(eta, "eta (η)", 0.0, 1.0, whole=False)
    classes = (UNCONDITIONAL, *info.class_names)
    if class_name is None:
        class_name = UNCONDITIONAL
    if not isinstance(class_name, str) or class_name not in classes:
        raise RequestError(
            f"class {_shown(class_name)} is not a class of {model}; choose one of: {', '.join(classes)}"
        )
    guidance = number(guidance, "guidance weight w", 0.0, MAX_GUIDANCE, whole=False)
    what = "points" if info.kind == "points" else "images"
    num_samples = number(num_samples, f"number of {what} for {model}", 1, info.max_samples, whole=True)
    seed = number(seed, "seed", 0, MAX_SEED, whole=True)
    if show_x0 is None:
        show_x0 = False
    if not isinstance(show_x0, bool):
        raise RequestError(f"show_x0 must be true or false, got {_shown(show_x0)}")
    return SampleRequest(model, sampler.lower(), steps, eta, class_name, guidance, num_samples, seed, show_x0)


def configure_torch_threads(concurrency: int, cores: int | None = None) -> int:
    """Split the CPU cores evenly between `concurrency` simultaneous runs (at least one thread each)."""
    if cores is None:
        cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    threads = max(1, cores // max(1, concurrency))
    torch.set_num_threads(threads)
    return threads


def on_gpu_when_available(fn: Callable) -> Callable:
    """`spaces.GPU(fn)` on a Hugging Face ZeroGPU Space (where `spaces` imports), `fn` unchanged elsewhere."""
    try:
        import spaces
    except ImportError:
        return fn
    return spaces.GPU(fn)
