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
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from . import plots, weights_source
from .data import TOY_DATASETS, toy_dataset
from .checkpoint import list_checkpoints
from .field import FIELD_MODES
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

    The app's one mutable global: `_lock` guards loading and swapping weights, so two
    first requests for the same checkpoint load it once. Loaded models are only read
    afterwards (eval mode, inference), which torch allows from several threads at once;
    a run already going keeps the pipeline it started with when the weights are swapped.

    Weights come from checkpoints/NAME, or, when the environment names a Hub repo
    (DIFFUSION_HUB_REPO, optionally DIFFUSION_HUB_REVISION; a Space sets them), from
    that repo's NAME/ at that revision, falling back to checkpoints/NAME with the reason
    in `weights_message(NAME)`. `load_weights` switches a model's weights while serving.
    """

    def __init__(
        self,
        root: Path = CHECKPOINTS_DIR,
        loader: Callable = load_pipeline,
        environ: Mapping[str, str] | None = None,
        hub_cache_dir: Path | str | None = None,
    ):
        self.root = Path(root)
        self.loader = loader
        self.environ = os.environ if environ is None else environ
        self.hub_cache_dir = hub_cache_dir
        self._pipelines: dict[str, object] = {}
        self._infos: dict[str, ModelInfo] = {}
        self._pictures: dict[str, DataPicture | None] = {}
        self._broken: dict[str, str] = {}
        self._sources: dict[str, str] = {}
        self._folders: dict[str, Path] = {}
        self._lock = threading.Lock()

    def add(self, name: str, pipeline) -> None:
        """Serve an already-built pipeline under `name` (stand-ins in tests and benchmarks)."""
        with self._lock:
            self._pipelines[name] = pipeline
            self._infos[name] = describe(name, pipeline)
            self._sources[name] = f"{name}: weights supplied in-process"

    def names(self) -> list[str]:
        """Checkpoint folders under `root` plus added pipelines, in display order, without broken ones."""
        on_disk = {p.name for p in list_checkpoints(self.root)}
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
                pipeline, message, folder = self._first_load(name)
                self._install(name, pipeline, message, folder)
            return self._pipelines[name]

    def _first_load(self, name: str) -> tuple[object, str, Path]:
        """The start-up weights: the environment's Hub repo when it names one and they load, else shipped."""
        shipped = self.root / name
        source = weights_source.weights_from_environment(name, self.environ, fallback=shipped, cache_dir=self.hub_cache_dir)
        if source.folder != shipped:
            try:
                return self.loader(source.folder), source.message, source.folder
            except Exception as error:  # noqa: BLE001 - fall back to the shipped weights below
                message = f"{name}: Hub weights not loaded, using the shipped {shipped}. Reason: {error}"
                log.warning("%s", message)
                return self.loader(shipped), message, shipped
        if source.error:
            log.warning("%s", source.message)
        return self.loader(shipped), source.message, shipped

    def _install(self, name: str, pipeline, message: str, folder: Path | None = None) -> None:
        """Make `pipeline` (loaded from `folder`) the one served as `name` (caller holds the lock)."""
        if folder is not None:
            self._folders[name] = Path(folder)
        self._infos[name] = describe(name, pipeline)
        self._pipelines[name] = pipeline
        self._pictures.pop(name, None)
        self._sources[name] = message

    def weights_message(self, name: str) -> str:
        """One line saying where `name`'s weights in use came from (and why not the Hub, if it failed)."""
        self.get(name)
        return self._sources[name]

    def load_weights(self, name: str, repo_id: str | None = None, revision: str | None = None) -> tuple[bool, str]:
        """Serve `name` with the weights of `repo_id` at `revision`, or the shipped ones when repo_id is empty.

        Returns (switched, message). Any failure (the Hub down or refusing, a missing or
        corrupt file, a model that does not load or does not fit) leaves the weights in
        use as they are and says why; it never raises for those.
        """
        if name not in self.names():
            raise RequestError(f"unknown model {_shown(name)}; choose one of: {', '.join(self.names())}")
        self.get(name)
        repo_id = (repo_id or "").strip() or None
        revision = (revision or "").strip() or None
        if repo_id is None:
            folder, message = self.root / name, f"{name}: shipped weights ({self.root / name})"
        else:
            source = weights_source.resolve_weights(name, repo_id, revision, fallback=self.root / name, cache_dir=self.hub_cache_dir)
            if source.error:
                return False, f"{name}: Hub weights not loaded; the weights in use stay. Reason: {source.error}"
            folder, message = source.folder, source.message
        try:
            pipeline = self.loader(folder)
            info = describe(name, pipeline)
        except Exception as error:  # noqa: BLE001 - whatever the folder holds, keep serving the current weights
            return False, f"{name}: {folder} could not be loaded; the weights in use stay. Reason: {error}"
        current = self._infos[name]
        if (info.kind, info.sample_shape) != (current.kind, current.sample_shape):
            return False, (
                f"{name}: {folder} holds a model of {info.sample_shape} samples, not {current.sample_shape}; "
                "the weights in use stay"
            )
        with self._lock:
            self._install(name, pipeline, message, folder)
        return True, message

    def folder(self, name: str) -> Path | None:
        """The checkpoint folder the weights in use came from (None for pipelines added in-process)."""
        self.get(name)
        return self._folders.get(name)

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
    field: str = "off"  # the learned field's arrows (2D only): one of field.FIELD_MODES

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
    field="off",
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
    if field is None:
        field = "off"
    if not isinstance(field, str) or field not in FIELD_MODES:
        raise RequestError(f"field must be one of {', '.join(FIELD_MODES)}, got {_shown(field)}")
    if info.kind != "points":
        field = "off"  # a field of arrows only makes sense in the plane; image models ignore the option
    return SampleRequest(
        model, sampler.lower(), steps, eta, class_name, guidance, num_samples, seed, show_x0, field
    )


def on_gpu_when_available(fn: Callable) -> Callable:
    """`spaces.GPU(fn)` on a Hugging Face ZeroGPU Space (where `spaces` imports), `fn` unchanged elsewhere."""
    try:
        import spaces
    except ImportError:
        return fn
    return spaces.GPU(fn)
