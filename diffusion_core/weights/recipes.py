"""The shipped training recipes: each model's command-line defaults, and the configs options build.

`train_toy.py train` lays the options a user gives over DEFAULTS (the 2D models) or
EMNIST_DEFAULTS, then `build_configs` turns the result into the checkpoint's config (network,
schedule, classes, sampling clip) and the TrainConfig of the run.
"""

from __future__ import annotations

from ..data import BYCLASS_NAMES, CLASS_NAMES, TOY_DATASETS
from ..models import MLPConfig, UNetConfig
from ..schedules import NoiseSchedule
from ..training import TrainConfig
from .checkpoint import CheckpointConfig

# Command-line options that set a field of TrainConfig, and (option -> field) of the networks' configs.
TRAIN_OPTIONS = ("steps", "batch_size", "lr", "warmup_steps", "ema_decay", "p_uncond", "min_snr_gamma", "class_balance",
                 "seed")
MLP_OPTIONS = {"hidden": "hidden", "layers": "num_layers", "fourier_bands": "fourier_bands", "activation": "activation",
               "learn_variance": "learn_variance"}
UNET_OPTIONS = {"channels": "channels", "blocks": "blocks"}


def recipe(train: TrainConfig, model: MLPConfig | UNetConfig, options: dict, **sampling) -> dict:
    """A model's command-line defaults: its training and network configs' values, then the sampling settings."""
    return {
        **{name: getattr(train, name) for name in TRAIN_OPTIONS},
        **{option: getattr(model, name) for option, name in options.items()},
        "prediction": model.prediction,
        **sampling,
    }


# The shipped 2D settings, the same for every toy set; options on the command line override them.
# Cosine + v-prediction: the cosine schedule's small noise near t=0 keeps DDIM-50's last
# (deterministic, posterior-mean) step from thinning the data, and v-prediction stays
# well-posed at t=T where the cosine ᾱ is ~1e-9 and an ε-model's x̂0 would blow up.
# 48 wide with hardswish: one call on 2000 points costs ~1.6 ms on two CPU cores (SiLU: ~1.9 ms,
# 128 wide: ~7 ms). Strays (moons, DDIM-50): 4.8% after 3000 steps of 1024, 2.1% after 12k of 2048, 1.9% 64
# wide: training, not width, was the limit. 20,000 steps of 2048 points: ~10 minutes on one CPU thread.
DEFAULTS = recipe(
    TrainConfig(steps=20_000, batch_size=2048),
    MLPConfig(hidden=48, activation="hardswish", prediction="v_prediction"),
    MLP_OPTIONS,
    schedule="cosine", timesteps=1000, clip=3.0,
)
# EMNIST: the DDPM paper's linear schedule with ε-prediction, x̂0 clipped to the pixel
# range [-1, 1]; the U-Net of diffusion_core.models.unet (560k parameters). 8000 steps
# of 128 images is ~10 passes over the 104,691 training images.
EMNIST_DEFAULTS = recipe(
    TrainConfig(steps=8000, batch_size=128, lr=1e-3, warmup_steps=200, ema_decay=0.999),
    UNetConfig(),
    UNET_OPTIONS,
    schedule="linear", timesteps=1000, clip=1.0,
)
DATASETS = (*TOY_DATASETS, "emnist")


def default_text(option: str) -> str:
    """'(default X)', or '(default 2D: X, EMNIST: Y)' where the two recipes differ."""
    toy, emnist = DEFAULTS.get(option), EMNIST_DEFAULTS.get(option)
    shown = {key: ",".join(map(str, v)) if isinstance(v, tuple) else v for key, v in (("2D", toy), ("EMNIST", emnist))}
    if option not in EMNIST_DEFAULTS:
        return f"(default {shown['2D']})"
    if option not in DEFAULTS:
        return f"(default {shown['EMNIST']})"
    return f"(default {toy})" if toy == emnist else f"(default 2D: {shown['2D']}, EMNIST: {shown['EMNIST']})"


def build_configs(dataset: str, s: dict) -> tuple[CheckpointConfig, TrainConfig]:
    if dataset == "emnist":
        architecture, class_names, network, options = "UNet", BYCLASS_NAMES, UNetConfig, UNET_OPTIONS
    else:
        architecture, class_names, network, options = "FiLMMLP", CLASS_NAMES[dataset], MLPConfig, MLP_OPTIONS
    fields = {name: tuple(s[option]) if isinstance(s[option], list) else s[option] for option, name in options.items()}
    model = network(num_classes=len(class_names), prediction=s["prediction"], **fields)
    train = TrainConfig(**{name: s[name] for name in TRAIN_OPTIONS})
    schedule = NoiseSchedule.create(s["schedule"], s["timesteps"]).config()
    clip = None if s["clip"] is None else (-float(s["clip"]), float(s["clip"]))
    config = CheckpointConfig(model, schedule, class_names, dataset, clip, train.to_dict(), architecture)
    CheckpointConfig.from_dict(config.to_dict())  # the loader's bounds, before any training: CheckpointError
    return config, train
