"""What a training run may write over and resume from (`train_toy.py train`): refusals that name the cause.

A run continues the training state saved in its own output folder (`--resume`) or in another
(`--resume-from`: a long run kept outside checkpoints/ until it is done). It may only continue
a run of the same network, schedule and data set trained the same way (the step count aside,
which is how a schedule is lengthened or closed), and writes over a checkpoint that is not the
one it continues only with --force, so nothing trained is lost by a mistyped folder.
"""

from __future__ import annotations

from pathlib import Path

import torch

from .checkpoint import STATE_META_NAME, WEIGHTS_NAME, CheckpointConfig, load_config, load_weights_into, read_record

# Training settings a resumed run must share with the saved one (`steps` may change).
KEPT_TRAINING = ("batch_size", "lr", "warmup_steps", "final_lr_fraction", "weight_decay", "grad_clip", "ema_decay",
                 "p_uncond", "min_snr_gamma", "class_balance", "seed")
TRAINING_DEFAULTS = {"final_lr_fraction": 0.0, "weight_decay": 0.0, "grad_clip": 1.0, "min_snr_gamma": 0.0,
                     "class_balance": 0.0}


class ResumeError(ValueError):
    """A run that may not start as asked; the message says why and what to pass instead."""


def describe_architecture(config: CheckpointConfig) -> dict:
    return {
        "architecture": config.architecture,
        **config.model.to_dict(),
        **{f"schedule.{k}": v for k, v in config.schedule.items()},
    }


def changes(old: dict, new: dict) -> list[str]:
    return [f"{key} {old.get(key)!r} -> {new.get(key)!r}" for key in {**old, **new} if old.get(key) != new.get(key)]


def check_run(out: Path, source: Path | None, config: CheckpointConfig, training: dict, force: bool, flag: str) -> None:
    """Refuse (ResumeError) a run writing to `out` from `source` (None: a fresh run) as `config` and
    `training` (TrainConfig.to_dict()) describe it."""
    if (out / "config.json").exists() and (source is None or out.resolve() != source.resolve()):
        differences = changes(describe_architecture(load_config(out)), describe_architecture(config))
        if differences and not force:
            raise ResumeError(f"{out} holds a different architecture ({', '.join(differences)}); "
                              "pass --force to replace it or choose another --out")
        if source is not None and not force:
            raise ResumeError(f"{out} holds a checkpoint of its own; pass --force to replace it with the run "
                              f"continued from {source}, or choose another --out")
    if source is None:
        return
    saved = same_model(source, config, flag, "resume from")
    before = {k: saved.training.get(k, TRAINING_DEFAULTS.get(k)) for k in KEPT_TRAINING}
    differences = changes(before, {k: training.get(k) for k in KEPT_TRAINING})
    if differences:
        raise ResumeError(f"{flag}: {source} was trained with other settings ({', '.join(differences)}); "
                          "pass the same options to continue it")


def same_model(folder: Path, config: CheckpointConfig, flag: str, purpose: str) -> CheckpointConfig:
    """The config of the checkpoint in `folder` that a run (`flag`) continues or starts from; ResumeError
    unless it holds one of `config`'s network and schedule, trained on the same data set."""
    if not (folder / "config.json").exists():
        raise ResumeError(f"{flag}: {folder} has no checkpoint to {purpose}")
    saved = load_config(folder)
    differences = changes(describe_architecture(saved), describe_architecture(config))
    if differences:
        raise ResumeError(f"{flag}: {folder} has a different architecture ({', '.join(differences)}); "
                          "pass its network options")
    if saved.dataset != config.dataset:
        raise ResumeError(f"{flag}: {folder} was trained on {saved.dataset}, not {config.dataset}")
    return saved


def check_init(out: Path, init: Path, config: CheckpointConfig) -> CheckpointConfig:
    """Refuse (ResumeError) a run starting from the weights in `init` (`--init-from`, a fine-tune) as
    `config` describes it and saving to `out`; return init's config."""
    if out.resolve() == init.resolve():
        raise ResumeError(f"--init-from: the run would write over {init}, the weights it starts from; "
                          "choose another --out (and copy it in with --resume-from once it is done)")
    return same_model(init, config, "--init-from", "start from")


def reached_step(folder: Path, config: CheckpointConfig) -> int | None:
    """The step a checkpoint's weights were saved at: its training state's, else its schedule's end."""
    step = (read_record(folder / STATE_META_NAME) or {}).get("step")
    return step if isinstance(step, int) else config.training.get("steps")


def initial_weights(out: Path, init: Path, config: CheckpointConfig) -> tuple[torch.nn.Module, dict, str | None]:
    """A fine-tune's start (`--init-from`): the network of `config` holding init's weights, what the new
    config records of where it started, and the commands that trained init (ResumeError or
    CheckpointError when it may not or cannot start there)."""
    started = check_init(out, init, config)
    network = load_weights_into(config.build_model(), init / WEIGHTS_NAME)
    lineage = {"folder": str(init), "steps": reached_step(init, started), "seconds": started.training.get("seconds")}
    return network, lineage, started.training.get("command")
