"""Train the guide of a shipped model and keep it beside the model, with a card that says how well it reads.

    python train_toy.py train-guide moons
    python train_toy.py train-guide emnist --data-dir ../shared/data/emnist

The guide learns p(y | x_t, t) on the model's own training data, noised by the model's own
schedule (`guidance.train_guide`); its card gives its accuracy at several t (how far into the
noise it still knows the class) and, once `train_toy.py eval` has run, the conformity it buys
at each classifier scale s.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch

from ..guidance import GuideTraining, accuracy_by_timestep, train_guide
from ..models.guide import build_guide
from .atomic import write_file_atomically
from .checkpoint import CARD_NAME, CONFIG_NAME, load_config
from .guide import GUIDE_SUFFIX, guide_config_for, guide_folder, read_guide_config, save_guide

# The shipped recipes, by the kind of data: (training, network settings).
GUIDE_RECIPES = {
    "points": (GuideTraining(steps=3000, batch_size=512, lr=2e-3), {"hidden": 64, "num_layers": 3}),
    "images": (GuideTraining(steps=3000, batch_size=128, lr=1e-3, warmup_steps=200), {"hidden": 32}),
}


def accuracy_timesteps(num_train_steps: int) -> tuple[int, ...]:
    """The t at which a guide's accuracy is reported: 0, T/4, T/2, 3T/4, T-1."""
    return tuple(sorted({0, num_train_steps // 4, num_train_steps // 2, 3 * num_train_steps // 4, num_train_steps - 1}))


def fit_guide(model_folder: Path | str, batches, held_out: tuple[torch.Tensor, torch.Tensor], command: str,
              settings: GuideTraining | None = None, device: torch.device | str = "cpu", log=print) -> Path:
    """Train a guide for the model in `model_folder` on `batches(n, generator)`, measure it on `held_out`
    (x0, labels) and save it in the model's NAME-guide folder; returns that folder."""
    model_folder = Path(model_folder)
    config = load_config(model_folder)
    kind = "points" if len(config.sample_shape) == 1 else "images"
    default_training, network_options = GUIDE_RECIPES[kind]
    settings = settings or default_training
    torch.manual_seed(settings.seed)  # the initial weights come from the global generator
    network = build_guide(guide_config_for(config, **network_options))
    schedule = config.build_schedule()
    result = train_guide(network, schedule, batches, settings, device, log)
    steps = accuracy_timesteps(schedule.num_train_steps)
    accuracy = accuracy_by_timestep(network, schedule.to(device), *held_out, steps)
    record = {
        "training": {
            **settings.to_dict(),
            "seconds": round(result["seconds"], 1),
            "device": str(device),
            "threads": torch.get_num_threads(),
            "final_loss": sum(result["losses"][-100:]) / len(result["losses"][-100:]),
            "command": command,
        },
        "accuracy_by_t": {str(t): round(value, 4) for t, value in accuracy.items()},
        "held_out": len(held_out[1]),
    }
    folder = guide_folder(model_folder)
    values = {"model": network.config.to_dict(), "guides": model_folder.name, **record}
    save_guide(folder, network, config, model_folder.name, record, guide_card(values))
    log(f"saved {folder}: accuracy by t " + ", ".join(f"t={t} {v:.1%}" for t, v in accuracy.items()))
    return folder


def record_guide_sweep(model_folder: Path | str, sweep: dict) -> None:
    """Write the conformity-against-s figures of `train_toy.py eval` into the guide's config.json and card."""
    folder = guide_folder(model_folder)
    values = read_guide_config(folder)
    values["sweep"] = sweep
    write_file_atomically(folder / CONFIG_NAME, (json.dumps(values, indent=2) + "\n").encode())
    write_file_atomically(folder / CARD_NAME, guide_card(values).encode())


def guide_card(values: dict) -> str:
    """The guide's README.md from its config.json's values."""
    model, training = values["model"], values["training"]
    what = "points" if model["kind"] == "points" else "images"
    lines = [
        f"# {values['guides']}{GUIDE_SUFFIX}: a noise-aware classifier that guides `{values['guides']}`",
        "",
        f"p(y | x_t, t) for the {model['num_classes']} classes of `checkpoints/{values['guides']}`, trained on its "
        f"{what} noised by its own schedule at t drawn uniformly from 0..T-1 (Dhariwal & Nichol 2021, section 4). "
        "Sampling with `classifier_scale=s` adds s ∇ log p(y | x_t) to the model's score: DDPM shifts its mean "
        "by s Σ ∇ log p(y | x_t), the other samplers correct ε̂ by −√(1−ᾱ_t) s ∇ log p(y | x_t). "
        "It is never the project's judge: a generator steered by its own judge would game its score.",
        "",
        "## Training",
        "",
        "```",
        training["command"],
        "```",
        "",
        f"- network: `{model['kind']}` guide, width {model['hidden']}"
        + (f", {model['num_layers']} layers" if model["kind"] == "points" else ""),
        f"- {training['steps']} steps of {training['batch_size']}, AdamW lr {training['lr']} with warmup and cosine "
        f"decay, seed {training['seed']}; {training['seconds']:.0f} s on {training['device']} "
        f"({training['threads']} threads); final loss {training['final_loss']:.4f}",
        "",
        f"## Accuracy on held-out {what} noised to t ({values['held_out']} of them)",
        "",
        "| t | " + " | ".join(values["accuracy_by_t"]) + " |",
        "|---|" + "---|" * len(values["accuracy_by_t"]),
        "| accuracy | " + " | ".join(f"{v:.1%}" for v in values["accuracy_by_t"].values()) + " |",
    ]
    sweep = values.get("sweep")
    if sweep:
        lines += ["", "## Conformity against the scale s (`train_toy.py eval`)", "", sweep["description"], "",
                  "| s | " + " | ".join(sweep["columns"]) + " |", "|---|" + "---|" * len(sweep["columns"])]
        for scale, cells in sweep["rows"].items():
            lines.append(f"| {scale} | " + " | ".join(cells) + " |")
        if sweep.get("best"):
            lines += ["", sweep["best"]]
    return "\n".join(lines) + "\n"
