"""A trained checkpoint ready to sample: `load_pipeline("moons").generate(1000, label="upper moon")`."""

from __future__ import annotations

import math
import os
from collections.abc import Iterator
from pathlib import Path

import torch

from ..data import TOY_DATASETS, register_point_set
from ..data.custom import PointSetError, from_csv
from ..device import pick_device
from ..guidance import classifier_gradient
from ..samplers import SAMPLERS, VARIANCE_TYPES, SamplerStep, sample
from .atomic import recover_interrupted_swaps
from .checkpoint import POINTS_NAME, CheckpointConfig, CheckpointError, check_file_size, list_checkpoints, load_model
from .guide import guide_folder, load_guide
from .limits import shortened, shown

MAX_POINTS_BYTES = 512 * 1024  # points.csv: 5000 rows of about 30 bytes
CHECKPOINTS_DIR = Path(__file__).resolve().parents[2] / "checkpoints"
# None: every one of the schedule's T steps. The solvers' counts give DDIM-50's quality or better on the
# 2D models (`python -m bench.solver_exactness` for the exact mixture).
DEFAULT_STEPS = {"ddpm": None, "ddim": 50, "dpmpp_2m": 20, "heun": 20, "euler_ancestral": 50}


def resolve_checkpoint(name_or_path: str | Path, root: Path = CHECKPOINTS_DIR) -> Path:
    """A checkpoint folder from a path, or from a name under `root` (checkpoints/), after
    recovering `root` from any interrupted save (`atomic.recover_interrupted_swaps`)."""
    path = Path(name_or_path)
    if (path / "config.json").is_file():
        return path
    recover_interrupted_swaps(root)
    if (root / str(name_or_path) / "config.json").is_file():
        return root / str(name_or_path)
    available = [p.name for p in list_checkpoints(root)]
    raise CheckpointError(
        f"no checkpoint {shown(str(name_or_path))}: not a folder with config.json, nor a name in {root} "
        f"(available: {', '.join(available) or 'none'})"
    )


class Pipeline:
    """A denoiser, its schedule and sampler settings, the class names it was trained on, and the
    noise-aware classifier that guides it (`guide`, None when it has none)."""

    def __init__(self, model: torch.nn.Module, config: CheckpointConfig, device: torch.device | str | None = None,
                 guide: torch.nn.Module | None = None):
        self.device = pick_device(None if device is None else str(device))
        self.model = model.to(self.device).eval()
        self.guide = None if guide is None else guide.to(self.device).eval()
        self.guide_problem: str | None = None  # why a guide beside the checkpoint could not be loaded
        # Improved DDPM's learned Σ: the network gives v beside its prediction (`prediction_and_variance`).
        self.learns_variance = bool(getattr(config.model, "learn_variance", False))
        self.config = config
        self.schedule = config.build_schedule().to(self.device)
        self.class_names = config.class_names
        self.prediction = config.model.prediction
        self.clip_range = config.clip_range
        self.sample_shape = config.sample_shape  # (D,) for points, (C, H, W) for images
        self.dataset = config.dataset

    def label_index(self, label: int | str | torch.Tensor | None) -> int | torch.Tensor | None:
        """A class index from a class name or index; None stays None (unconditional).

        A long tensor of indices (one class per sample) is checked and passed through.
        """
        if label is None:
            return None
        if isinstance(label, torch.Tensor):
            if label.dtype != torch.long or label.dim() != 1:
                raise ValueError(f"a tensor of labels must be 1-D long, got {label.dtype} {tuple(label.shape)}")
            if len(label) and not (0 <= int(label.min()) and int(label.max()) < len(self.class_names)):
                raise ValueError(f"labels must lie in [0, {len(self.class_names) - 1}]")
            return label
        if isinstance(label, str):
            if label not in self.class_names:
                raise ValueError(f"unknown class {shown(label)}; choose one of {list(self.class_names)} or None")
            return self.class_names.index(label)
        if isinstance(label, bool) or not isinstance(label, int) or not 0 <= label < len(self.class_names):
            raise ValueError(f"class index must be an integer in [0, {len(self.class_names) - 1}] or None, got {shown(label)}")
        return label

    def trajectory(
        self,
        n: int = 1000,
        sampler: str = "ddpm",
        steps: int | None = None,
        label: int | str | torch.Tensor | None = None,
        guidance: float = 0.0,
        eta: float = 0.0,
        seed: int | None = None,
        classifier_scale: float = 0.0,
        conditional: bool | None = None,
        variance: str | None = None,
    ) -> Iterator[SamplerStep]:
        """Yield every `SamplerStep` of drawing n samples; steps None: DEFAULT_STEPS (all T for ddpm).

        label: a class name or index for all n, a long tensor (n,) of indices, or None.
        guidance: classifier-free guidance's w; classifier_scale: classifier guidance's s, with the
        model's `guide` (Dhariwal & Nichol 2021). conditional: whether the network sees the label;
        None: it does, except when only the classifier guides (s > 0, w = 0), which steers the
        unconditional network as in their Algorithm 1.
        variance: DDPM's Σ (`samplers.VARIANCE_TYPES`); None: "learned" for a network that learned it,
        else "fixed_small".
        """
        if not isinstance(n, int) or n < 1:
            raise ValueError(f"n must be a positive integer, got {shown(n)}")
        if sampler not in SAMPLERS:
            raise ValueError(f"unknown sampler {shown(sampler)}; choose one of {', '.join(SAMPLERS)}")
        index = self.label_index(label)
        if variance is None:
            variance = "learned" if self.learns_variance else "fixed_small"
        if variance not in VARIANCE_TYPES:
            raise ValueError(f"unknown variance {shown(variance)}; choose one of {', '.join(VARIANCE_TYPES)}")
        if variance == "learned" and not self.learns_variance:
            raise ValueError(f"this {self.dataset} model did not learn its variance; use fixed_small or fixed_large")
        denoiser = self.model.prediction_and_variance if self.learns_variance else self.model
        classifier_grad = self._classifier_grad(classifier_scale, index)
        if conditional is None:
            conditional = not (classifier_grad is not None and guidance == 0)
        if not conditional:
            if guidance > 0:
                raise ValueError("classifier-free guidance needs the conditional network (conditional=True)")
            denoiser = _unconditional(denoiser)
        return sample(
            denoiser,
            self.schedule,
            (n, *self.sample_shape),
            sampler=sampler,
            steps=DEFAULT_STEPS[sampler] if steps is None else steps,
            eta=eta,
            labels=index,
            guidance=guidance,  # the sampler guides only when there are labels
            prediction=self.prediction,
            clip_range=self.clip_range,
            generator=seed,
            device=self.device,
            classifier_grad=classifier_grad,
            variance=variance,
            outputs_variance=self.learns_variance,
        )

    def _classifier_grad(self, scale: float, index):
        """The sampler's s ∇ log p(y | x_t) from `guide`, or None at s = 0; ValueError where it cannot guide."""
        if not (isinstance(scale, (int, float)) and not isinstance(scale, bool) and math.isfinite(scale) and scale >= 0):
            raise ValueError(f"classifier scale must be a finite number >= 0, got {shown(scale)}")
        if scale == 0:
            return None
        if self.guide is None:
            if self.guide_problem:
                raise ValueError(f"this model's guide classifier could not be loaded: {self.guide_problem}")
            raise ValueError(f"this {self.dataset} model has no guide classifier "
                             "(train one with: python train_toy.py train-guide NAME)")
        if index is None:
            raise ValueError("classifier guidance needs a class to steer toward; pass label")
        return classifier_gradient(self.guide, float(scale))

    def generate(self, n: int = 1000, **options) -> torch.Tensor:
        """The final samples (n, *sample_shape) on the CPU, in data coordinates; options as for `trajectory`."""
        last = None
        for last in self.trajectory(n, **options):
            pass
        return last.x.detach().cpu()


def smoke_test(pipeline: Pipeline) -> None:
    """One DDIM step from fixed noise on 2 unconditional samples; CheckpointError unless it runs and
    x, x̂0 and ε̂ are finite, x of shape (2, *sample_shape).

    Weights can be finite and still overflow in the network; this is the cheapest sampling
    that shows it, run before a model is installed or served.
    """
    expected = (2, *pipeline.sample_shape)
    try:
        step = next(iter(pipeline.trajectory(2, sampler="ddim", steps=1, seed=0)))
    except (RuntimeError, ValueError) as error:  # torch's shape and dtype errors are RuntimeErrors
        raise CheckpointError(f"one DDIM step of this {pipeline.dataset} model failed: {shortened(str(error))}") from error
    if tuple(step.x.shape) != expected:
        raise CheckpointError(f"a sampling step gave samples of shape {tuple(step.x.shape)}, expected {expected}")
    for name, value in (("x", step.x), ("x0", step.x0), ("eps", step.eps)):
        if not torch.isfinite(value).all():
            raise CheckpointError(
                f"one DDIM step of this {pipeline.dataset} model gives non-finite {name} (NaN or inf): "
                "the network overflows; refusing to use it"
            )
    if getattr(pipeline, "learns_variance", False):  # its v sets DDPM's noise: a non-finite one would spoil every DDPM run
        ddpm = next(iter(pipeline.trajectory(2, sampler="ddpm", steps=2, seed=0, variance="learned")))
        if not torch.isfinite(ddpm.x).all():
            raise CheckpointError(f"one DDPM step of this {pipeline.dataset} model with its learned variance "
                                  "gives non-finite samples; refusing to use it")


def load_pipeline(name_or_path: str | Path, device: torch.device | str | None = None) -> Pipeline:
    """Load a checkpoint by name (a folder in checkpoints/) or path, on `device` or the best one. A model
    of one's own data (with points.csv beside it) has its points registered as its data set, so its
    pictures and figures can draw fresh data."""
    folder = resolve_checkpoint(name_or_path)
    model, config = load_model(folder)
    guide, guide_problem = None, None
    if guide_folder(folder).is_dir():
        try:
            guide = load_guide(guide_folder(folder), config)
        except CheckpointError as error:  # the model still samples; only classifier guidance is refused
            guide_problem = str(error).replace(f"{folder.parent}{os.sep}", "")  # no server paths in the message
    points = folder / POINTS_NAME
    if points.is_file() and config.dataset not in TOY_DATASETS:
        check_file_size(points, MAX_POINTS_BYTES)
        try:
            register_point_set(config.dataset, from_csv(points.read_text(encoding="utf-8", errors="replace")))
        except PointSetError as error:
            raise CheckpointError(f"{points}: {error}") from None
    pipeline = Pipeline(model, config, device, guide)
    pipeline.guide_problem = guide_problem
    return pipeline


def _unconditional(denoiser):
    """`denoiser` with every row's label replaced by the null label: the unconditional network."""
    def unconditional(x_t: torch.Tensor, t: torch.Tensor, labels: torch.Tensor | None) -> torch.Tensor:
        return denoiser(x_t, t, None)
    return unconditional
