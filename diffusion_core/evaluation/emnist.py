"""The quality figures of an EMNIST checkpoint, judged by the project's own character classifier.

- conformity: the share of generated characters the classifier reads as the class
  asked for (letters of CASE_MERGED_LETTERS match in either case), per class and overall;
- the guidance trade-off (the CFG paper's Table 1 in miniature): conformity and
  diversity (mean pairwise distance of classifier features within a class) for a sweep of w;
- the step table (the DDIM paper's Table 1 in miniature): the Fréchet distance between
  classifier features of generated and real held-out characters for DDIM η=0 and η=1 at
  a few step counts and DDPM at all T, beside the distance of real training images (the floor);
- the time to draw 16 characters, DDIM 50 steps with guidance.
"""

from __future__ import annotations

import statistics
import time
from dataclasses import asdict, dataclass, field

import torch

from ..data.emnist import CASE_MERGED_LETTERS, EMNIST, case_merged, split_indices
from ..models.classifier import CharacterClassifier
from ..weights.pipeline import Pipeline
from .guided import emnist_classifier_sweep
from .judge import accuracy, predict
from .metrics import frechet_distance, mean_pairwise_distance
from .sweep import sweep_runs


@dataclass(frozen=True)
class EMNISTEvalSettings:
    """How many characters each figure uses and which samplers it compares."""

    per_class: int = 20
    ddim_steps: int = 50
    guidance: float = 3.0
    sweep: tuple[float, ...] = (0.0, 1.0, 2.0, 3.0, 5.0, 8.0)
    n_frechet: int = 1000
    frechet_steps: tuple[int, ...] = (10, 20, 50)
    timing_characters: int = 16
    timing_repeats: int = 3
    batch_size: int = 500
    seed: int = 0

    def __post_init__(self):
        if self.per_class < 2:
            raise ValueError(f"per_class must be >= 2 (diversity needs pairs), got {self.per_class}")
        if self.n_frechet < 2:
            raise ValueError(f"n_frechet must be >= 2, got {self.n_frechet}")
        if self.guidance not in self.sweep:
            raise ValueError(f"the headline guidance {self.guidance} must be one of the sweep {self.sweep}")


@dataclass
class EMNISTEvalReport:
    """sweep[w] = {"conformity", "conformity_exact", "diversity", "per_class": [...]}; frechet[name] = distance."""

    classifier_accuracy: float
    classifier_accuracy_case_insensitive: float
    real_diversity: float
    sweep: dict[str, dict]
    frechet: dict[str, float]
    frechet_real: float
    sampling_seconds_16: float
    device: str
    threads: int
    settings: EMNISTEvalSettings
    seconds: dict[str, float] = field(default_factory=dict)
    sweep_calls: dict[str, int] = field(default_factory=dict)  # the Fréchet table's network calls (NFE) per run
    sweep_by_s: dict[str, dict] = field(default_factory=dict)  # classifier guidance's sweep, rows as `sweep`'s

    @classmethod
    def from_dict(cls, values: dict) -> EMNISTEvalReport:
        """A report back from its eval.json."""
        settings = dict(values["settings"])
        for name in ("sweep", "frechet_steps"):
            settings[name] = tuple(settings[name])
        return cls(**{**values, "settings": EMNISTEvalSettings(**settings)})

    def to_dict(self) -> dict:
        return asdict(self)

    @property
    def conformity(self) -> float:
        """Overall conformity at the headline guidance weight."""
        return self.sweep[f"{self.settings.guidance:g}"]["conformity"]

    def lines(self, class_names: tuple[str, ...]) -> list[str]:
        s = self.settings
        rows = [
            f"classifier accuracy on real held-out characters: {100 * self.classifier_accuracy:.1f}% exact, "
            f"{100 * self.classifier_accuracy_case_insensitive:.1f}% case-insensitive for {CASE_MERGED_LETTERS}",
            f"class conformity at w={s.guidance:g} (DDIM {s.ddim_steps} steps, {s.per_class} per class, "
            f"{len(class_names)} classes): {100 * self.conformity:.1f}%  (target >= 85%)",
            "",
            f"guidance sweep (DDIM {s.ddim_steps}, {s.per_class} per class); diversity of real held-out "
            f"characters: {self.real_diversity:.2f}",
            "     w  conformity  exact-case  diversity",
        ]
        for weight, row in self.sweep.items():
            rows.append(
                f"{weight:>6}  {100 * row['conformity']:9.1f}%  {100 * row['conformity_exact']:9.1f}%  "
                f"{row['diversity']:9.2f}"
            )
        headline = self.sweep[f"{s.guidance:g}"]["per_class"]
        worst = sorted(range(len(headline)), key=headline.__getitem__)[:8]
        rows.append(
            f"lowest classes at w={s.guidance:g}: "
            + ", ".join(f"{class_names[i]} {100 * headline[i]:.0f}%" for i in worst)
        )
        rows += [
            "",
            f"Fréchet distance in classifier features, {s.n_frechet} characters (w=0) vs the real held-out set; "
            f"real training characters: {self.frechet_real:.2f}",
        ]
        rows += [f"  {name:<26} {value:8.2f}" + (f"  NFE {self.sweep_calls[name]}" if name in self.sweep_calls else "")
                 for name, value in self.frechet.items()]
        if self.sweep_by_s:
            rows += ["", f"classifier guidance: the unconditional network steered by the guide (DDIM {s.ddim_steps}, "
                         f"{s.per_class} per class)", "     s  conformity  exact-case  diversity"]
            rows += [f"{scale:>6}  {100 * row['conformity']:9.1f}%  {100 * row['conformity_exact']:9.1f}%  "
                     f"{row['diversity']:9.2f}" for scale, row in self.sweep_by_s.items()]
        rows += [
            "",
            f"sampling {s.timing_characters} characters, DDIM {s.ddim_steps} steps, w={s.guidance:g}: "
            f"{self.sampling_seconds_16:.2f} s on {self.device} ({self.threads} threads)",
            "seconds: " + ", ".join(f"{k} {v:.1f}" for k, v in self.seconds.items()),
        ]
        return rows

    def explanation(self) -> str:
        return (
            "The judge is the project's own CNN (`checkpoints/emnist-classifier`), trained on the same "
            "training part of EMNIST ByClass and never on the held-out part. Conformity: the share of "
            "generated characters it reads as the requested class, counting either case of the letters "
            f"{CASE_MERGED_LETTERS} (EMNIST ByMerge merges them because their handwritten upper and lower "
            "case look alike); 'exact-case' counts only the exact class. Diversity: the mean pairwise "
            "Euclidean distance between the classifier's penultimate features of the characters of one class, "
            "averaged over classes; guidance should raise conformity and lower diversity. Fréchet distance: "
            "between Gaussians fitted to those features for generated and real held-out characters (FID's "
            "formula with the project's classifier in place of Inception); lower is better, and the distance "
            "of as many real training characters to the held-out set is the floor."
            + (" Classifier guidance: the unconditional network steered by the noise-aware classifier in "
               "`checkpoints/emnist-guide` (never the judge) with scale s, judged the same way."
               if self.sweep_by_s else "")
        )


@torch.inference_mode()
def _features(classifier: CharacterClassifier, images: torch.Tensor, batch_size: int = 1024) -> torch.Tensor:
    """The classifier's penultimate features, (N, feature_dim)."""
    classifier.eval()
    return torch.cat([classifier.features(images[i : i + batch_size]) for i in range(0, len(images), batch_size)])


@torch.inference_mode()
def _read(classifier: CharacterClassifier, features: torch.Tensor) -> torch.Tensor:
    """The class the classifier reads from its features, (N,) long."""
    return classifier.head(features).argmax(1)


def _generate(
    pipeline: Pipeline, labels: torch.Tensor, settings: EMNISTEvalSettings, seed: int, **options
) -> torch.Tensor:
    """Characters for `labels` (N,), in batches of settings.batch_size, each batch with its own seed."""
    parts = []
    for k, start in enumerate(range(0, len(labels), settings.batch_size)):
        rows = labels[start : start + settings.batch_size]
        parts.append(pipeline.generate(len(rows), label=rows, seed=seed + k, **options))
    return torch.cat(parts)


def _diversity(features: torch.Tensor, labels: torch.Tensor, num_classes: int) -> float:
    """Mean over classes (with ≥ 2 members) of the mean pairwise feature distance within the class; NaN if none."""
    values = [mean_pairwise_distance(features[labels == c]) for c in range(num_classes) if (labels == c).sum() >= 2]
    return sum(values) / len(values) if values else float("nan")


def evaluate_emnist(
    pipeline: Pipeline,
    classifier: CharacterClassifier,
    data: EMNIST,
    settings: EMNISTEvalSettings = EMNISTEvalSettings(),
    log=print,
) -> tuple[EMNISTEvalReport, torch.Tensor]:
    """All the figures, and the characters generated at the headline w as (classes, per_class, 1, 28, 28)."""
    names = pipeline.class_names
    if tuple(data.class_names) != tuple(names):
        raise ValueError(f"the data's classes {''.join(data.class_names)!r} differ from the model's {''.join(names)!r}")
    # split_indices' defaults: the split the classifier and the diffusion model were trained with.
    train_rows, held_rows = split_indices(len(data.labels))
    held_images, held_labels = data.images[held_rows], data.labels[held_rows]
    seconds: dict[str, float] = {}

    start = time.perf_counter()
    held_features = _features(classifier, held_images)
    exact, merged = accuracy(predict(classifier, held_images), held_labels, names)
    per_class_real = torch.cat(
        [torch.nonzero(held_labels == c).flatten()[: settings.per_class] for c in range(len(names))]
    )
    real_diversity = _diversity(held_features[per_class_real], held_labels[per_class_real], len(names))
    seconds["classifier"] = time.perf_counter() - start

    requested = torch.arange(len(names)).repeat_interleave(settings.per_class)
    sweep, headline_images = {}, None
    for weight in settings.sweep:
        start = time.perf_counter()
        images = _generate(
            pipeline, requested, settings, settings.seed, sampler="ddim", steps=settings.ddim_steps, guidance=weight
        )
        features = _features(classifier, images)
        predicted = _read(classifier, features)
        hits = case_merged(predicted, names) == case_merged(requested, names)
        sweep[f"{weight:g}"] = {
            "conformity": hits.double().mean().item(),
            "conformity_exact": (predicted == requested).double().mean().item(),
            "diversity": _diversity(features, requested, len(names)),
            "per_class": [round(v, 4) for v in hits.double().reshape(len(names), -1).mean(1).tolist()],
        }
        if weight == settings.guidance:
            headline_images = images.reshape(len(names), settings.per_class, *images.shape[1:])
        seconds[f"sweep w={weight:g}"] = time.perf_counter() - start
        log(f"w={weight:g}: conformity {100 * sweep[f'{weight:g}']['conformity']:.1f}% ({seconds[f'sweep w={weight:g}']:.0f} s)")

    sweep_by_s = classifier_sweep(pipeline, classifier, settings, log) if pipeline.guide is not None else {}
    frechet_real, frechet = _frechet_table(pipeline, classifier, data, train_rows, held_labels, held_features,
                                           settings, seconds, log)
    times = _sampling_seconds(pipeline, settings)
    report = EMNISTEvalReport(
        classifier_accuracy=round(exact, 4),
        classifier_accuracy_case_insensitive=round(merged, 4),
        real_diversity=real_diversity,
        sweep=sweep,
        frechet=frechet,
        frechet_real=frechet_real,
        sampling_seconds_16=statistics.median(times),
        device=str(pipeline.device),
        threads=torch.get_num_threads(),
        settings=settings,
        seconds={k: round(v, 1) for k, v in seconds.items()},
        sweep_calls={run.name: run.calls for run in sweep_runs(pipeline.schedule, settings.frechet_steps)},
        sweep_by_s=sweep_by_s,
    )
    return report, headline_images


def classifier_sweep(pipeline: Pipeline, classifier: CharacterClassifier, settings: EMNISTEvalSettings,
                     log=print) -> dict[str, dict]:
    """The classifier-guidance sweep (`guided.emnist_classifier_sweep`) on the CFG sweep's requests."""
    names = pipeline.class_names
    requested = torch.arange(len(names)).repeat_interleave(settings.per_class)

    def generate(**options) -> torch.Tensor:
        return _generate(pipeline, requested, settings, settings.seed, sampler="ddim", steps=settings.ddim_steps,
                         **options)

    return emnist_classifier_sweep(pipeline, classifier, requested, generate,
                                   lambda features, labels: _diversity(features, labels, len(names)), log=log)


def _frechet_table(
    pipeline: Pipeline,
    classifier: CharacterClassifier,
    data: EMNIST,
    train_rows: torch.Tensor,
    held_labels: torch.Tensor,
    held_features: torch.Tensor,
    settings: EMNISTEvalSettings,
    seconds: dict[str, float],
    log,
) -> tuple[float, dict[str, float]]:
    """(the floor: real training characters' distance, {sampler setting: distance}) to the held-out set."""
    # Labels in the held-out set's own proportions, so the class mix does not move the distance.
    order = torch.randperm(len(held_labels), generator=torch.Generator().manual_seed(settings.seed))
    labels = held_labels[order[: settings.n_frechet]]
    floor_rows = train_rows[torch.randperm(len(train_rows), generator=torch.Generator().manual_seed(1))]
    frechet_real = frechet_distance(_features(classifier, data.images[floor_rows[: settings.n_frechet]]), held_features)
    frechet = {}
    for run in sweep_runs(pipeline.schedule, settings.frechet_steps):
        start = time.perf_counter()
        images = _generate(pipeline, labels, settings, settings.seed + 1000, sampler=run.sampler, steps=run.steps,
                           eta=run.eta)
        frechet[run.name] = frechet_distance(_features(classifier, images), held_features)
        seconds[run.name] = time.perf_counter() - start
        log(f"{run.name} (NFE {run.calls}): Fréchet {frechet[run.name]:.2f} ({seconds[run.name]:.0f} s)")
    return frechet_real, frechet


def _sampling_seconds(pipeline: Pipeline, settings: EMNISTEvalSettings) -> list[float]:
    """Seconds to draw settings.timing_characters characters with guidance, once per repeat."""
    timing_labels = torch.arange(settings.timing_characters) % len(pipeline.class_names)
    times = []
    for repeat in range(settings.timing_repeats):
        start = time.perf_counter()
        pipeline.generate(
            settings.timing_characters, label=timing_labels, sampler="ddim", steps=settings.ddim_steps,
            guidance=settings.guidance, seed=repeat,
        )
        times.append(time.perf_counter() - start)
    return times


def meets_emnist_targets(report: EMNISTEvalReport) -> bool:
    """The shipped model's quality targets: conformity ≥ 85% at the headline w; DDIM η=0 beats η=1 at its fewest steps."""
    fewest = min(report.settings.frechet_steps)
    deterministic, stochastic = (report.frechet.get(f"DDIM eta={e}, {fewest} steps") for e in (0, 1))
    return report.conformity >= 0.85 and deterministic is not None and deterministic < stochastic
