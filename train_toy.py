#!/usr/bin/env python
"""Train, evaluate and ship the diffusion models in checkpoints/: the 2D toy sets and EMNIST.

    python train_toy.py train moons               # the shipped settings for moons
    python train_toy.py train moons --steps 500 --out runs/moons-short
    python train_toy.py train emnist --data-dir ../shared/data/emnist   # the character U-Net
    python train_toy.py eval moons                # print the quality figures, update the model card
    python train_toy.py eval emnist --data-dir ../shared/data/emnist
    python train_toy.py train-classifier --data-dir ../shared/data/emnist   # the EMNIST judge
    python train_toy.py train-guide moons         # the noise-aware classifier of classifier guidance
    python train_toy.py train moons --learn-variance --out checkpoints/moons_learned   # Improved DDPM's Σ
    python train_toy.py train-all                 # train and evaluate every shipped model
    python train_toy.py push moons --repo-id USER/REPO     # upload to the Hugging Face Hub
    python train_toy.py pull --repo-id USER/REPO --revision SHA   # download, validate, install
"""

from __future__ import annotations

import argparse
import shlex
import sys
from dataclasses import replace
from pathlib import Path

import torch

from diffusion_core.data import TOY_DATASETS, draw_toy
from diffusion_core.data.emnist import EMNISTDataMissing, batch_source, load_emnist, split_indices
from diffusion_core.device import pick_device
from diffusion_core.evaluation.commands import CommandError, run_eval
from diffusion_core.evaluation.judge import ClassifierTraining, train_classifier
from diffusion_core.models.mlp import ACTIVATIONS
from diffusion_core.parameterization import PREDICTION_TYPES
from diffusion_core.schedules import BETA_SCHEDULES
from diffusion_core.training import Trainer
from diffusion_core.weights.cards import model_card
from diffusion_core.weights.checkpoint import CheckpointError, load_config, load_training_state, save_checkpoint
from diffusion_core.weights.curves import write_loss_curve
from diffusion_core.weights.hub_cli import (
    add_push_to_hub_argument,
    push_trained,
    register_hub_commands,
    run_pull,
    run_push,
)
from diffusion_core.weights.guide_training import GUIDE_RECIPES, fit_guide
from diffusion_core.weights.pipeline import CHECKPOINTS_DIR, resolve_checkpoint
from diffusion_core.weights.recipes import (
    DATASETS, DEFAULTS, EMNIST_DEFAULTS, MLP_OPTIONS, UNET_OPTIONS, build_configs, default_text,
)
from diffusion_core.weights.resume import ResumeError, check_run, initial_weights

CLIError = CommandError  # bad input from the command line: printed as one line, exit status 2


def settings_for(args: argparse.Namespace) -> dict:
    """The dataset's shipped settings with the options the user gave laid over them."""
    emnist = args.dataset == "emnist"
    defaults = EMNIST_DEFAULTS if emnist else DEFAULTS
    given = {k: v for k, v in vars(args).items() if k in {*DEFAULTS, *EMNIST_DEFAULTS} and v is not None}
    wrong = [k for k in given if k in (MLP_OPTIONS if emnist else UNET_OPTIONS)]
    if wrong:
        which = "the 2D models' MLP" if emnist else "the EMNIST U-Net"
        flags = ", ".join("--" + k.replace("_", "-") for k in wrong)
        raise CLIError(f"{flags} only apply to {which}, not to {args.dataset}")
    if not emnist and given.get("class_balance"):
        raise CLIError(f"--class-balance applies to EMNIST; {args.dataset}'s points come from each class equally already")
    return {**defaults, **given}


def training_batches(args: argparse.Namespace, class_balance: float = 0.0):
    """The `Trainer` batch source of a dataset: fresh toy points, or the EMNIST training part."""
    if args.dataset != "emnist":
        return lambda n, generator: draw_toy(args.dataset, n, generator)
    data, train_rows, _ = emnist_split(args.data_dir, args.command)
    print(f"EMNIST ByClass: training on {len(train_rows)} of {len(data.labels)} images")
    return batch_source(data.images[train_rows], data.labels[train_rows], class_balance)


def emnist_split(data_dir: str | None, command: str):
    """(EMNIST ByClass, its training rows, its held-out rows): split_indices' default split, whose held-out
    10% is never trained on and judges the model in `eval`."""
    if not data_dir:
        raise CLIError(f"{command} emnist needs --data-dir, the folder holding the EMNIST ByClass gzip files")
    data = load_emnist(data_dir, "byclass")
    train_rows, held_rows = split_indices(len(data.labels))
    return data, train_rows, held_rows


def train(args: argparse.Namespace, command: str) -> Path:
    out = Path(args.out) if args.out else CHECKPOINTS_DIR / args.dataset
    if args.resume and args.resume_from:
        raise CLIError("--resume continues the run in --out, --resume-from the one in FOLDER: pass one of them")
    if args.init_from and (args.resume or args.resume_from):
        raise CLIError("--init-from starts a new run from a checkpoint's weights; --resume and --resume-from "
                       "continue a run: pass one of them")
    # --resume continues the run saved in --out; --resume-from one saved elsewhere (a long run kept
    # outside checkpoints/ until it is done), writing to --out.
    source = Path(args.resume_from) if args.resume_from else out if args.resume else None
    flag = "--resume-from" if args.resume_from else "--resume"
    config, train_config = build_configs(args.dataset, settings_for(args))
    try:
        check_run(out, source, config, train_config.to_dict(), args.force, flag)
    except ResumeError as error:
        raise CLIError(str(error)) from None
    network, lineage = None, {}
    if args.init_from:
        # A fine-tune: the weights (the saved EMA) of a finished run, a fresh optimiser and schedule.
        try:
            network, lineage["init_from"], earlier = initial_weights(out, Path(args.init_from), config)
        except ResumeError as error:
            raise CLIError(str(error)) from None
        except CheckpointError as error:
            raise CLIError(f"--init-from: {error}") from None
        if earlier:
            command = f"{earlier}\n{command}"
    batches = training_batches(args, train_config.class_balance)
    device = pick_device(args.device)
    torch.manual_seed(train_config.seed)  # the initial weights come from the global generator
    trainer = Trainer(
        network if network is not None else config.build_model(),
        config.build_schedule(),
        batches,
        train_config,
        config.model.prediction,
        device,
        sample_name="images" if args.dataset == "emnist" else "points",
    )
    if source is not None:
        trainer.load_state(*load_training_state(source))
        print(f"resuming {source} from step {trainer.step}" + ("" if source.resolve() == out.resolve() else f", saving to {out}"))
        # The card keeps every command that shaped these weights, one per line, in order.
        earlier = load_config(source).training
        if earlier.get("command"):
            command = f"{earlier['command']}\n{command}"
        if "init_from" in earlier:  # a fine-tune continued: where it started stays in its config
            lineage = {"init_from": earlier["init_from"]}

    def save() -> None:
        training = {
            **train_config.to_dict(),
            "seconds": round(trainer.seconds, 1),
            "device": str(device),
            "threads": torch.get_num_threads(),
            "final_loss": sum(trainer.losses[-100:]) / max(1, len(trainer.losses[-100:])),
            "command": command,
            **lineage,
        }
        saved = replace(config, training=training)
        card = model_card(saved, None, command, name=out.name).encode()
        save_checkpoint(out, saved, trainer.ema.state_dict(), trainer.state(), {"README.md": card})

    if source is not None and trainer.step > train_config.steps:
        raise CLIError(f"{flag}: {source} is at step {trainer.step}, past --steps {train_config.steps}")
    if trainer.step == train_config.steps:
        # Resumed exactly at --steps: an interrupted longer schedule ends here. Nothing to train;
        # the save records the step count and this command in the config and the card.
        save()
    while trainer.step < train_config.steps:
        stop = train_config.steps if not args.save_every else min(train_config.steps, trainer.step + args.save_every)
        trainer.run(until=stop, progress=not args.quiet)
        save()
    x0, labels = batches(min(train_config.batch_size, 2048), torch.Generator().manual_seed(train_config.seed + 1))
    write_loss_curve(out, trainer.ema, trainer.schedule, config.model.prediction, x0, labels, trainer.losses)
    print(f"trained {args.dataset} for {trainer.step} steps in {trainer.seconds:.1f} s on {device}; saved {out}")
    return out


def widths(text: str) -> list[int]:
    """argparse type of --channels/--blocks: comma-separated positive integers."""
    try:
        values = [int(part) for part in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers such as 32,96, got {text!r}") from None
    if not values or min(values) < 1:
        raise argparse.ArgumentTypeError(f"expected positive integers, got {text!r}")
    return values


def parser() -> argparse.ArgumentParser:
    main = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = main.add_subparsers(dest="command", required=True)

    def training_options(p: argparse.ArgumentParser) -> None:
        d = default_text
        p.add_argument("--steps", type=int, help=f"optimiser steps {d('steps')}")
        p.add_argument("--batch-size", type=int, help=f"points or images per step {d('batch_size')}")
        p.add_argument("--lr", type=float, help=f"peak AdamW learning rate, cosine-decayed to 0 {d('lr')}")
        p.add_argument("--warmup-steps", type=int, help=f"linear LR warmup steps {d('warmup_steps')}")
        p.add_argument("--ema-decay", type=float, help=f"EMA decay of the saved weights {d('ema_decay')}")
        p.add_argument("--p-uncond", type=float, help=f"label dropout probability {d('p_uncond')}")
        p.add_argument("--min-snr-gamma", type=float,
                       help=f"min-SNR-γ loss weighting, γ (e.g. 5; 0: plain MSE) {d('min_snr_gamma')}")
        p.add_argument("--class-balance", type=float, metavar="B",
                       help="emnist: draw class c with probability ∝ n_c^(1−B): 0 as the data has them, "
                            f"1 every class equally often {d('class_balance')}")
        p.add_argument("--schedule", choices=BETA_SCHEDULES, help=f"beta schedule {d('schedule')}")
        p.add_argument("--timesteps", type=int, help=f"diffusion steps T {d('timesteps')}")
        p.add_argument("--prediction", choices=PREDICTION_TYPES, help=f"network target {d('prediction')}")
        p.add_argument("--channels", type=widths, help=f"emnist: U-Net widths per level, e.g. 32,96 {d('channels')}")
        p.add_argument("--blocks", type=widths, help=f"emnist: residual blocks per level {d('blocks')}")
        p.add_argument("--hidden", type=int, help=f"2D: MLP width {d('hidden')}")
        p.add_argument("--layers", type=int, help=f"2D: FiLM hidden layers {d('layers')}")
        p.add_argument("--fourier-bands", type=int, help=f"2D: Fourier input-feature octaves, 0 for raw x {d('fourier_bands')}")
        p.add_argument("--activation", choices=sorted(ACTIVATIONS), help=f"2D: the MLP trunk's nonlinearity {d('activation')}")
        p.add_argument("--learn-variance", action="store_const", const=True,
                       help="2D: learn DDPM's variance too (Improved DDPM: v of Σ, trained on L_simple + 0.001 L_vlb)")
        p.add_argument("--clip", type=float, help=f"clip x̂0 to [-CLIP, CLIP] when sampling {d('clip')}")
        p.add_argument("--seed", type=int, help=f"seed of data, noise and initialisation {d('seed')}")
        p.add_argument("--device", help="torch device (default: $DIFFUSION_DEVICE, else CUDA, MPS, CPU)")
        p.add_argument("--threads", type=int, help="CPU threads for torch (default: torch's choice)")
        p.add_argument("--save-every", type=int, default=1000, help="save (and keep resumable) every N steps; 0: at the end")
        p.add_argument("--resume", action="store_true", help="continue from the training state saved in the output folder")
        p.add_argument("--resume-from", metavar="FOLDER",
                       help="continue from the training state saved in FOLDER, saving to the output folder "
                            "(a long run kept outside checkpoints/ until it is done)")
        p.add_argument("--init-from", metavar="FOLDER",
                       help="start from the weights of the checkpoint in FOLDER (a fine-tune: a fresh optimiser "
                            "and learning-rate schedule) instead of a random initialisation")
        p.add_argument("--force", action="store_true", help="replace an output checkpoint of a different architecture, "
                                                             "or one that --resume-from did not come from")
        p.add_argument("--quiet", action="store_true", help="no progress bar")

    def eval_options(p: argparse.ArgumentParser) -> None:
        p.add_argument("--n-samples", type=int, default=10_000, help="points for the SW ratio (default 10000)")
        p.add_argument("--n-conformity", type=int, default=2000, help="points per class for conformity (default 2000)")
        p.add_argument("--no-card", action="store_true", help="only print; do not update README.md and the picture")

    p = commands.add_parser("train", help="train one model", description="Train one toy model and save its checkpoint.")
    p.add_argument("dataset", choices=DATASETS, help="which data set")
    p.add_argument("--data-dir", help="emnist only: the folder holding the EMNIST ByClass gzip IDX files")
    p.add_argument("--out", help="checkpoint folder (default checkpoints/DATASET)")
    training_options(p)
    add_push_to_hub_argument(p)

    p = commands.add_parser("eval", help="print the quality figures", description="Evaluate a checkpoint.")
    p.add_argument("checkpoint", help="a name in checkpoints/ or a checkpoint folder")
    p.add_argument("--device", help="torch device (default: best available)")
    p.add_argument("--threads", type=int, help="CPU threads for torch")
    eval_options(p)
    p.add_argument("--data-dir", help="EMNIST models: the folder holding the EMNIST ByClass gzip IDX files")
    p.add_argument("--classifier", default=str(CHECKPOINTS_DIR / "emnist-classifier"), help="EMNIST models: the judge (default checkpoints/emnist-classifier)")
    p.add_argument("--per-class", type=int, default=20, help="EMNIST models: characters per class for conformity (default 20)")
    p.add_argument("--n-frechet", type=int, default=1000, help="EMNIST models: characters per Fréchet distance (default 1000)")
    p.add_argument("--classifier-sweep-only", action="store_true",
                   help="EMNIST models: rerun only the classifier-guidance sweep, merged into the last full eval.json")

    p = commands.add_parser("train-all", help="train and evaluate every shipped model", description="Train and evaluate all shipped models into checkpoints/.")
    p.add_argument("--only", nargs="+", choices=TOY_DATASETS, default=list(TOY_DATASETS), help="a subset of the models")
    p.add_argument("--root", default=str(CHECKPOINTS_DIR), help="folder receiving one checkpoint per model")
    training_options(p)
    eval_options(p)

    p = commands.add_parser(
        "train-classifier", help="train the EMNIST classifier that judges generated characters",
        description="Train the CNN that `eval` uses to judge EMNIST characters, on the training part of "
        "EMNIST ByClass (the held-out part is never trained on).",
    )
    p.add_argument("--data-dir", required=True, help="the folder holding the EMNIST ByClass gzip IDX files")
    p.add_argument("--out", default=str(CHECKPOINTS_DIR / "emnist-classifier"), help="output folder (default checkpoints/emnist-classifier)")
    p.add_argument("--epochs", type=int, default=ClassifierTraining.epochs, help=f"passes over the data (default {ClassifierTraining.epochs})")
    p.add_argument("--seed", type=int, default=ClassifierTraining.seed, help="seed of initialisation and shuffling (default 0)")
    p.add_argument("--threads", type=int, help="CPU threads for torch")

    p = commands.add_parser(
        "train-guide", help="train the noise-aware classifier that guides a model (classifier guidance)",
        description="Train p(y | x_t, t) on a model's data noised by its schedule, saved as checkpoints/NAME-guide.",
    )
    p.add_argument("checkpoint", help="the model it guides: a name in checkpoints/ or a checkpoint folder")
    p.add_argument("--data-dir", help="EMNIST models: the folder holding the EMNIST ByClass gzip IDX files")
    p.add_argument("--steps", type=int, help="optimiser steps (default 3000)")
    p.add_argument("--seed", type=int, default=0, help="seed of data, noise and initialisation (default 0)")
    p.add_argument("--device", help="torch device (default: best available)")
    p.add_argument("--threads", type=int, help="CPU threads for torch")

    register_hub_commands(commands)
    return main


def run_train_guide(args: argparse.Namespace, command: str) -> Path:
    """`train-guide`: the model's training batches, a held-out set, then `fit_guide`."""
    folder = resolve_checkpoint(args.checkpoint)
    config = load_config(folder)
    if config.dataset not in DATASETS:
        raise CLIError(f"train-guide knows the shipped data sets ({', '.join(DATASETS)}), not {config.dataset!r}")
    if config.dataset == "emnist":  # read once: the training part to learn from, 2000 held-out images to measure
        emnist, train_rows, held_rows = emnist_split(args.data_dir, args.command)
        batches = batch_source(emnist.images[train_rows], emnist.labels[train_rows])
        held_out = (emnist.images[held_rows[:2000]], emnist.labels[held_rows[:2000]])
    else:
        batches = training_batches(argparse.Namespace(dataset=config.dataset, command=args.command))
        held_out = draw_toy(config.dataset, 4000, torch.Generator().manual_seed(7))
    kind = "points" if len(config.sample_shape) == 1 else "images"
    settings = GUIDE_RECIPES[kind][0]
    settings = replace(settings, seed=args.seed, **({"steps": args.steps} if args.steps else {}))
    return fit_guide(folder, batches, held_out, command, settings, pick_device(args.device))


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = parser().parse_args(argv)
    command = "python train_toy.py " + shlex.join(argv)
    try:
        if getattr(args, "threads", None):
            torch.set_num_threads(args.threads)
        if args.command == "train":
            return push_trained(train(args, command), args)
        elif args.command == "push":
            return run_push(args)
        elif args.command == "pull":
            return run_pull(args)
        elif args.command == "eval":
            return 0 if run_eval(args.checkpoint, args) else 1
        elif args.command == "train-guide":
            run_train_guide(args, command)
            return 0
        elif args.command == "train-classifier":
            report = train_classifier(args.data_dir, args.out, ClassifierTraining(epochs=args.epochs, seed=args.seed))
            print(f"saved {args.out}: held-out accuracy {report['held_out_accuracy']:.2%}")
            return 0
        else:
            failed = []
            for name in args.only:
                folder = train(argparse.Namespace(**vars(args), dataset=name, out=str(Path(args.root) / name)), command)
                if not run_eval(str(folder), args):
                    failed.append(name)
            return 1 if failed else 0
    except (CLIError, CheckpointError, EMNISTDataMissing, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
