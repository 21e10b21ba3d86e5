"""`train_toy.py eval`: sample a checkpoint, print its quality figures, and write eval.json, its picture and card.

    run_eval(NAME_OR_FOLDER, args) -> whether the model meets its targets

`args` carries the command line's eval options (device, n_samples, n_conformity, no_card; for EMNIST
data_dir, classifier, per_class, n_frechet). Bad input raises `CommandError` (exit status 2).
"""

from __future__ import annotations

import json
import time
from dataclasses import replace
from pathlib import Path

from ..data import toy_dataset
from ..data.emnist import load_emnist
from ..weights.atomic import write_file_atomically
from ..weights.cards import SAMPLE_IMAGE_NAME, model_card
from ..weights.checkpoint import EVAL_NAME, read_record
from ..weights.curves import write_loss_curve
from ..weights.guide_training import record_guide_sweep
from ..weights.pipeline import Pipeline, load_pipeline, resolve_checkpoint
from .emnist import EMNISTEvalReport, EMNISTEvalSettings, classifier_sweep, evaluate_emnist, meets_emnist_targets
from .guided import emnist_sweep_record, toy_sweep_record
from .judge import load_classifier
from .pictures import character_grid_png, scatter_png
from .toy import EvalSettings, evaluate, meets_targets, sample_with_labels


class CommandError(ValueError):
    """Bad input from the command line: printed as one line, exit status 2."""


def run_emnist_eval(folder: Path, pipeline: Pipeline, args) -> bool:
    if not args.data_dir:
        raise CommandError("eval of an EMNIST model needs --data-dir, the folder holding the EMNIST ByClass gzip files")
    classifier = load_classifier(args.classifier)
    settings = EMNISTEvalSettings(per_class=args.per_class, n_frechet=args.n_frechet)
    start = time.perf_counter()
    if getattr(args, "classifier_sweep_only", False):
        return rerun_classifier_sweep(folder, pipeline, classifier, settings, start, args)
    report, characters = evaluate_emnist(pipeline, classifier, load_emnist(args.data_dir, "byclass"), settings)
    picture = (lambda: character_grid_png(characters[:, :10], pipeline.config.class_names))
    passed = report_and_card(folder, pipeline, report, meets_emnist_targets(report), picture, start, args)
    if report.sweep_by_s and not args.no_card:
        record_guide_sweep(folder, emnist_sweep_record(report.sweep_by_s, report.sweep, settings.per_class))
    return passed


def rerun_classifier_sweep(folder: Path, pipeline: Pipeline, classifier, settings: EMNISTEvalSettings, start: float,
                           args) -> bool:
    """`eval emnist --classifier-sweep-only`: the classifier-guidance sweep alone, merged into the eval.json
    of an earlier full evaluation with the same settings (the rest of which takes half an hour on a CPU)."""
    if pipeline.guide is None:
        raise CommandError(f"{folder.name} has no guide to sweep (train one with train_toy.py train-guide)")
    earlier = read_record(folder / EVAL_NAME)
    if earlier is None:
        raise CommandError(f"--classifier-sweep-only needs the eval.json of a full `eval {folder.name}` first")
    report = EMNISTEvalReport.from_dict(earlier)
    if (report.settings.per_class, report.settings.ddim_steps) != (settings.per_class, settings.ddim_steps):
        raise CommandError(f"eval.json was measured with {report.settings.per_class} per class; pass --per-class "
                           f"{report.settings.per_class} or rerun the full evaluation")
    report = replace(report, sweep_by_s=classifier_sweep(pipeline, classifier, settings),
                     seconds={**report.seconds, "classifier sweep": round(time.perf_counter() - start, 1)})
    passed = report_and_card(folder, pipeline, report, meets_emnist_targets(report), None, start, args)
    if not args.no_card:
        record_guide_sweep(folder, emnist_sweep_record(report.sweep_by_s, report.sweep, settings.per_class))
    return passed


def run_eval(target: str, args) -> bool:
    folder = resolve_checkpoint(target)
    pipeline = load_pipeline(folder, args.device)  # a model of one's own data: its points.csv registered
    model, config = pipeline.model, pipeline.config
    if config.dataset == "emnist":
        return run_emnist_eval(folder, pipeline, args)
    settings = EvalSettings(n_samples=args.n_samples, n_conformity=args.n_conformity)
    start = time.perf_counter()
    report = evaluate(pipeline, config.dataset, settings)
    if not args.no_card:  # the loss per timestep band, on fresh data (and the step curve, where known)
        x0, labels = toy_dataset(config.dataset, 2048, seed=7)
        write_loss_curve(folder, model, pipeline.schedule, config.model.prediction, x0, labels)

    def picture() -> bytes:
        data, data_labels = toy_dataset(config.dataset, 2000, seed=1)
        panels = [("data", data, data_labels)]
        for weight in (0.0, 3.0):
            points, labels = sample_with_labels(pipeline, min(1000, args.n_conformity), guidance=weight)
            panels.append((f"samples, DDIM-50, w={weight:g}", points, labels))
        return scatter_png(panels)

    passed = report_and_card(folder, pipeline, report, meets_targets(report), picture, start, args)
    if report.conformity_by_s and not args.no_card:
        record_guide_sweep(folder, toy_sweep_record(report.conformity_by_s, report.sw_by_s, config.class_names,
                                                    settings.n_conformity))
    return passed


def report_and_card(folder: Path, pipeline: Pipeline, report, passed: bool, picture, start: float,
                    args) -> bool:
    """Print an evaluation's figures; unless --no-card, write eval.json, the samples picture and the card."""
    config = pipeline.config
    print(f"{folder} ({config.dataset}), evaluated in {time.perf_counter() - start:.1f} s on {pipeline.device}:")
    for line in report.lines(config.class_names):
        print("  " + line)
    print("  targets met" if passed else "  TARGETS NOT MET")
    if not args.no_card:
        if picture is not None:  # None: keep the picture of the last full evaluation
            write_file_atomically(folder / SAMPLE_IMAGE_NAME, picture())
        write_file_atomically(folder / EVAL_NAME, (json.dumps(report.to_dict(), indent=2) + "\n").encode())
        card = model_card(config, report, config.training.get("command", "(unknown)"), name=folder.name)
        write_file_atomically(folder / "README.md", card.encode())
    return passed
