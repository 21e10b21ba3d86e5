"""Shared pieces of the Hub tests: a token that must never be printed, and tiny checkpoints to push."""

import json

import torch

from diffusion_core.models import MLPConfig
from diffusion_core.schedules import NoiseSchedule
from diffusion_core.weights import hub
from diffusion_core.weights.cards import model_card
from diffusion_core.weights.checkpoint import CheckpointConfig, save_checkpoint

FAKE_TOKEN = "hf_fakeTokenThatMustNeverBePrinted"
COMMAND = "python train_toy.py train moons --steps 10"
REPO = "alice/toy-diffusion"


def make_checkpoint(folder, seed=0, figures=True):
    """A tiny (hidden 16) checkpoint with a model card and, optionally, eval.json figures."""
    torch.manual_seed(seed)
    config = CheckpointConfig(
        MLPConfig(hidden=16, num_layers=1), NoiseSchedule.create("linear", 20).config(), ("upper", "lower"),
        "moons", training={"command": COMMAND},
    )
    extra = {"README.md": model_card(config, None, COMMAND).encode()}
    if figures:
        extra["eval.json"] = json.dumps({"sw_ddpm": 1.123, "sw_ddim": 1.456, "conformity": {"3": [0.995, 0.998]}}).encode()
    return save_checkpoint(folder, config, config.build_model().state_dict(), extra_files=extra)


def pulled_folder(repo_id, name, **options):
    """The validated folder of `hub.pull` (what the app and `train_toy.py pull` load)."""
    return hub.pull(repo_id, name, **options).folder
