"""A trained checkpoint ready to sample: `load_pipeline("moons").generate(1000, label="upper moon")`."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import torch

from ..data import TOY_DATASETS, register_point_set
from ..data.custom import PointSetError, from_csv
from ..device import pick_device
from ..samplers import SAMPLERS, SamplerStep, sample
from .atomic import recover_interrupted_swaps
from .checkpoint import POINTS_NAME, CheckpointConfig, CheckpointError, check_file_size, list_checkpoints, load_model
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
    """A denoiser, its schedule and sampler settings, and the class names it was trained on."""

    def __init__(self, model: torch.nn.Module, config: CheckpointConfig, device: torch.device | str | None = None):
        self.device = pick_device(None if device is None else str(device))
        self.model = model.to(self.device).eval()
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
    ) -> Iterator[SamplerStep]:
        """Yield every `SamplerStep` of drawing n samples; steps None: DEFAULT_STEPS (all T for ddpm).

        label: a class name or index for all n, a long tensor (n,) of indices, or None.
        """
        if not isinstance(n, int) or n < 1:
            raise ValueError(f"n must be a positive integer, got {shown(n)}")
        if sampler not in SAMPLERS:
            raise ValueError(f"unknown sampler {shown(sampler)}; choose one of {', '.join(SAMPLERS)}")
        index = self.label_index(label)
        return sample(
            self.model,
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
        )

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


def load_pipeline(name_or_path: str | Path, device: torch.device | str | None = None) -> Pipeline:
    """Load a checkpoint by name (a folder in checkpoints/) or path, on `device` or the best one. A model
    of one's own data (with points.csv beside it) has its points registered as its data set, so its
    pictures and figures can draw fresh data."""
    folder = resolve_checkpoint(name_or_path)
    model, config = load_model(folder)
    points = folder / POINTS_NAME
    if points.is_file() and config.dataset not in TOY_DATASETS:
        check_file_size(points, MAX_POINTS_BYTES)
        try:
            register_point_set(config.dataset, from_csv(points.read_text(encoding="utf-8", errors="replace")))
        except PointSetError as error:
            raise CheckpointError(f"{points}: {error}") from None
    return Pipeline(model, config, device)
