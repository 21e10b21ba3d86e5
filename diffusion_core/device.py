"""Which device to run on: CUDA, then Apple MPS, then the CPU, unless DIFFUSION_DEVICE says otherwise."""

from __future__ import annotations

import os

import torch

DEVICE_ENV = "DIFFUSION_DEVICE"


def pick_device(preferred: str | None = None) -> torch.device:
    """The best available device, or `preferred` / $DIFFUSION_DEVICE when set (e.g. "cpu", "cuda:1")."""
    name = preferred or os.environ.get(DEVICE_ENV)
    if name:
        try:
            device = torch.device(name)
        except RuntimeError as error:
            raise ValueError(f"{DEVICE_ENV}={name!r} is not a torch device name (try cpu, cuda, mps)") from error
        if device.type == "cuda" and not torch.cuda.is_available():
            raise ValueError(f"device {name!r} was requested but CUDA is not available here")
        if device.type == "mps" and not torch.backends.mps.is_available():
            raise ValueError(f"device {name!r} was requested but Apple MPS is not available here")
        return device
    if torch.cuda.is_available():
        return torch.device("cuda")
    if torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")
