"""The forward view: a model's data dissolving into noise on the live canvas, beside the model's own reverse run.

`play` draws x_0 (the model's 2D data set, or for EMNIST characters the model itself drew, since
the training images are not shipped), noises it with `diffusion_core.forward` under the chosen
schedule and T, and returns the canvas message of the whole x_0 → x_T film plus a `ForwardRun`
the session keeps. With the model's own schedule and T, a 2D model's DDPM run over every step
from the same number of points is kept at the film's timesteps: at each t its x_t should look
like the forward x_t (both are draws of the noised data, q(x_t) and its learned reverse), and
`agreement` says how closely, as the sliced-Wasserstein ratio of the reverse cloud to fresh
forward clouds (about 1: indistinguishable). `frame_at` redraws the film at one t and
`comparison_figure` draws the two clouds there.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import plotly.graph_objects as go
import torch
from plotly.subplots import make_subplots

from ..data import toy_dataset
from ..evaluation.metrics import SlicedWassersteinReference
from ..forward import forward_frames, forward_timesteps, schedule_curves
from ..schedules import BETA_SCHEDULES, NoiseSchedule
from . import plots
from .cache import ModelCache
from .live import data_background
from .requests import RequestError, known_model, number, shown
from .wire import frame_message

FRAMES = 60
MIN_T, MAX_T = 10, 2000
AGREEMENT_AT = (0.25, 0.5, 0.75)  # fractions of T where the summary compares reverse with forward
FRESH_SEEDS = (50_001, 50_002, 50_003)
REVERSE_SAMPLER = "ddpm"  # every step, so the reverse run visits each of the film's timesteps
# The forward noise's seed is the data's plus this: toy_dataset draws its points from a torch generator
# of the same seed, and noise from an identical stream would be correlated with the data it noises.
NOISE_SEED_OFFSET = 1_000_003


@dataclass(frozen=True)
class ForwardRun:
    """One film: its setting, the timesteps shown, x_t at each (float16), and the reverse run's x_t where kept."""

    model: str
    kind: str  # "points" or "images"
    dataset: str | None  # the 2D data set x_0 was drawn from (fresh draws of it score the agreement)
    schedule: str
    num_train_steps: int
    timesteps: tuple[int, ...]
    frames: tuple[np.ndarray, ...]
    alphas_cumprod: tuple[float, ...]  # ᾱ_t at each of the film's timesteps, for the frames' titles
    reverse: dict[int, np.ndarray]  # t -> reverse x_t (2D models on their own schedule only)
    ratios: dict[int, float]  # t -> SW ratio of reverse to forward x_t, at AGREEMENT_AT of T
    seed: int

    def nearest(self, t: int) -> int:
        """The index of the film's timestep closest to t."""
        return _nearest(self.timesteps, t)

    def ratio(self, t: int) -> float:
        """The SW ratio of the reverse x_t to fresh forward x_t (kept from `play` at AGREEMENT_AT of T)."""
        if t not in self.ratios:
            schedule = NoiseSchedule.create(self.schedule, self.num_train_steps)
            self.ratios[t] = _ratio(self.dataset, schedule, len(self.frames[0]), t, self.reverse[t])
        return self.ratios[t]


def _nearest(timesteps, t: int) -> int:
    return int(np.argmin(np.abs(np.asarray(timesteps) - t)))


def check_forward(cache: ModelCache, model, schedule, num_train_steps, seed,
                  session: str | None = None) -> tuple[str, str, int, int]:
    """The raw inputs of /forward checked: (model, schedule, T, seed), or RequestError; `session` may ask for
    its own model."""
    model = known_model(cache, model, session)
    if not isinstance(schedule, str) or schedule not in BETA_SCHEDULES:
        raise RequestError(f"unknown schedule {shown(schedule)}; choose one of {', '.join(BETA_SCHEDULES)}")
    num_train_steps = number(num_train_steps, "T (diffusion steps)", MIN_T, MAX_T, whole=True)
    seed = number(seed, "seed", 0, 2**31 - 1, whole=True)
    return model, schedule, num_train_steps, seed


def play(cache: ModelCache, model, schedule, num_train_steps, seed=0, session: str | None = None) -> tuple[str, ForwardRun]:
    """The x_0 → x_T film's canvas message and the run the session keeps."""
    model, kind, steps, seed = check_forward(cache, model, schedule, num_train_steps, seed, session)
    served = cache.served(model)
    info, pipeline = served.info, served.pipeline
    chosen = NoiseSchedule.create(kind, steps)
    x0 = _data(served, seed)
    timesteps = forward_timesteps(steps, FRAMES)
    noise = torch.Generator().manual_seed(seed + NOISE_SEED_OFFSET)
    frames = tuple(x.numpy().astype(np.float16) for _, x in forward_frames(x0, chosen, timesteps, noise))
    own = pipeline.schedule.kind == kind and pipeline.schedule.num_train_steps == steps
    dataset = info.dataset if info.kind == "points" else None
    reverse = _reverse(pipeline, len(x0), timesteps, seed) if own and dataset is not None else {}
    alphas_cumprod = tuple(float(chosen.alphas_cumprod_float64()[t]) for t in timesteps)
    compared = {timesteps[_nearest(timesteps, round(f * (steps - 1)))] for f in AGREEMENT_AT}
    ratios = {t: _ratio(dataset, chosen, len(x0), t, reverse[t]) for t in sorted(compared) if t in reverse}
    run = ForwardRun(model, info.kind, dataset, kind, steps, tuple(timesteps), frames, alphas_cumprod, reverse,
                     ratios, seed)
    film = [_frame(served, run, k) for k in range(len(timesteps))]
    return frame_message(film, mode="replace", final=True, background=data_background(served, None)), run


def frame_at(cache: ModelCache, run: ForwardRun | None, t) -> str:
    """The canvas message of the film's frame nearest to t."""
    run = _checked_run(cache, run)
    t = number(t, "t", 0, run.num_train_steps - 1, whole=True)
    return frame_message([_frame(cache.served(run.model), run, run.nearest(t))], mode="replace", final=True)


def agreement(run: ForwardRun) -> dict[str, float]:
    """{"t=254": SW ratio of the reverse x_t to fresh forward x_t, ...} at AGREEMENT_AT of T (2D, own schedule)."""
    return {f"t={t}": round(value, 3) for t, value in run.ratios.items()}


def comparison_figure(cache: ModelCache, run: ForwardRun | None, t) -> go.Figure | None:
    """The forward x_t and, where kept, the reverse x_t at the film's timestep nearest to t (2D only)."""
    run = _checked_run(cache, run)
    if run.kind != "points":
        return None
    index = run.nearest(number(t, "t", 0, run.num_train_steps - 1, whole=True))
    t = run.timesteps[index]
    traces = [_cloud(run.frames[index], f"forward: q(x_t | x_0), t = {t}", "#4c6ef5")]
    title = f"t = {t} of {run.num_train_steps}"
    if t in run.reverse:
        traces.append(_cloud(run.reverse[t], "reverse: the model's DDPM run at the same t", "#e8590c"))
        title += f" · SW ratio {run.ratio(t):.2f}"
    limit = max(cache.served(run.model).view_limit, 3.0)
    axis = {"range": [-limit, limit], "zeroline": False, "gridcolor": "#eceff4"}
    layout = {"title": {"text": title, "font": {"size": 13}}, "xaxis": {**axis, "constrain": "domain"},
              "yaxis": {**axis, "scaleanchor": "x", "scaleratio": 1}, "height": 420,
              "margin": {"l": 40, "r": 10, "t": 40, "b": 30}, "legend": {"orientation": "h", "y": -0.1},
              "plot_bgcolor": plots.PAPER, "paper_bgcolor": plots.PAPER}
    return go.Figure({"data": traces, "layout": layout}, _validate=False)


def schedules_figure(num_train_steps: int, own: NoiseSchedule | None = None, visited: list[int] | None = None):
    """ᾱ_t, β_t and log-SNR_t of the three schedules at T steps; the model's own schedule drawn thick and
    the sampler's visited timesteps marked on its ᾱ curve."""
    # Short titles: three panels share a phone's width too.
    figure = make_subplots(rows=1, cols=3, subplot_titles=("ᾱ_t (signal)", "β_t (log)", "log-SNR_t"))
    own_kind = own.kind if own is not None and own.num_train_steps == num_train_steps else None
    t = np.arange(num_train_steps)
    for kind, color in zip(BETA_SCHEDULES, ("#4c6ef5", "#e8590c", "#2b8a3e")):
        curves = schedule_curves(NoiseSchedule.create(kind, num_train_steps))
        width = 4 if kind == own_kind else 1.5
        name = f"{kind} (this model's)" if kind == own_kind else kind
        for col, key in enumerate(("alpha_bar", "beta", "log_snr"), start=1):
            figure.add_trace(go.Scatter(x=t, y=curves[key], name=name, legendgroup=kind, showlegend=col == 1,
                                        line={"color": color, "width": width}), row=1, col=col)
        if kind == own_kind and visited:
            figure.add_trace(go.Scatter(x=visited, y=curves["alpha_bar"][visited], mode="markers",
                                        name="the sampler's timesteps", marker={"color": "#212529", "size": 6}),
                             row=1, col=1)
    figure.update_yaxes(type="log", row=1, col=2)
    figure.update_annotations(font_size=12)
    figure.update_layout(height=330, margin={"l": 40, "r": 10, "t": 50, "b": 30},
                         legend={"orientation": "h", "y": -0.2},
                         plot_bgcolor=plots.PAPER, paper_bgcolor=plots.PAPER)
    return figure


def _checked_run(cache: ModelCache, run) -> ForwardRun:
    if not isinstance(run, ForwardRun) or run.model not in cache.names():
        raise RequestError("no forward film in this session yet: press Play forward first")
    return run


def _data(served, seed: int) -> torch.Tensor:
    """x_0: the 2D model's data set, or for an image model characters it draws (DDIM, 20 steps)."""
    info = served.info
    if info.kind == "points" and info.dataset is not None:
        points, _ = toy_dataset(info.dataset, info.default_samples, seed)
        return points
    return served.pipeline.generate(info.default_samples, sampler="ddim", steps=20, seed=seed).float().cpu()


def _reverse(pipeline, n: int, timesteps: list[int], seed: int) -> dict[int, np.ndarray]:
    """The model's DDPM run over every step from n points, kept at `timesteps` (x_{T-1} is its start)."""
    wanted, kept = set(timesteps), {}
    for step in pipeline.trajectory(n, sampler=REVERSE_SAMPLER, steps=None, seed=seed + 1):
        if step.t_prev in wanted:
            kept[step.t_prev] = step.x.detach().float().cpu().numpy().astype(np.float16)
    return kept


def _ratio(dataset: str, schedule: NoiseSchedule, n: int, t: int, reverse: np.ndarray) -> float:
    """SW ratio of the reverse cloud at t to forward clouds at t from fresh data and fresh noise."""
    fresh = [next(forward_frames(toy_dataset(dataset, n, seed)[0], schedule, [t],
                                 torch.Generator().manual_seed(seed + NOISE_SEED_OFFSET)))[1] for seed in FRESH_SEEDS]
    reference = SlicedWassersteinReference(fresh, num_directions=64)
    return reference.ratio(torch.from_numpy(reverse.astype(np.float32))).ratio


def _frame(served, run: ForwardRun, index: int) -> dict:
    t, ab = run.timesteps[index], run.alphas_cumprod[index]
    title = f"forward q(x_t | x₀) · {run.schedule}, T = {run.num_train_steps} · t = {t} · ᾱ_t = {ab:.3g}"
    x, progress, count = run.frames[index].astype(np.float32), t / max(1, run.num_train_steps - 1), len(run.timesteps)
    if run.kind == "images":
        return plots.images_frame(np.clip(x, -1.0, 1.0), title, progress, index, count, t)
    return plots.points_frame(x, served.view_limit, title, progress, index, count, t)


def _cloud(points: np.ndarray, name: str, color: str) -> dict:
    return {"type": "scattergl", "x": points[:, 0].astype(np.float32), "y": points[:, 1].astype(np.float32),
            "mode": "markers", "name": name, "marker": {"size": 3, "color": color, "opacity": 0.55}}
