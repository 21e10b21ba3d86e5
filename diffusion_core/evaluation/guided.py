"""The figures of the two seed ideas beyond CFG: classifier guidance against its scale s, and learned variance.

- classifier sweep: for each s of CLASSIFIER_SCALES, the unconditional network steered by the
  model's guide (Dhariwal & Nichol 2021, Algorithm 2 through DDIM): conformity per class, and
  for 2D the SW ratio of each class's samples to that class's data, for EMNIST the judge's
  conformity and diversity, the same columns as the CFG sweep against w;
- variance sweep (Improved DDPM's figure of quality against steps): DDPM with the learned Σ
  against fixed_small (β̃) and fixed_large (β) at VARIANCE_STEPS, SW ratio and stray share;
- variance curve: the learned interpolation v (0: β̃_t, 1: β_t) the network gives on noised
  fresh data at timesteps across the schedule, its mean and 10th to 90th percentiles.
"""

from __future__ import annotations

import torch

from ..data import toy_dataset
from ..data.emnist import case_merged
from ..weights.pipeline import Pipeline
from .metrics import class_conformity, sliced_wasserstein_ratio, stray_share

CLASSIFIER_SCALES = (0.0, 1.0, 3.0, 10.0, 30.0)
EMNIST_CLASSIFIER_SCALES = (0.0, 1.0, 3.0, 10.0, 30.0)
VARIANCE_STEPS = (25, 50, 100, 1000)
VARIANCES = ("learned", "fixed_small", "fixed_large")
REFERENCE_SEED = 20_000  # as the CFG sweep's reference set (evaluation.toy)


def toy_classifier_sweep(pipeline: Pipeline, dataset: str, per_class: int, fresh_by_class: list,
                         ddim_steps: int = 50, seed: int = 0,
                         scales: tuple[float, ...] = CLASSIFIER_SCALES) -> tuple[dict[str, list[float]], dict[str, list[float]]]:
    """({s: conformity per class}, {s: SW ratio per class to the class's data}) of the guided unconditional
    network; `fresh_by_class[c]` holds fresh data sets of class c."""
    reference, labels = toy_dataset(dataset, 10_000, REFERENCE_SEED)
    conformity, spread = {}, {}
    for scale in scales:
        shares, ratios = [], []
        for index in range(len(pipeline.class_names)):
            points = pipeline.generate(per_class, sampler="ddim", steps=ddim_steps, label=index,
                                       classifier_scale=scale, conditional=False, seed=seed + 1 + index)
            shares.append(class_conformity(points, index, reference, labels))
            ratios.append(sliced_wasserstein_ratio(points, fresh_by_class[index], 64).ratio)
        conformity[f"{scale:g}"], spread[f"{scale:g}"] = shares, ratios
    return conformity, spread


def variance_sweep(pipeline: Pipeline, fresh: list, n: int, seed: int = 0) -> tuple[dict[str, float], dict[str, float]]:
    """({"DDPM learned, 25 steps": SW ratio, ...}, {same: stray share}) of n unconditional points, for
    every variance and step count (steps past the schedule's T are left out)."""
    sw, strays = {}, {}
    for steps in VARIANCE_STEPS:
        if steps > pipeline.schedule.num_train_steps:
            continue
        for variance in VARIANCES:
            points = pipeline.generate(n, sampler="ddpm", steps=steps, variance=variance, seed=seed)
            name = f"DDPM {variance}, {steps} steps"
            sw[name] = sliced_wasserstein_ratio(points, fresh, 64).ratio
            strays[name] = stray_share(points, fresh)
    return sw, strays


@torch.inference_mode()
def variance_curve(pipeline: Pipeline, x0: torch.Tensor, points: int = 40, seed: int = 0) -> dict[str, list]:
    """{"t", "v_mean", "v_low", "v_high", "beta", "beta_tilde"} of a network that learned its variance: v over
    x0 (N, D) noised to each of `points` timesteps from 1 to T-1 (t = 0 adds no noise), with the bounds."""
    schedule = pipeline.schedule
    T = schedule.num_train_steps
    generator = torch.Generator().manual_seed(seed)
    steps = sorted({int(t) for t in torch.linspace(1, T - 1, points).round().tolist()})
    x0 = x0.to(pipeline.device)
    curve: dict[str, list] = {"t": steps, "v_mean": [], "v_low": [], "v_high": [], "beta": [], "beta_tilde": []}
    for step in steps:
        t = torch.full((len(x0),), step, dtype=torch.long, device=pipeline.device)
        noise = torch.randn(x0.shape, generator=generator).to(pipeline.device)
        v = pipeline.model.prediction_and_variance(schedule.q_sample(x0, t, noise), t, None)[:, x0.shape[1]:]
        low, high = torch.quantile(v.float().flatten().cpu(), torch.tensor([0.1, 0.9])).tolist()
        curve["v_mean"].append(round(float(v.mean()), 4))
        curve["v_low"].append(round(low, 4))
        curve["v_high"].append(round(high, 4))
        curve["beta"].append(float(schedule.betas[step]))
        curve["beta_tilde"].append(float(schedule.posterior_variance[step]))
    return curve


def first_scale_reaching(conformity_by_s: dict[str, list[float]], level: float = 0.99) -> str | None:
    """The smallest s at which every class's conformity reaches `level`, or None."""
    reached = [float(s) for s, shares in conformity_by_s.items() if min(shares) >= level]
    return f"{min(reached):g}" if reached else None


def toy_sweep_record(conformity_by_s: dict, sw_by_s: dict, class_names: tuple[str, ...], per_class: int) -> dict:
    """The guide card's table of a 2D sweep: conformity per class and the mean SW ratio, per s."""
    rows = {
        s: [f"{100 * share:.1f}%" for share in shares] + [f"{sum(sw_by_s[s]) / len(sw_by_s[s]):.2f}"]
        for s, shares in conformity_by_s.items()
    }
    best = first_scale_reaching(conformity_by_s)
    return {
        "description": f"The unconditional network steered by this guide, DDIM 50 steps, {per_class} points per "
                       "class: the share nearest to the requested class's data (conformity), and the SW ratio of "
                       "each class's samples to that class's data (1 = as varied as the data).",
        "columns": [*class_names, "SW ratio"],
        "rows": rows,
        "best": (f"Every class reaches 99% conformity from s = {best}." if best
                 else "No scale of the sweep brings every class to 99% conformity."),
    }


def emnist_classifier_sweep(pipeline: Pipeline, judge, requested: torch.Tensor, generate, diversity,
                            scales: tuple[float, ...] = EMNIST_CLASSIFIER_SCALES, log=print) -> dict[str, dict]:
    """{s: {"conformity", "conformity_exact", "diversity", "per_class"}} of the guided unconditional network,
    judged by the project's classifier; `generate(**options)` draws characters for `requested`,
    `diversity(features, labels)` is the CFG sweep's diversity."""
    names = pipeline.class_names
    sweep = {}
    for scale in scales:
        images = generate(classifier_scale=scale, conditional=False)  # the guide's gradient needs autograd
        with torch.inference_mode():
            features = judge.features(images)
            predicted = judge.head(features).argmax(1)
        hits = case_merged(predicted, names) == case_merged(requested, names)
        sweep[f"{scale:g}"] = {
            "conformity": hits.double().mean().item(),
            "conformity_exact": (predicted == requested).double().mean().item(),
            "diversity": diversity(features, requested),
            "per_class": [round(v, 4) for v in hits.double().reshape(len(names), -1).mean(1).tolist()],
        }
        log(f"s={scale:g}: conformity {100 * sweep[f'{scale:g}']['conformity']:.1f}%")
    return sweep


def emnist_sweep_record(sweep_by_s: dict, sweep_by_w: dict, per_class: int) -> dict:
    """The EMNIST guide card's table: conformity and diversity per s, beside CFG's best."""
    rows = {s: [f"{100 * r['conformity']:.1f}%", f"{100 * r['conformity_exact']:.1f}%", f"{r['diversity']:.2f}"]
            for s, r in sweep_by_s.items()}
    best_s = max(sweep_by_s, key=lambda s: sweep_by_s[s]["conformity"])
    best_w = max(sweep_by_w, key=lambda w: sweep_by_w[w]["conformity"]) if sweep_by_w else None
    line = f"Highest conformity: {100 * sweep_by_s[best_s]['conformity']:.1f}% at s = {best_s}"
    if best_w is not None:
        line += (f"; classifier-free guidance reaches {100 * sweep_by_w[best_w]['conformity']:.1f}% at w = {best_w} "
                 "(the same judge, DDIM 50).")
    return {
        "description": f"The unconditional network steered by this guide, DDIM 50 steps, {per_class} characters per "
                       "class, read by the project's judge (either case for letters whose cases look alike).",
        "columns": ["conformity", "exact case", "diversity"],
        "rows": rows,
        "best": line,
    }
