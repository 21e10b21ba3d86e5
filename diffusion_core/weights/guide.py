"""A diffusion model's noise-aware classifier, kept beside it: checkpoints/NAME-guide/ guides checkpoints/NAME/.

The folder holds config.json (the guide's network, the model it guides, the noise schedule and
class names it was trained with, its training and figures), model.safetensors and a README.md
card. Its config.json has no `schedule` or `architecture` key, so no listing of diffusion models
ever offers it. Loading checks sizes before reading and refuses a guide whose schedule or classes
differ from the model's: its gradients would be taken at the wrong noise level or the wrong class.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
from safetensors.torch import save

from ..guidance import classifier_gradient
from ..models.guide import GuideConfig, build_guide
from ..schedules import NoiseSchedule
from .atomic import write_file_atomically
from .checkpoint import (
    CARD_NAME,
    CONFIG_NAME,
    WEIGHTS_NAME,
    CheckpointConfig,
    CheckpointError,
    load_weights_into,
    read_config_json,
)
from .limits import check_model_entries, check_parameter_count, check_schedule_entries, shown

GUIDE_SUFFIX = "-guide"
GUIDE_KIND = "noise-aware classifier"


def guide_folder(model_folder: Path | str) -> Path:
    """Where the guide of the model in `model_folder` lives: its sibling NAME-guide."""
    model_folder = Path(model_folder)
    return model_folder.parent / f"{model_folder.name}{GUIDE_SUFFIX}"


def guide_config_for(model: CheckpointConfig, **network) -> GuideConfig:
    """A guide network shaped for `model`'s samples and classes; `network` sets the rest (hidden, ...)."""
    shape = model.sample_shape
    if len(shape) == 1:
        return GuideConfig(kind="points", num_classes=len(model.class_names), data_dim=shape[0], **network)
    return GuideConfig(kind="images", num_classes=len(model.class_names), image_channels=shape[0],
                       image_size=shape[1], **network)


def save_guide(folder: Path | str, network: torch.nn.Module, model: CheckpointConfig, guides: str, record: dict,
               card: str) -> Path:
    """Write the guide's config.json, weights and card into `folder`, each file atomically."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    weights = {k: v.detach().cpu().contiguous() for k, v in network.state_dict().items()}
    write_file_atomically(folder / WEIGHTS_NAME, save(weights, {"format": "pt"}))
    values = {
        "kind": GUIDE_KIND,
        "model": network.config.to_dict(),
        "guides": guides,
        "noise_schedule": dict(model.schedule),
        "class_names": list(model.class_names),
        **record,
    }
    write_file_atomically(folder / CONFIG_NAME, (json.dumps(values, indent=2) + "\n").encode())
    write_file_atomically(folder / CARD_NAME, card.encode())
    return folder


def read_guide_config(folder: Path | str) -> dict:
    """The guide's config.json as a dict, checked to be a guide's; CheckpointError otherwise."""
    path = Path(folder) / CONFIG_NAME
    values = read_config_json(folder, "guide")
    if not isinstance(values, dict) or values.get("kind") != GUIDE_KIND:
        raise CheckpointError(f"{path} is not a guide's config (kind must be {GUIDE_KIND!r})")
    return values


def load_guide(folder: Path | str, model: CheckpointConfig, device: torch.device | str = "cpu") -> torch.nn.Module:
    """The guide network in `folder`, weights loaded strictly, in eval mode, on `device`; CheckpointError
    naming what is wrong, including a noise schedule or class list that differs from `model`'s."""
    folder = Path(folder)
    values = read_guide_config(folder)
    source = str(folder / CONFIG_NAME)
    entries = values.get("model")
    if not isinstance(entries, dict):
        raise CheckpointError(f"{source}: model must be a JSON object, got {shown(entries)}")
    try:
        check_model_entries(GuideConfig, entries)
        config = GuideConfig.from_dict(entries)
        check_parameter_count(build_guide, config)
        check_schedule_entries(values.get("noise_schedule"))
        schedule = NoiseSchedule.create(**values.get("noise_schedule", {})).config()
    except (TypeError, ValueError, ArithmeticError) as error:
        raise CheckpointError(f"{source}: {error}") from error
    if schedule != NoiseSchedule.create(**model.schedule).config():
        raise CheckpointError(f"{source}: the guide was trained on the noise schedule {schedule}, "
                              f"not the model's {model.schedule}; retrain it with train_toy.py train-guide")
    if values.get("class_names") != list(model.class_names) or config.num_classes != len(model.class_names):
        raise CheckpointError(f"{source}: the guide's classes {shown(values.get('class_names'))} "
                              f"({config.num_classes} outputs) are not the model's {len(model.class_names)}")
    if config.sample_shape != tuple(model.sample_shape):
        raise CheckpointError(f"{source}: the guide reads samples of shape {config.sample_shape}, the model draws "
                              f"{tuple(model.sample_shape)}")
    path = folder / WEIGHTS_NAME
    network = load_weights_into(build_guide(config), path)
    check_gradient(network.eval(), config, model, str(path))
    return network.to(device)


def check_gradient(network: torch.nn.Module, config: GuideConfig, model: CheckpointConfig, source: str) -> None:
    """One guidance gradient on two noised samples at the middle timestep; CheckpointError unless finite
    (weights can be finite and still overflow, as `pipeline.smoke_test` checks of the denoiser)."""
    t = torch.full((2,), NoiseSchedule.create(**model.schedule).num_train_steps // 2)
    x = torch.randn((2, *config.sample_shape), generator=torch.Generator().manual_seed(0))
    try:
        gradient = classifier_gradient(network, 1.0)(x, t, torch.zeros(2, dtype=torch.long))
    except (RuntimeError, ValueError) as error:
        raise CheckpointError(f"{source}: the guide's gradient could not be taken: {error}") from error
    if not torch.isfinite(gradient).all():
        raise CheckpointError(f"{source}: the guide's gradient is not finite (NaN or inf); refusing to use it")
