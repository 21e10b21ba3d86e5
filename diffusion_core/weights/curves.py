"""A checkpoint's loss curve, `loss_curve.json` beside its weights: the training loss step by step
(window means) and the trained model's loss per band of timesteps, which shows where it struggles.

`train_toy.py train` writes it when training ends, `train_toy.py eval` refreshes the per-timestep part
(and the step curve, from the local training state where there is one); the app charts it.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
from torch import nn

from ..schedules import NoiseSchedule
from ..training import loss_curve, timestep_losses
from .atomic import write_file_atomically
from .checkpoint import STATE_META_NAME, read_record

LOSS_CURVE_NAME = "loss_curve.json"
BUCKETS = 20


def read_loss_curve(folder: Path | str) -> dict | None:
    """The parsed loss_curve.json of a checkpoint folder, or None if missing or unreadable."""
    return read_record(Path(folder) / LOSS_CURVE_NAME)


def write_loss_curve(
    folder: Path | str,
    model: nn.Module,
    schedule: NoiseSchedule,
    prediction: str,
    x0: torch.Tensor,
    labels: torch.Tensor | None,
    losses: list[float] | None = None,
) -> dict:
    """Measure the per-timestep loss of `model` on (x0, labels) and write loss_curve.json with it and the
    step curve of `losses` (None: the folder's training state's, else the curve already written)."""
    folder = Path(folder)
    if losses is None:
        losses = (read_record(folder / STATE_META_NAME) or {}).get("losses")
        losses = losses if isinstance(losses, list) else None
    if losses is not None:
        steps, values = loss_curve([float(v) for v in losses])
    else:
        earlier = read_loss_curve(folder) or {}
        steps, values = earlier.get("steps", []), earlier.get("loss", [])
    edges = torch.linspace(0, schedule.num_train_steps, BUCKETS + 1).round().long().tolist()
    record = {
        "steps": steps,
        "loss": values,
        "timestep_edges": edges,
        "timestep_loss": timestep_losses(model, schedule, prediction, x0, labels, BUCKETS),
        "points_per_band": int(x0.shape[0]),
    }
    write_file_atomically(folder / LOSS_CURVE_NAME, (json.dumps(record) + "\n").encode())
    return record
