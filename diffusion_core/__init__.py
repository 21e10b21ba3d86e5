"""diffusion_core: schedules, parameterizations and samplers for small diffusion models."""

from .data import TOY_DATASETS, toy_dataset
from .device import pick_device
from .parameterization import PREDICTION_TYPES
from .samplers import SAMPLERS, SPACINGS, SamplerStep, make_timesteps, model_calls, sample, sampler_label
from .schedules import BETA_SCHEDULES, NoiseSchedule
from .weights.pipeline import Pipeline, load_pipeline

__all__ = [
    "BETA_SCHEDULES",
    "PREDICTION_TYPES",
    "SAMPLERS",
    "SPACINGS",
    "TOY_DATASETS",
    "NoiseSchedule",
    "Pipeline",
    "SamplerStep",
    "load_pipeline",
    "make_timesteps",
    "model_calls",
    "pick_device",
    "sample",
    "sampler_label",
    "toy_dataset",
]
