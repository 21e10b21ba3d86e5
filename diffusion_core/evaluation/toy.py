"""The quality figures of a toy checkpoint: SW ratio, stray share and precision/recall for DDPM-all,
DDIM-50 and the app's opening setting, class conformity, and the guidance and steps sweeps."""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field

import torch

from ..data import toy_dataset
from ..samplers import sampler_label
from ..weights.pipeline import Pipeline
from .guided import toy_classifier_sweep, variance_curve, variance_sweep
from .metrics import class_conformity, precision_recall, sliced_wasserstein_ratio, stray_share
from .sweep import sweep_runs

GUIDANCE_WEIGHTS = (0.0, 1.0, 3.0, 5.0)
FRESH_SEEDS = tuple(10_000 + k for k in range(5))
REFERENCE_SEED = 20_000
STEPS_SWEEP_POINTS = 2000  # per run of the steps sweep (every sampler at 10/20/50 steps, DDPM at all T)
# The run the app opens with (its Run button before any change; tests/test_evaluation_toy.py checks the two agree).
APP_DEFAULT = {"sampler": "ddpm", "steps": 100, "n": 2000}


@dataclass(frozen=True)
class EvalSettings:
    """How many points and which samplers the figures use."""

    n_samples: int = 10_000
    n_conformity: int = 2_000
    num_directions: int = 128
    ddim_steps: int = 50
    seed: int = 0


@dataclass(frozen=True)
class EvalReport:
    """sw_ddpm / sw_ddim: SW ratios (≈1 is perfect); conformity[w][c]: share of class c at guidance w."""

    dataset: str
    sw_ddpm: float
    sw_ddim: float
    conformity: dict[str, list[float]]
    settings: EvalSettings
    seconds: dict[str, float]
    sw_steps: dict[str, float] = field(default_factory=dict)  # the DDIM paper's table: SW ratio per sampler
    sw_by_w: dict[str, list[float]] = field(default_factory=dict)  # per class: SW ratio to the class's data
    # Per setting ("ddpm": all T, "ddim": DDIM-50, "app": the app's default run): stray share, [precision, recall].
    strays: dict[str, float] = field(default_factory=dict)
    precision_recall: dict[str, list[float]] = field(default_factory=dict)
    sweep_calls: dict[str, int] = field(default_factory=dict)  # the steps sweep's network calls (NFE) per run
    strays_steps: dict[str, float] = field(default_factory=dict)  # the steps sweep's stray share per run
    # Classifier guidance (a model with a guide): conformity and SW ratio per class, per scale s.
    conformity_by_s: dict[str, list[float]] = field(default_factory=dict)
    sw_by_s: dict[str, list[float]] = field(default_factory=dict)
    # A model that learned its variance: DDPM learned / fixed_small / fixed_large at 25, 50, 100, 1000 steps.
    sw_variance: dict[str, float] = field(default_factory=dict)
    strays_variance: dict[str, float] = field(default_factory=dict)
    variance_curve: dict[str, list] = field(default_factory=dict)  # guided.variance_curve: v against t

    def to_dict(self) -> dict:
        return asdict(self)

    def lines(self, class_names: tuple[str, ...]) -> list[str]:
        """The figures as printed by `train_toy.py eval` and written in the model card."""
        s = self.settings
        rows = [
            f"SW ratio, DDPM all steps, {s.n_samples} points: {self.sw_ddpm:.3f}  (target <= 1.2)",
            f"SW ratio, DDIM {s.ddim_steps} steps, {s.n_samples} points: {self.sw_ddim:.3f}  (target <= 1.5)",
        ]
        if self.strays:
            rows.append("strays (fresh data: 1%; targets <= 2% DDPM, <= 3% DDIM-50) and precision / recall (k = 3):")
            names = {setting["key"]: setting["name"] for setting in fidelity_settings(s)}
            for key, share in self.strays.items():
                precision, recall = self.precision_recall.get(key, (float("nan"), float("nan")))
                rows.append(f"  {names.get(key, key):<34} strays {100 * share:4.1f}%  precision {precision:.3f}  "
                            f"recall {recall:.3f}")
        rows += [
            f"class conformity (DDIM {s.ddim_steps} steps, "
            f"{s.n_conformity} points per class; target >= 99% at w=3):",
        ]
        for weight, shares in self.conformity.items():
            cells = ", ".join(f"{name} {100 * share:.1f}%" for name, share in zip(class_names, shares))
            rows.append(f"  w={weight}: {cells}")
        if self.sw_by_w:
            rows.append("SW ratio of each class's guided samples to that class's data (1 = as varied as the data):")
            for weight, values in self.sw_by_w.items():
                cells = ", ".join(f"{name} {value:.2f}" for name, value in zip(class_names, values))
                rows.append(f"  w={weight}: {cells}")
        if self.sw_steps:
            rows.append(f"steps sweep, SW ratio ({min(STEPS_SWEEP_POINTS, s.n_samples)} points, unconditional), "
                        "stray share and network calls (NFE):")
            for name, value in self.sw_steps.items():
                strays = f"  strays {100 * self.strays_steps[name]:4.1f}%" if name in self.strays_steps else ""
                calls = f"  NFE {self.sweep_calls[name]}" if name in self.sweep_calls else ""
                rows.append(f"  {name:<30} {value:.3f}{strays}{calls}")
        if self.conformity_by_s:
            rows.append(f"classifier guidance, the unconditional network steered by the guide (DDIM {s.ddim_steps}, "
                        f"{s.n_conformity} points per class): conformity, and SW ratio to the class's data:")
            for scale, shares in self.conformity_by_s.items():
                cells = ", ".join(f"{name} {100 * share:.1f}%" for name, share in zip(class_names, shares))
                spread = ", ".join(f"{value:.2f}" for value in self.sw_by_s.get(scale, []))
                rows.append(f"  s={scale}: {cells}; SW {spread}")
        if self.sw_variance:
            rows.append(f"variance sweep, DDPM with the learned Σ against β̃ and β ({STEPS_SWEEP_POINTS} points): "
                        "SW ratio and stray share:")
            for name, value in self.sw_variance.items():
                rows.append(f"  {name:<30} {value:.3f}  strays {100 * self.strays_variance[name]:4.1f}%")
        rows.append("seconds: " + ", ".join(f"{k} {v:.1f}" for k, v in self.seconds.items()))
        return rows

    def explanation(self) -> str:
        """What the figures measure, for the model card."""
        s = self.settings
        return (
            f"SW ratio: sliced-Wasserstein distance (SW₂, {s.num_directions} random directions) between "
            f"{s.n_samples} generated points and each of 5 fresh data sets, averaged, divided by the mean distance "
            "between pairs of those sets (a perfect sampler scores about 1). Conformity: share of guided samples "
            "whose nearest fresh data point carries the requested label. The per-class SW ratio at each w compares "
            "a class's guided samples with fresh data of that class: guidance that raises conformity also crowds "
            "the samples into the most typical part of the class, and this ratio grows with it (the diversity side "
            "of classifier-free guidance's trade-off). The steps sweep repeats the SW ratio for DDIM η=0 and η=1, "
            "DPM-Solver++(2M), Heun and Euler ancestral at 10, 20 and 50 steps and for DDPM at all T, with each "
            "run's stray share and network calls (NFE): the DDIM paper's Table 1 in miniature, as quality against cost. Strays: the share "
            "of generated points farther from the nearest point of a fresh data set than 99% of another fresh set's "
            "points are (so fresh data scores 1%), averaged over 5 fresh sets: the points sprinkled where the data "
            "has none, which the SW ratio averages away. Precision and recall: improved precision and recall "
            "(Kynkäänniemi et al. 2019) with k = 3 nearest-neighbour balls, the share of samples on the data's "
            "manifold and of a fresh data set on the samples'."
            + (" Classifier guidance: the unconditional network steered by the noise-aware classifier kept beside "
               "the model (its NAME-guide folder) with scale s, through DDIM 50: conformity and the per-class SW "
               "ratio as for w." if self.conformity_by_s else "")
            + (" Variance sweep: DDPM with the learned Σ against β̃ (fixed_small) and β (fixed_large) on the same "
               "noise, at 25 to 1000 steps." if self.sw_variance else "")
        )


def evaluate(pipeline: Pipeline, dataset: str, settings: EvalSettings = EvalSettings()) -> EvalReport:
    """Sample from `pipeline` and score it against fresh draws of `dataset`."""
    fresh = fresh_sets(dataset, settings.n_samples)
    seconds, ratios, strays, coverage = {}, {}, {}, {}
    for setting in fidelity_settings(settings):
        key, start = setting["key"], time.perf_counter()
        steps = setting["steps"] and min(setting["steps"], pipeline.schedule.num_train_steps)  # as the app clamps
        generated = pipeline.generate(setting["n"], sampler=setting["sampler"], steps=steps, seed=settings.seed)
        if key != "app":
            seconds[key] = time.perf_counter() - start
            ratios[key] = sliced_wasserstein_ratio(generated, fresh, settings.num_directions).ratio
        reference = fresh if setting["n"] == settings.n_samples else fresh_sets(dataset, setting["n"])
        strays[key] = stray_share(generated, reference)
        found = precision_recall(generated, reference[0])
        coverage[key] = [found.precision, found.recall]
    start = time.perf_counter()
    conformity, sw_by_w = guidance_sweep(pipeline, dataset, settings.n_conformity, settings.ddim_steps, settings.seed)
    seconds["conformity"] = time.perf_counter() - start
    start = time.perf_counter()
    sweep = steps_sweep(pipeline, dataset, min(STEPS_SWEEP_POINTS, settings.n_samples), seed=settings.seed)
    seconds["steps sweep"] = time.perf_counter() - start
    conformity_by_s, sw_by_s, sw_variance, strays_variance, curve = {}, {}, {}, {}, {}
    if pipeline.guide is not None:
        start = time.perf_counter()
        by_class = [fresh_sets(dataset, settings.n_conformity, label_index=i) for i in range(len(pipeline.class_names))]
        conformity_by_s, sw_by_s = toy_classifier_sweep(pipeline, dataset, settings.n_conformity, by_class,
                                                        settings.ddim_steps, settings.seed)
        seconds["classifier sweep"] = time.perf_counter() - start
    if pipeline.learns_variance:
        start = time.perf_counter()
        n = min(STEPS_SWEEP_POINTS, settings.n_samples)
        sw_variance, strays_variance = variance_sweep(pipeline, fresh_sets(dataset, n), n, settings.seed)
        curve = variance_curve(pipeline, toy_dataset(dataset, 2000, seed=REFERENCE_SEED + 1)[0])
        seconds["variance sweep"] = time.perf_counter() - start
    return EvalReport(dataset, ratios["ddpm"], ratios["ddim"], conformity, settings, seconds, sweep.sw, sw_by_w,
                      strays, coverage, sweep.calls, sweep.strays, conformity_by_s, sw_by_s, sw_variance,
                      strays_variance, curve)


def fidelity_settings(settings: EvalSettings) -> list[dict]:
    """The unconditional runs whose strays and precision/recall the report gives: DDPM over all T and
    DDIM at `ddim_steps` on n_samples points (which also give the two SW ratios), and the app's default."""
    n, steps, app = settings.n_samples, settings.ddim_steps, APP_DEFAULT
    return [
        {"key": "ddpm", "name": f"DDPM, all steps, {n} points", "sampler": "ddpm", "steps": None, "n": n},
        {"key": "ddim", "name": f"DDIM, {steps} steps, {n} points", "sampler": "ddim", "steps": steps, "n": n},
        {"key": "app", "name": f"app default: {sampler_label(app['sampler'])}-{app['steps']}, {app['n']} points", **app},
    ]


def fresh_sets(
    dataset: str, n: int, seeds: tuple[int, ...] = FRESH_SEEDS, label_index: int | None = None
) -> list[torch.Tensor]:
    """Independent draws of up to n data points (of one class when `label_index` is set), one per seed.

    A class's set is cut from 3n draws, so with very unbalanced classes it can fall short of n.
    """
    sets = []
    for seed in seeds:
        points, labels = toy_dataset(dataset, n if label_index is None else 3 * n, seed)
        sets.append(points if label_index is None else points[labels == label_index][:n])
    return sets


def guidance_sweep(
    pipeline: Pipeline, dataset: str, per_class: int, ddim_steps: int = 50, seed: int = 0
) -> tuple[dict[str, list[float]], dict[str, list[float]]]:
    """For each w of GUIDANCE_WEIGHTS and each class: conformity, and the SW ratio to the class's data.

    The CFG paper's trade-off in 2D: guidance raises conformity while the samples crowd
    into the most typical part of their class, which the SW ratio (≈ 1 for samples as
    spread as the data) shows as it grows.
    """
    reference, labels = toy_dataset(dataset, 10_000, REFERENCE_SEED)
    fresh = [fresh_sets(dataset, per_class, label_index=index) for index in range(len(pipeline.class_names))]
    conformity, sw_by_w = {}, {}
    for weight in GUIDANCE_WEIGHTS:
        shares, ratios = [], []
        for index in range(len(pipeline.class_names)):
            points = pipeline.generate(
                per_class, sampler="ddim", steps=ddim_steps, label=index, guidance=weight, seed=seed + 1 + index
            )
            shares.append(class_conformity(points, index, reference, labels))
            ratios.append(sliced_wasserstein_ratio(points, fresh[index], 64).ratio)
        conformity[f"{weight:g}"], sw_by_w[f"{weight:g}"] = shares, ratios
    return conformity, sw_by_w


@dataclass(frozen=True)
class StepsSweep:
    """Per run of the steps sweep, by its name: SW ratio, stray share and network calls (NFE)."""

    sw: dict[str, float]
    strays: dict[str, float]
    calls: dict[str, int]


def steps_sweep(pipeline: Pipeline, dataset: str, n: int, seed: int = 0) -> StepsSweep:
    """SW ratio and stray share of n unconditional points for every run of `sweep.sweep_runs` (each
    sampler at 10, 20 and 50 steps, and DDPM at all T), and each run's network calls (NFE)."""
    fresh = fresh_sets(dataset, n)
    sweep = StepsSweep({}, {}, {})
    for run in sweep_runs(pipeline.schedule):
        points = pipeline.generate(n, sampler=run.sampler, steps=run.steps, eta=run.eta, seed=seed)
        sweep.sw[run.name] = sliced_wasserstein_ratio(points, fresh, 64).ratio
        sweep.strays[run.name], sweep.calls[run.name] = stray_share(points, fresh), run.calls
    return sweep


def quick_report(pipeline: Pipeline, dataset: str, n_points: int = 1000, per_class: int = 200) -> dict:
    """The sweeps on a small sample, in eval.json's shape: conformity at each w and the steps sweep."""
    conformity, sw_by_w = guidance_sweep(pipeline, dataset, per_class)
    sweep = steps_sweep(pipeline, dataset, n_points)
    guided = {}
    if pipeline.guide is not None:  # the classifier's sweep beside CFG's, as the full evaluation has it
        by_class = [fresh_sets(dataset, per_class, label_index=i) for i in range(len(pipeline.class_names))]
        guided = dict(zip(("conformity_by_s", "sw_by_s"), toy_classifier_sweep(pipeline, dataset, per_class, by_class)))
    return {
        **guided,
        "dataset": dataset,
        "conformity": conformity,
        "sw_by_w": sw_by_w,
        "sw_steps": sweep.sw,
        "strays_steps": sweep.strays,
        "sweep_calls": sweep.calls,
        "settings": {"n_samples": n_points, "n_conformity": per_class, "ddim_steps": 50},
        "quick": True,
    }


STRAY_TARGETS = {"ddpm": 0.02, "ddim": 0.03}


def meets_targets(report: EvalReport) -> bool:
    """The shipped models' quality targets: SW ≤ 1.2 (DDPM over all T) and ≤ 1.5 (DDIM-50), strays ≤ 2% and
    ≤ 3% for the same two, conformity ≥ 99% per class at w=3."""
    strays_met = all(report.strays.get(key, 1.0) <= target for key, target in STRAY_TARGETS.items())
    return report.sw_ddpm <= 1.2 and report.sw_ddim <= 1.5 and strays_met and min(report.conformity["3"]) >= 0.99


def sample_with_labels(pipeline: Pipeline, n_per_class: int, guidance: float = 3.0, seed: int = 0):
    """Class-conditional samples for the model card's picture: points (N, D) and their labels (N,)."""
    points, labels = [], []
    for index in range(len(pipeline.class_names)):
        points.append(pipeline.generate(n_per_class, sampler="ddim", label=index, guidance=guidance, seed=seed + index))
        labels.append(torch.full((n_per_class,), index, dtype=torch.long))
    return torch.cat(points), torch.cat(labels)
