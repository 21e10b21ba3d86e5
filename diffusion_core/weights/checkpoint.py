"""Checkpoint folders: config.json + model.safetensors (+ README.md), saved atomically, loaded strictly.

The two file names follow huggingface_hub's `PyTorchModelHubMixin` (config.json beside
model.safetensors holding the weights), so a folder can be pushed to and pulled from
the Hub as is. A resumable training state lives beside them in
training_state.safetensors + training_state.json (no pickle anywhere).

Loading checks before it spends: config.json's sizes against `limits` before the network is
built, the weights file's size before it is read, every tensor for NaN or inf once it is.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from ..models import FiLMMLP, MLPConfig, UNet, UNetConfig
from ..schedules import NoiseSchedule
from .atomic import is_swap_debris, recover_interrupted_swaps, staged_folder
from .limits import (
    MAX_TEXT_BYTES,
    MAX_WEIGHTS_BYTES,
    check_model_entries,
    check_parameter_count,
    check_schedule_entries,
    shown,
)

CONFIG_NAME = "config.json"
WEIGHTS_NAME = "model.safetensors"
CARD_NAME = "README.md"
POINTS_NAME = "points.csv"  # a model of a visitor's own data carries it (data.custom.PointSet.to_csv)
EVAL_NAME = "eval.json"  # the quality figures `train_toy.py eval` writes beside the weights
STATE_WEIGHTS_NAME = "training_state.safetensors"
STATE_META_NAME = "training_state.json"
FORMAT_VERSION = 1
# config.json's "architecture" → (the dataclass its "model" entry holds, the network it builds).
ARCHITECTURES = {"FiLMMLP": (MLPConfig, FiLMMLP), "UNet": (UNetConfig, UNet)}
ModelConfig = MLPConfig | UNetConfig


class CheckpointError(ValueError):
    """A checkpoint folder is missing a file or does not match what loading expects."""


@dataclass(frozen=True)
class CheckpointConfig:
    """The contents of config.json: everything that rebuilds the model and its sampler settings."""

    model: ModelConfig
    schedule: dict
    class_names: tuple[str, ...]
    dataset: str
    clip_range: tuple[float, float] | None = None
    training: dict = field(default_factory=dict)
    architecture: str = "FiLMMLP"
    format_version: int = FORMAT_VERSION

    def __post_init__(self):
        if self.architecture not in ARCHITECTURES:
            raise CheckpointError(f"architecture {shown(self.architecture)} is not one of {list(ARCHITECTURES)}")
        expected = ARCHITECTURES[self.architecture][0]
        if not isinstance(self.model, expected):
            raise CheckpointError(
                f"architecture {self.architecture!r} takes a {expected.__name__}, got {type(self.model).__name__}"
            )

    @property
    def sample_shape(self) -> tuple[int, ...]:
        """The shape of one sample: (D,) for points, (C, H, W) for images."""
        return self.model.sample_shape

    def to_dict(self) -> dict:
        return {
            "format_version": self.format_version,
            "architecture": self.architecture,
            "model": self.model.to_dict(),
            "prediction_type": self.model.prediction,
            "schedule": dict(self.schedule),
            "clip_range": None if self.clip_range is None else list(self.clip_range),
            "class_names": list(self.class_names),
            "dataset": self.dataset,
            "training": dict(self.training),
        }

    @classmethod
    def from_dict(cls, values: dict, source: str = CONFIG_NAME) -> CheckpointConfig:
        """Validate a parsed config.json; raises CheckpointError naming the bad entry.

        Every size is held to `limits` before anything is built from it: the model's entries,
        its parameter count (counted on the meta device), the schedule's T.
        """
        required = {"format_version", "architecture", "model", "prediction_type", "schedule", "class_names", "dataset"}
        allowed = required | {"clip_range", "training"}
        if not isinstance(values, dict):
            raise CheckpointError(f"{source}: expected a JSON object, got {type(values).__name__}")
        missing, unknown = sorted(required - set(values)), sorted(set(values) - allowed)
        if missing or unknown:
            raise CheckpointError(f"{source}: missing keys {missing}, unknown keys {unknown}; allowed: {sorted(allowed)}")
        if values["format_version"] != FORMAT_VERSION:
            raise CheckpointError(f"{source}: format_version {shown(values['format_version'])} is not {FORMAT_VERSION}")
        if values["architecture"] not in ARCHITECTURES:
            raise CheckpointError(
                f"{source}: architecture {shown(values['architecture'])} is not one of {list(ARCHITECTURES)}"
            )
        model_config, network = ARCHITECTURES[values["architecture"]]
        if not isinstance(values["model"], dict):
            raise CheckpointError(f"{source}: model must be a JSON object, got {shown(values['model'])}")
        try:
            check_model_entries(model_config, values["model"])
            model = model_config.from_dict(values["model"])
            check_parameter_count(network, model)
            check_schedule_entries(values["schedule"])
            NoiseSchedule.create(**values["schedule"])
        except (TypeError, ValueError, ArithmeticError) as error:
            raise CheckpointError(f"{source}: {error}") from error
        if values["prediction_type"] != model.prediction:
            raise CheckpointError(
                f"{source}: prediction_type {shown(values['prediction_type'])} differs from model.prediction "
                f"{model.prediction!r}"
            )
        names = values["class_names"]
        if not (isinstance(names, list) and len(names) == model.num_classes and all(isinstance(n, str) for n in names)):
            raise CheckpointError(f"{source}: class_names must list {model.num_classes} strings, got {shown(names)}")
        clip = values.get("clip_range")
        if clip is not None and not (
            isinstance(clip, list) and len(clip) == 2 and all(isinstance(c, (int, float)) for c in clip) and clip[0] < clip[1]
        ):
            raise CheckpointError(f"{source}: clip_range must be null or [low, high] with low < high, got {shown(clip)}")
        return cls(
            model=model,
            schedule=dict(values["schedule"]),
            class_names=tuple(names),
            dataset=str(values["dataset"]),
            clip_range=None if clip is None else (float(clip[0]), float(clip[1])),
            training=dict(values.get("training") or {}),
            architecture=values["architecture"],
        )

    def build_model(self) -> FiLMMLP | UNet:
        return ARCHITECTURES[self.architecture][1](self.model)

    def build_schedule(self) -> NoiseSchedule:
        return NoiseSchedule.create(**self.schedule)


def save_checkpoint(
    folder: Path | str,
    config: CheckpointConfig,
    weights: dict[str, torch.Tensor],
    training_state: tuple[dict[str, torch.Tensor], dict] | None = None,
    extra_files: dict[str, bytes] | None = None,
) -> Path:
    """Write a checkpoint folder atomically: build it in a temporary sibling folder, then swap it in.

    An interrupted save leaves the previous folder untouched; a process killed mid-swap
    leaves it as `.<name>.old-*/<name>`, which the next listing of the folder restores
    (`atomic.recover_interrupted_swaps`).
    """
    folder = Path(folder)
    with staged_folder(folder) as staging:
        (staging / CONFIG_NAME).write_text(json.dumps(config.to_dict(), indent=2) + "\n")
        save_file({k: v.detach().cpu().contiguous() for k, v in weights.items()}, staging / WEIGHTS_NAME, {"format": "pt"})
        if training_state is not None:
            tensors, meta = training_state
            save_file(tensors, staging / STATE_WEIGHTS_NAME)
            (staging / STATE_META_NAME).write_text(json.dumps(meta) + "\n")
        for name, content in (extra_files or {}).items():
            (staging / name).write_bytes(content)
    return folder


def is_diffusion_checkpoint(folder: Path | str) -> bool:
    """Whether `folder` holds a diffusion checkpoint's config.json (not, say, the EMNIST classifier's).

    A config.json that cannot be read counts as one, so loading it reports what is wrong.
    """
    path = Path(folder) / CONFIG_NAME
    if not path.is_file():
        return False
    try:
        values = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError, OSError):
        return True
    return not isinstance(values, dict) or "schedule" in values or "architecture" in values


def read_record(path: Path | str) -> dict | None:
    """A JSON object stored beside the weights (eval.json, loss_curve.json, ...), or None if the file is
    missing, unreadable or not an object."""
    try:
        record = json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return None
    return record if isinstance(record, dict) else None


def list_checkpoints(root: Path | str) -> list[Path]:
    """The diffusion checkpoint folders directly under `root`, sorted by name; [] if root is missing.

    Interrupted saves are recovered first (`atomic.recover_interrupted_swaps`), and a folder
    whose name starts with "." (a save's staging or old copy) is never offered.
    """
    root = Path(root)
    if not root.is_dir():
        return []
    recover_interrupted_swaps(root)
    return sorted(p for p in root.iterdir() if not p.name.startswith(".") and is_diffusion_checkpoint(p))


def listing_signature(root: Path | str) -> tuple | None:
    """What `list_checkpoints(root)` depends on, read with stat calls only: the folder's and each entry's
    config.json's identity, size and change times (a folder added, removed or swapped in, a config
    rewritten or its permissions changed); () if root is missing. None while a save's staging or old
    copy is there: a save in progress, or one a killed writer left for the next listing to repair, so
    no listing of that moment may be kept."""
    root = Path(root)

    def identity(status: os.stat_result) -> tuple:
        return status.st_ino, status.st_size, status.st_mtime_ns, status.st_ctime_ns

    try:
        signature = [identity(root.stat())]
        for entry in sorted(os.scandir(root), key=lambda e: e.name):
            if is_swap_debris(entry.name):
                return None
            try:
                signature.append((entry.name, identity(os.stat(os.path.join(entry.path, CONFIG_NAME)))))
            except OSError:
                signature.append((entry.name,))
    except OSError:
        return ()
    return tuple(signature)


def read_config_json(folder: Path | str, what: str = "checkpoint") -> object:
    """`folder`/config.json parsed, after its size check; CheckpointError naming a missing, oversized or
    unreadable file (`what`: the kind of folder, for the message)."""
    path = Path(folder) / CONFIG_NAME
    if not path.is_file():
        raise CheckpointError(f"{path} is missing; a {what} folder needs {CONFIG_NAME} and {WEIGHTS_NAME}")
    check_file_size(path, MAX_TEXT_BYTES)
    try:
        return json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise CheckpointError(f"{path} is not valid JSON: {error}") from error


def load_config(folder: Path | str) -> CheckpointConfig:
    """Read and validate `folder`/config.json."""
    return CheckpointConfig.from_dict(read_config_json(folder), source=str(Path(folder) / CONFIG_NAME))


def check_file_size(path: Path, limit: int) -> None:
    """Raise CheckpointError if the file at `path` is larger than `limit` bytes (checked before reading it)."""
    size = path.stat().st_size
    if size > limit:
        raise CheckpointError(f"{path} is {size:,} bytes, more than the {limit:,} bytes allowed; it is not read")


def check_finite(weights: dict[str, torch.Tensor], source: str) -> None:
    """Raise CheckpointError naming the first floating-point tensor holding NaN or inf."""
    for name, tensor in weights.items():
        if tensor.is_floating_point() and not torch.isfinite(tensor).all():
            bad = int((~torch.isfinite(tensor)).sum())
            raise CheckpointError(
                f"{source}: tensor {name!r} holds {bad} non-finite values (NaN or inf) of {tensor.numel()}; "
                "weights must be finite"
            )


def read_safetensors(path: Path) -> dict[str, torch.Tensor]:
    """Load a safetensors file, turning a missing or unreadable file into a CheckpointError."""
    if not path.is_file():
        raise CheckpointError(f"{path} is missing")
    try:
        return load_file(path)
    except (SafetensorError, OSError, ValueError) as error:
        raise CheckpointError(f"{path} is not a readable safetensors file: {error}") from error


def check_state_dict(expected: dict[str, torch.Tensor], found: dict[str, torch.Tensor], source: str) -> None:
    """Raise CheckpointError naming missing names, unknown names and shape mismatches."""
    missing = sorted(set(expected) - set(found))
    unknown = sorted(set(found) - set(expected))
    shapes = [
        f"{name}: file {tuple(found[name].shape)} vs model {tuple(expected[name].shape)}"
        for name in sorted(set(expected) & set(found))
        if found[name].shape != expected[name].shape
    ]
    problems = []
    if missing:
        problems.append(f"missing tensors {missing}")
    if unknown:
        problems.append(f"unknown tensors {shown(unknown)}")  # the file's: cut short
    if shapes:
        problems.append("shape mismatch " + "; ".join(shapes))  # the model's own names: never long
    if problems:
        raise CheckpointError(f"{source}: " + ", ".join(problems))


def load_model(folder: Path | str) -> tuple[FiLMMLP | UNet, CheckpointConfig]:
    """Rebuild the model of a checkpoint folder and load its (EMA) weights strictly; model in eval mode.

    The weights file must be at most MAX_WEIGHTS_BYTES, match the model's names and shapes,
    and hold only finite values.
    """
    folder = Path(folder)
    config = load_config(folder)
    model = load_weights_into(config.build_model(), folder / WEIGHTS_NAME)
    return model.eval(), config


def load_weights_into(network: torch.nn.Module, path: Path) -> torch.nn.Module:
    """Load the safetensors file at `path` into `network` strictly: at most MAX_WEIGHTS_BYTES, the network's
    names and shapes exactly, only finite values; CheckpointError naming what does not fit."""
    if path.is_file():
        check_file_size(path, MAX_WEIGHTS_BYTES)
    weights = read_safetensors(path)
    check_state_dict(network.state_dict(), weights, str(path))
    check_finite(weights, str(path))
    network.load_state_dict(weights)
    return network


def load_training_state(folder: Path | str) -> tuple[dict[str, torch.Tensor], dict]:
    """The (tensors, metadata) a `Trainer.load_state` resumes from."""
    folder = Path(folder)
    tensors = read_safetensors(folder / STATE_WEIGHTS_NAME)
    meta_path = folder / STATE_META_NAME
    if not meta_path.is_file():
        raise CheckpointError(f"{meta_path} is missing; cannot resume without it")
    try:
        return tensors, json.loads(meta_path.read_text())
    except json.JSONDecodeError as error:
        raise CheckpointError(f"{meta_path} is not valid JSON: {error}") from error
