"""The models the app serves: each loaded once per process, described once, shared by every request.

One `ServedModel` record per model holds the pipeline, what the UI needs to know
about it (`ModelInfo`), the faint data picture behind its frames, and where its
weights came from. Anything with the `ServablePipeline` interface can be served:
a checkpoint's `weights.Pipeline`, or a stand-in built in a test or benchmark.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np
import torch

from ..data import TOY_DATASETS, forget_point_set, is_point_set, toy_dataset
from ..samplers import SamplerStep
from ..schedules import NoiseSchedule
from ..weights import source as weights_source
from ..weights.checkpoint import list_checkpoints, listing_signature
from ..weights.pipeline import CHECKPOINTS_DIR, load_pipeline, smoke_test
from . import cost, plots
from .cost import StepCost, best_threads, measure_step_cost
from .gpu import on_zero_gpu
from .requests import known_model
from .threads import available_cores

log = logging.getLogger(__name__)

MAX_POINTS = 5000
MAX_IMAGES = 64
DEFAULT_POINTS = 2000
DEFAULT_IMAGES = 16
PICTURE_POINTS = 2000
# The two batch sizes a model's step cost is measured at, by kind (see cost.measure_step_cost).
COST_PROBES = {"points": (100, 2000), "images": (2, 32)}
THREAD_PROBE_ROWS = {"points": 2000, "images": 16}  # the app's usual run: 2000 points, 16 characters
# Where the models cannot run outside a GPU call (ZeroGPU), a step's cost is not measured but taken
# as a tenth of the shipped models' on two CPU cores (2D: 0.8 ms + 0.4 µs a point; EMNIST: 2.6 ms +
# 1.2 ms an image), and the guide's pass likewise (2D: five times a step, EMNIST: 0.7 times, as measured
# on the CPU): a guess at a GPU's speed, not a measurement.
UNMEASURED_COST = {"points": StepCost(8e-5, 4e-8, 4e-4, 2e-7), "images": StepCost(2.6e-4, 1.2e-4, 1.8e-4, 8e-5)}
# The dropdown lists these first, in this order, then any other checkpoint alphabetically.
PRIVATE_TTL_S = 3600  # a visitor's own model is dropped after an hour, or when their page closes
PREFERRED_ORDER = ("moons", "circles", "moons_circles", "swissroll", "emnist", "moons_epsilon", "moons_x0")
# What the page calls them (the API keeps the folder names). moons_epsilon and moons_x0 are moons
# trained identically but for what the network predicts (the shipped moons predicts v).
MODEL_LABELS = {"moons": "Two moons", "circles": "Circles", "moons_circles": "Circles vs moons",
                "swissroll": "Swiss roll", "emnist": "EMNIST characters",
                "moons_epsilon": "Two moons, predicting ε", "moons_x0": "Two moons, predicting x₀",
                "moons_learned": "Two moons, learning its variance"}


def model_label(name: str) -> str:
    """A model's name on the page: MODEL_LABELS', 'Your data' for a visitor's own, else its folder name."""
    if name.startswith("yours-"):
        return "Your data"
    return MODEL_LABELS.get(name, name)


class ServablePipeline(Protocol):
    """What the app needs of a model: its classes, schedule, sample shape, data set and a streamed run."""

    class_names: tuple[str, ...]
    schedule: NoiseSchedule
    sample_shape: tuple[int, ...]  # (D,) for points, (C, H, W) for images
    dataset: str | None  # the toy data set a 2D model learned (its picture and quality meter), else None
    prediction: str  # what the network outputs: "epsilon", "sample" (x0) or "v_prediction"

    def trajectory(
        self,
        n: int,
        sampler: str = ...,
        steps: int | None = ...,
        label: int | str | None = ...,
        guidance: float = ...,
        eta: float = ...,
        seed: int | None = ...,
        classifier_scale: float = ...,  # classifier guidance's s; > 0 only where `guide` is not None
        conditional: bool | None = ...,
        variance: str | None = ...,  # DDPM's Σ: fixed_small, fixed_large or (where learns_variance) learned
    ) -> Iterator[SamplerStep]: ...


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
    prediction: str = "epsilon"
    has_guide: bool = False  # a noise-aware classifier beside it: classifier guidance is offered
    guide_problem: str | None = None  # why the guide beside it could not be loaded
    learns_variance: bool = False  # Improved DDPM's learned Σ: DDPM may sample with variance "learned"


def describe(name: str, pipeline: ServablePipeline) -> ModelInfo:
    """A pipeline's `ModelInfo`: points for samples of shape (2,), images for (C, H, W)."""
    shape = tuple(int(s) for s in pipeline.sample_shape)
    if len(shape) == 3:
        kind, max_samples, default = "images", MAX_IMAGES, DEFAULT_IMAGES
    elif shape == (2,):
        kind, max_samples, default = "points", MAX_POINTS, DEFAULT_POINTS
    else:
        raise ValueError(
            f"model {name!r}: samples of shape {shape} are neither 2D points nor (C, H, W) images"
        )
    return ModelInfo(
        name=name,
        kind=kind,
        sample_shape=shape,
        class_names=tuple(pipeline.class_names),
        num_train_steps=int(pipeline.schedule.num_train_steps),
        dataset=getattr(pipeline, "dataset", None),
        max_samples=max_samples,
        default_samples=default,
        prediction=getattr(pipeline, "prediction", "epsilon"),
        has_guide=getattr(pipeline, "guide", None) is not None,
        guide_problem=getattr(pipeline, "guide_problem", None),
        learns_variance=bool(getattr(pipeline, "learns_variance", False)),
    )


@dataclass(frozen=True)
class DataPicture:
    """The faint true data behind a 2D model's frames: points (M, 2), labels (M,), the view's half-width."""

    data: np.ndarray
    labels: np.ndarray
    limit: float


def data_picture(info: ModelInfo) -> DataPicture | None:
    """The data picture of a 2D toy model (None for image models and unknown data sets)."""
    if info.kind != "points" or not is_point_set(info.dataset):
        return None
    data, labels = toy_dataset(info.dataset, PICTURE_POINTS, seed=0)
    data, labels = data.numpy(), labels.numpy()
    return DataPicture(data, labels, plots.axis_limit(data))


@dataclass(frozen=True)
class ServedModel:
    """One served model: the pipeline, its description, its data picture, where its weights came from."""

    pipeline: ServablePipeline
    info: ModelInfo
    picture: DataPicture | None
    source: str  # one line for the UI: shipped weights, a Hub repo at a commit, or why the Hub failed
    folder: Path | None  # the checkpoint folder the weights came from (None: built in-process)
    cost: StepCost  # one sampler step's seconds, measured when the model was first served
    threads: int | None = None  # the most CPU threads a run of it uses well (None: as many as it gets)

    @property
    def view_limit(self) -> float:
        """Half-width of the square 2D view: the data picture's, or the standard one without data."""
        return self.picture.limit if self.picture is not None else plots.MIN_LIMIT


def serve(name: str, pipeline: ServablePipeline, source: str, folder: Path | None) -> ServedModel:
    """The record of `pipeline` served as `name`, once one sampling step has run clean and its step cost
    is measured (ValueError for samples the app cannot show, CheckpointError for a model that fails)."""
    info = describe(name, pipeline)
    threads = None
    if on_zero_gpu():  # no model may run outside a GPU call there
        cost = UNMEASURED_COST[info.kind]
    else:
        smoke_test(pipeline)  # one sampling step, finite, before anyone is served it
        if _on_cpu(pipeline):
            threads = best_threads(pipeline, THREAD_PROBE_ROWS[info.kind], available_cores())
        cost = measure_step_cost(pipeline, *COST_PROBES[info.kind])
    folder = None if folder is None else Path(folder)
    return ServedModel(pipeline, info, data_picture(info), source, folder, cost, threads)


def _on_cpu(pipeline) -> bool:
    device = getattr(pipeline, "device", None)
    return device is None or torch.device(device).type == "cpu"


class ModelCache:
    """Every model loaded once per process and shared by all requests.

    The app's one mutable global: `_lock` guards loading and swapping weights, so two
    first requests for the same checkpoint load it once. Loaded models are only read
    afterwards (eval mode, inference), which torch allows from several threads at once;
    a run already going keeps the record it started with when the weights are swapped.

    Weights come from checkpoints/NAME, or, when the environment names a Hub repo
    (DIFFUSION_HUB_REPO, optionally DIFFUSION_HUB_REVISION; a Space sets them), from
    that repo's NAME/ at that revision, falling back to checkpoints/NAME with the reason
    in `weights_message(NAME)`. A model is loaded by `preload` (the app's start) or by
    its first `served(NAME)`; `load_weights` switches its weights while serving.
    """

    def __init__(
        self,
        root: Path = CHECKPOINTS_DIR,
        loader: Callable = load_pipeline,
        environ: Mapping[str, str] | None = None,
        hub_cache_dir: Path | str | None = None,
        max_run_seconds: float | None = None,
    ):
        self.root = Path(root)
        self.loader = loader
        self.environ = os.environ if environ is None else environ
        self.hub_cache_dir = hub_cache_dir
        # The longest run one request may ask for (cost.max_run_seconds: DIFFUSION_MAX_RUN_SECONDS or 15 s).
        self.max_run_seconds = cost.max_run_seconds(self.environ) if max_run_seconds is None else max_run_seconds
        self._served: dict[str, ServedModel] = {}
        # A visitor's own models, by name: (the session that trained it, its record, when), never listed.
        self._private: dict[str, tuple[str, ServedModel, float]] = {}
        self._broken: dict[str, str] = {}
        self._hub_down: str | None = None  # why the Hub is no longer asked at start-up, once it failed
        self._listed: tuple[tuple, frozenset[str]] | None = None  # (listing_signature, the checkpoint folders)
        self._lock = threading.Lock()

    def add(self, name: str, pipeline: ServablePipeline) -> None:
        """Serve an already-built pipeline under `name` (stand-ins in tests and benchmarks)."""
        record = serve(name, pipeline, f"{name}: weights supplied in-process", None)
        with self._lock:
            self._served[name] = record

    def add_private(self, name: str, owner: str, pipeline: ServablePipeline, ttl_s: float = PRIVATE_TTL_S) -> None:
        """Serve `pipeline` as `name` to the session `owner` alone (a model a visitor trained); models
        older than `ttl_s` are dropped first."""
        record = serve(name, pipeline, f"{name}: trained in this session, seen by no one else", None)
        now = time.monotonic()
        with self._lock:
            expired = [n for n, (_, _, made) in self._private.items() if now - made > ttl_s]
            self._forget_private(expired)
            self._private[name] = (owner, record, now)

    def private_names(self, owner: str | None) -> list[str]:
        """The models session `owner` trained (none for no session)."""
        with self._lock:
            return [name for name, (who, _, _) in self._private.items() if owner and who == owner]

    def drop_private(self, owner: str | None) -> list[str]:
        """Forget session `owner`'s models and the point sets they were trained on; returns their names."""
        names = self.private_names(owner)
        with self._lock:
            self._forget_private(names)
        return names

    def _forget_private(self, names: list[str]) -> None:
        """Drop these private models and their registered data (with the lock held)."""
        for name in names:
            _, record, _ = self._private.pop(name)
            if record.info.dataset not in TOY_DATASETS:
                forget_point_set(record.info.dataset)

    def names(self) -> list[str]:
        """Checkpoint folders under `root` plus added pipelines, in display order, without broken ones."""
        signature = listing_signature(self.root)
        listed = self._listed
        if signature is None or listed is None or listed[0] != signature:  # read the configs only when one changed
            listed = (signature, frozenset(p.name for p in list_checkpoints(self.root)))
            self._listed = listed if signature is not None else None  # none kept mid-save (listing_signature)
        on_disk = listed[1]
        with self._lock:
            names = (on_disk | set(self._served)) - set(self._broken)
        rank = {name: i for i, name in enumerate(PREFERRED_ORDER)}
        return sorted(names, key=lambda n: (rank.get(n, len(rank)), n))

    def preload(self) -> dict[str, str]:
        """Load every listed model now; returns {name: error} for those that fail (and drops them)."""
        for name in self.names():
            try:
                self.served(name)
            except Exception as error:  # noqa: BLE001 - a broken folder must not take the demo down
                log.warning("model %s could not be loaded and is not offered: %s", name, error)
                with self._lock:
                    self._broken[name] = str(error)
        return dict(self._broken)

    def served(self, name: str) -> ServedModel:
        """The record of `name`, loading its weights first if no request has asked for them yet."""
        record = self._served.get(name)
        if record is not None:
            return record
        private = self._private.get(name)
        if private is not None:  # whose it is, requests.known_model checks
            return private[1]
        with self._lock:
            if name not in self._served:
                self._served[name] = self._first_load(name)
            return self._served[name]

    def _first_load(self, name: str) -> ServedModel:
        """The start-up weights: the environment's Hub repo when it names one and they load, else shipped.

        Once the Hub has not answered for one model, the others do not ask it again (each would
        wait out the timeouts): they load their shipped weights, saying why once.
        """
        shipped = self.root / name
        if self._hub_down is not None:
            message = f"{name}: shipped weights (checkpoints/{name}); the Hub was not asked again: {self._hub_down}"
            return serve(name, self.loader(shipped), message, shipped)
        source = weights_source.weights_from_environment(
            name, self.environ, fallback=shipped, cache_dir=self.hub_cache_dir
        )
        if source.unreachable:
            self._hub_down = f"it could not be reached when {name} was loaded"
        if source.folder != shipped:
            try:
                return serve(name, self.loader(source.folder), source.message, source.folder)
            except Exception as error:  # noqa: BLE001 - fall back to the shipped weights below
                message = f"{name}: Hub weights not loaded, using the shipped weights. Reason: {error}"
                log.warning("%s", message)
                return serve(name, self.loader(shipped), message, shipped)
        if source.error:
            log.warning("%s", source.message)
        return serve(name, self.loader(shipped), source.message, shipped)

    def get(self, name: str) -> ServablePipeline:
        return self.served(name).pipeline

    def loaded(self, name: str) -> bool:
        """Whether `name`'s weights are in memory (so asking for it costs no load)."""
        return name in self._served or name in self._private

    def info(self, name: str) -> ModelInfo:
        return self.served(name).info

    def picture(self, name: str) -> DataPicture | None:
        """The faint data picture of a 2D toy model (None for image models and unknown data sets)."""
        return self.served(name).picture

    def folder(self, name: str) -> Path | None:
        """The checkpoint folder the weights in use came from (None for pipelines added in-process)."""
        return self.served(name).folder

    def weights_message(self, name: str) -> str:
        """One line saying where `name`'s weights in use came from (and why not the Hub, if it failed)."""
        return self.served(name).source

    def load_weights(self, name: str, repo_id: str | None = None, revision: str | None = None) -> tuple[bool, str]:
        """Serve `name` with the weights of `repo_id` at `revision`, or the shipped ones when repo_id is empty.

        Returns (switched, message). Any failure (the Hub down or refusing, a missing or
        corrupt file, a model that does not load or does not fit) leaves the weights in
        use as they are and says why; it never raises for those. An unknown `name` is a RequestError.
        """
        current = self.served(known_model(self, name))
        repo_id = (repo_id or "").strip() or None
        revision = (revision or "").strip() or None
        if repo_id is None:
            folder, message = self.root / name, f"{name}: shipped weights (checkpoints/{name})"
        else:
            # A visitor's pull never carries the server's own token (HF_TOKEN): only public repos.
            source = weights_source.resolve_weights(
                name, repo_id, revision, fallback=self.root / name, cache_dir=self.hub_cache_dir, token=False
            )
            if source.error:
                return False, f"{name}: Hub weights not loaded; the weights in use stay. Reason: {source.error}"
            folder, message = source.folder, source.message
        what = "the shipped weights" if repo_id is None else f"the weights of {repo_id}"
        try:
            record = serve(name, self.loader(folder), message, folder)
        except Exception as error:  # noqa: BLE001 - whatever the folder holds, keep serving the current weights
            return False, f"{name}: {what} could not be loaded; the weights in use stay. Reason: {error}"
        if (record.info.kind, record.info.sample_shape) != (current.info.kind, current.info.sample_shape):
            return False, (
                f"{name}: {what} hold a model of {record.info.sample_shape} samples, not "
                f"{current.info.sample_shape}; the weights in use stay"
            )
        with self._lock:
            self._served[name] = record
        return True, message
