"""diffusion_core: schedules, parameterizations and samplers for small diffusion models."""

from .device import pick_device
from .parameterization import PREDICTION_TYPES
from .samplers import SAMPLERS, SPACINGS, SamplerStep, make_timesteps, sample
from .schedules import BETA_SCHEDULES, NoiseSchedule

__all__ = [
    "BETA_SCHEDULES",
    "PREDICTION_TYPES",
    "SAMPLERS",
    "SPACINGS",
    "NoiseSchedule",
    "SamplerStep",
    "make_timesteps",
    "pick_device",
    "sample",
]
