"""What the weights wing accepts before it spends memory, disk or time: every bound in one place.

A config.json is held to these before its network is built, a weights file before it is
read, a Hub file before it is downloaded; a value echoed in an error message is cut short.
The bounds are generous for the shipped models (a FiLM MLP of 3 layers of 48 units, about
0.07 M parameters; the EMNIST U-Net of widths 32, 96, about 0.56 M) and far below what would
take gigabytes.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from ..models import MLPConfig, UNetConfig
from ..models.guide import GuideConfig

MAX_PARAMETERS = 16_000_000  # 64 MB of float32: what fits the weights file's bound below
MAX_WEIGHTS_BYTES = 64 * 1024 * 1024  # model.safetensors
MAX_TEXT_BYTES = 1024 * 1024  # config.json and README.md (a few kB when written by train_toy.py)
MAX_NUM_STEPS = 4000  # the schedule's T: DDPM serves every one of the T steps
SCHEDULE_KEYS = ("kind", "num_steps", "beta_start", "beta_end")  # NoiseSchedule.config()'s entries
MAX_SHOWN = 100  # characters of a value echoed in an error message

# The integer entries of a config.json `model` object: (lowest, highest) allowed. Checked on the raw
# JSON, before the config class computes anything with them. The FiLM MLP keeps one modulation
# table of (T, num_layers, 2, hidden) per label at inference, so its depth and width are kept small.
MODEL_RANGES: dict[type, dict[str, tuple[int, int]]] = {
    MLPConfig: {
        "data_dim": (1, 16), "num_classes": (1, 1000), "hidden": (1, 1024), "num_layers": (1, 8),
        "time_dim": (4, 1024), "cond_dim": (1, 1024), "fourier_bands": (0, 16),
    },
    UNetConfig: {
        "image_size": (1, 64), "image_channels": (1, 4), "num_classes": (1, 1000), "patch": (1, 4),
        "head_dim": (1, 512), "groups": (1, 512), "time_dim": (4, 1024), "cond_dim": (1, 1024),
    },
    GuideConfig: {
        "num_classes": (2, 1000), "data_dim": (1, 16), "image_size": (4, 64), "image_channels": (1, 4),
        "hidden": (1, 1024), "num_layers": (1, 8), "time_dim": (4, 1024), "fourier_bands": (0, 16),
    },
}
# List entries: (most entries, lowest and highest value of each).
MODEL_LIST_RANGES: dict[type, dict[str, tuple[int, int, int]]] = {
    MLPConfig: {},
    UNetConfig: {"channels": (4, 1, 512), "blocks": (4, 1, 4)},
    GuideConfig: {},
}


def shortened(text: str) -> str:
    """`text` cut to MAX_SHOWN characters, saying how long it was: a value echoed in an error message."""
    if len(text) <= MAX_SHOWN:
        return text
    return f"{text[:MAX_SHOWN]}... ({len(text)} characters)"


def shown(value) -> str:
    """`value` as an error message quotes it: its repr, `shortened`."""
    return shortened(repr(value))


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def check_model_entries(config_class: type, values: dict) -> None:
    """Raise ValueError naming the first entry of a raw `model` object outside MODEL_RANGES (types are the config's job)."""
    for name, (low, high) in MODEL_RANGES[config_class].items():
        value = values.get(name)
        if _is_int(value) and not low <= value <= high:
            raise ValueError(f"model.{name} {value} is outside the allowed range {low}..{high}")
    for name, (most, low, high) in MODEL_LIST_RANGES[config_class].items():
        value = values.get(name)
        if not isinstance(value, list):
            continue
        if len(value) > most:
            raise ValueError(f"model.{name} has {len(value)} entries; at most {most} are allowed")
        for entry in value:
            if _is_int(entry) and not low <= entry <= high:
                raise ValueError(f"model.{name} entry {entry} is outside the allowed range {low}..{high}")


def parameter_count(build: Callable[[object], nn.Module], config) -> int:
    """The number of values in the state dict `build(config)` would have, counted without allocating them.

    The network is built on the meta device, which records shapes and allocates nothing.
    """
    with torch.device("meta"):
        network = build(config)
    return sum(tensor.numel() for tensor in network.state_dict().values())


def check_parameter_count(build: Callable[[object], nn.Module], config) -> None:
    """Raise ValueError if the network `build(config)` would hold more than MAX_PARAMETERS values."""
    count = parameter_count(build, config)
    if count > MAX_PARAMETERS:
        raise ValueError(
            f"the model would hold {count:,} parameters; at most {MAX_PARAMETERS:,} are allowed "
            f"(a {MAX_WEIGHTS_BYTES // 2**20} MiB weights file)"
        )


def check_schedule_entries(schedule) -> None:
    """Raise TypeError or ValueError unless `schedule` is an object of SCHEDULE_KEYS with num_steps <= MAX_NUM_STEPS."""
    if not isinstance(schedule, dict):
        raise TypeError(f"schedule must be a JSON object, got {shown(schedule)}")
    unknown = sorted(set(schedule) - set(SCHEDULE_KEYS))
    if unknown:
        raise ValueError(f"unknown schedule keys {shown(unknown)}; allowed: {list(SCHEDULE_KEYS)}")
    steps = schedule.get("num_steps")
    if _is_int(steps) and steps > MAX_NUM_STEPS:
        raise ValueError(
            f"schedule.num_steps {steps} is more than {MAX_NUM_STEPS}, the most diffusion steps T a checkpoint "
            "may have (DDPM sampling runs all T of them)"
        )
