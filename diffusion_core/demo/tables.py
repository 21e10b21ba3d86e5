"""The papers' tables in miniature, drawn from the figures `train_toy.py eval` writes beside a checkpoint.

- guidance sweep (the CFG paper's Table 1): conformity, and for EMNIST the diversity,
  against the guidance weight w;
- steps sweep (the DDIM paper's Table 1, widened to the solvers): sample quality against
  network calls (NFE), a line per sampler and DDPM on all T steps as a reference point.
  EMNIST's quality is the Fréchet distance in the classifier's features; a 2D model's is
  the sliced-Wasserstein ratio to fresh data.

Both return plotly figures (or None when the checkpoint has not been evaluated).
"""

from __future__ import annotations

import re
from pathlib import Path

import plotly.graph_objects as go
from plotly.subplots import make_subplots

from ..evaluation.sweep import LINE_SAMPLERS
from ..samplers import model_calls
from ..weights.checkpoint import EVAL_NAME, read_record
from .plots import PAPER

COLORS = {"conformity": "#4c6ef5", "diversity": "#e8590c", "eta0": "#4c6ef5", "eta1": "#e8590c", "ddpm": "#2b8a3e"}
_RUN_NAME = re.compile(r"(?P<line>.+), (?P<steps>\d+) steps")
SWEEP_COLORS = {"DDIM eta=0": "#4c6ef5", "DDIM eta=1": "#e8590c", "DPM-Solver++(2M)": "#ae3ec9", "Heun": "#1098ad",
                "Euler ancestral": "#f59f00"}
_LINE_NAMES = {"DDIM eta=0": "DDIM η=0", "DDIM eta=1": "DDIM η=1", "Euler ancestral": "Euler ancestral (= DDIM η=1)"}


def read_eval(folder: Path | str) -> dict | None:
    """The parsed eval.json of a checkpoint folder, or None if it is missing or unreadable."""
    return read_record(Path(folder) / EVAL_NAME)


def _layout(title: str, x_title: str, y_title: str, **extra) -> dict:
    return {
        "title": {"text": title, "font": {"size": 14}},
        "xaxis": {"title": {"text": x_title}, "gridcolor": "#eceff4"},
        "yaxis": {"title": {"text": y_title}, "gridcolor": "#eceff4"},
        "plot_bgcolor": PAPER, "paper_bgcolor": PAPER,
        "margin": {"l": 60, "r": 60, "t": 40, "b": 40},
        "legend": {"orientation": "h", "y": -0.3, "yanchor": "top"},
        "height": 420,
        **extra,
    }


def guidance_sweep_figure(report: dict | None) -> go.Figure | None:
    """Conformity (%) against w, with EMNIST's within-class diversity on a second axis."""
    if not report:
        return None
    if "sweep" in report:  # EMNIST
        weights = [float(w) for w in report["sweep"]]
        rows = list(report["sweep"].values())
        conformity = [100 * row["conformity"] for row in rows]
        traces = [
            {"type": "scatter", "x": weights, "y": conformity, "name": "conformity (%)", "mode": "lines+markers",
             "line": {"color": COLORS["conformity"]}},
            {"type": "scatter", "x": weights, "y": [row["diversity"] for row in rows], "name": "diversity",
             "mode": "lines+markers", "yaxis": "y2", "line": {"color": COLORS["diversity"], "dash": "dot"}},
        ]
        second = {"yaxis2": {"title": {"text": "diversity (feature distance)"}, "overlaying": "y", "side": "right",
                             "rangemode": "tozero"}}
        layout = _layout("Guidance sweep: conformity rises, diversity falls", "guidance weight w", "conformity (%)",
                         **second)
    elif "conformity" in report:  # a 2D model: per-class shares
        weights = [float(w) for w in report["conformity"]]
        shares = list(report["conformity"].values())
        conformity = [100 * sum(s) / len(s) for s in shares]
        worst = [100 * min(s) for s in shares]
        traces = [
            {"type": "scatter", "x": weights, "y": conformity, "name": "conformity, mean over classes (%)",
             "mode": "lines+markers", "line": {"color": COLORS["conformity"]}},
            {"type": "scatter", "x": weights, "y": worst, "name": "worst class (%)", "mode": "lines+markers",
             "line": {"color": COLORS["conformity"], "dash": "dot"}},
        ]
        extra = {}
        if report.get("sw_by_w"):  # how far each class's guided samples are from the spread of its data
            spread = [sum(v) / len(v) for v in report["sw_by_w"].values()]
            traces.append({"type": "scatter", "x": [float(w) for w in report["sw_by_w"]], "y": spread,
                           "name": "SW ratio to the class's data (1 = as varied as the data)",
                           "mode": "lines+markers", "yaxis": "y2", "line": {"color": COLORS["diversity"]}})
            ticks = log_ticks(min(spread), max(spread))
            extra = {"yaxis2": {"title": {"text": "SW ratio (log)"}, "overlaying": "y", "side": "right",
                                "type": "log", "tickvals": ticks, "ticktext": [f"{t:g}" for t in ticks],
                                "showgrid": False}}
        layout = _layout("Guidance sweep: conformity rises, samples crowd together", "guidance weight w",
                         "conformity (%)", **extra)
    else:
        return None
    # A share is a share: 0 to 100 %, however close to 100 the points all lie.
    layout["yaxis"].update(range=[0, 102], ticksuffix="%", title={"text": "conformity"})
    return go.Figure({"data": traces, "layout": layout}, _validate=False)


def steps_sweep_figure(report: dict | None, schedule=None) -> go.Figure | None:
    """Sample quality against network calls (NFE): a line per sampler of the sweep (DDIM η=0 and η=1,
    DPM-Solver++, Heun, Euler ancestral), DDPM at all T as one point and the real data's level. NFE
    from the report, else counted on the model's `schedule` where given."""
    if not report:
        return None
    table = report.get("frechet") or report.get("sw_steps")
    if table:  # EMNIST's Fréchet distances, or a 2D model's SW ratios, named alike
        lines, ddpm = _sweep_lines(table, report.get("sweep_calls", {}), schedule)
        if "frechet" in report:
            quality, floor = "Fréchet distance (lower is better)", report.get("frechet_real")
        else:
            quality, floor = "SW ratio (1 = real data)", 1.0
        title = "Steps sweep: quality against network calls (NFE)"
    elif "sw_ddim" in report:
        ddim_steps = report.get("settings", {}).get("ddim_steps", 50)
        lines = {"DDIM eta=0": [(ddim_steps, report["sw_ddim"])]}
        ddpm = ("DDPM, 1000 steps", 1000, report["sw_ddpm"])  # the shipped 2D models' T
        quality, title, floor = "SW ratio (1 = real data)", "Steps sweep: SW ratio", 1.0
    else:
        return None
    traces = []
    for name, points in lines.items():
        points.sort()
        traces.append({"type": "scatter", "x": [p[0] for p in points], "y": [p[1] for p in points],
                       "name": _LINE_NAMES.get(name, name), "mode": "lines+markers",
                       "line": {"color": SWEEP_COLORS.get(name, "#495057")}})
    every_call = [p[0] for points in lines.values() for p in points]
    if ddpm is not None:
        # DDPM visits every timestep: one point at T calls.
        name, at, value = ddpm
        every_call.append(at)
        traces.append({"type": "scatter", "x": [at], "y": [value], "name": name, "mode": "markers",
                       "marker": {"color": COLORS["ddpm"], "size": 11, "symbol": "diamond"}})
    span = [min(every_call, default=1), max(every_call, default=1000)]
    if floor is not None:
        traces.append({"type": "scatter", "x": span, "y": [floor] * 2, "name": "real data", "mode": "lines",
                       "line": {"color": "#868e96", "dash": "dot"}})
    layout = _layout(title, "network calls, NFE (log scale)", quality)
    # A log axis labelled at round counts (1-2-5 a decade), not plotly's crowded minor labels, nor at
    # every measured count: Heun's 18 and 38 calls would print over 20 and 50.
    ticks = log_ticks(min(every_call, default=1), max(every_call, default=1000))
    layout["xaxis"].update(type="log", tickvals=ticks, ticktext=[f"{t:g}" for t in ticks], minor={"showgrid": False})
    return go.Figure({"data": traces, "layout": layout}, _validate=False)


def log_ticks(low: float, high: float) -> list[float]:
    """1-2-5 ticks per decade covering [low, high] (one below and one above where they fall between)."""
    candidates = [m * 10.0 ** e for e in range(-2, 7) for m in (1, 2, 5)]
    below = [c for c in candidates if c <= low] or candidates[:1]
    above = [c for c in candidates if c >= high] or candidates[-1:]
    return [c for c in candidates if below[-1] <= c <= above[0]]


def _sweep_lines(table: dict, calls: dict, schedule=None) -> tuple[dict[str, list[tuple[int, float]]], tuple | None]:
    """The sweep's named runs grouped into lines of (NFE, value), and DDPM's (name, NFE, value) point.
    NFE from the report where it gives them, else from the sampler on `schedule` (reports before the
    solvers, or without their calls)."""
    lines: dict[str, list[tuple[int, float]]] = {}
    ddpm = None
    for name, value in table.items():
        match = _RUN_NAME.fullmatch(name)
        if not match:
            continue
        line, steps = match["line"], int(match["steps"])
        if line == "DDPM":
            ddpm = (name, calls.get(name, steps), value)
        else:
            sampler = LINE_SAMPLERS.get(line, "ddim")
            lines.setdefault(line, []).append((calls.get(name, model_calls(sampler, steps, schedule)), value))
    return lines, ddpm


PREDICTION_NAMES = {"epsilon": "predicts ε", "sample": "predicts x₀", "v_prediction": "predicts v"}
PREDICTION_COLORS = {"epsilon": "#e8590c", "sample": "#1098ad", "v_prediction": "#4c6ef5"}


def prediction_figure(reports: dict[str, dict]) -> go.Figure | None:
    """One data set's models that differ only in what the network predicts (`reports`: prediction type →
    eval.json), side by side: SW ratio and stray share against steps, DDIM η=0 at the sweep's step
    counts and DDPM at all T; None with fewer than two evaluated."""
    lines = {}
    for prediction, report in reports.items():
        ratios, strays = (report or {}).get("sw_steps", {}), (report or {}).get("strays_steps", {})
        points = []
        for name, ratio in ratios.items():
            match = _RUN_NAME.fullmatch(name)
            if match and match["line"] in ("DDIM eta=0", "DDPM") and name in strays:
                points.append((int(match["steps"]), match["line"], ratio, 100 * strays[name]))
        if points:
            lines[prediction] = sorted(points)
    if len(lines) < 2:
        return None
    figure = make_subplots(rows=1, cols=2, subplot_titles=("SW ratio (1 = real data)",
                                                           "strays (%; fresh data: 1%)"))
    for prediction, points in lines.items():
        name, color = PREDICTION_NAMES.get(prediction, prediction), PREDICTION_COLORS.get(prediction, "#495057")
        for col, value in ((1, 2), (2, 3)):
            figure.add_trace(go.Scatter(
                x=[p[0] for p in points], y=[p[value] for p in points], mode="lines+markers", name=name,
                legendgroup=prediction, showlegend=col == 1, line={"color": color},
                marker={"symbol": ["diamond" if p[1] == "DDPM" else "circle" for p in points], "size": 9},
                hovertemplate="%{x} steps: %{y:.3g}<extra>" + name + "</extra>"), row=1, col=col)
        for col, level in ((1, 1.0), (2, 1.0)):  # what fresh data itself scores
            figure.add_hline(y=level, line={"color": "#868e96", "dash": "dot", "width": 1}, row=1, col=col)
    ticks = sorted({p[0] for points in lines.values() for p in points})
    figure.update_xaxes(type="log", tickvals=ticks, ticktext=[str(t) for t in ticks], minor={"showgrid": False},
                        title_text="steps (DDIM η=0; ◆ DDPM on all T)", gridcolor="#eceff4")
    figure.update_yaxes(rangemode="tozero", gridcolor="#eceff4")
    figure.update_annotations(font_size=12)
    figure.update_layout(title={"text": "What the network predicts: the same moons, three targets", "font": {"size": 14}},
                         height=360, plot_bgcolor=PAPER, paper_bgcolor=PAPER,
                         margin={"l": 50, "r": 10, "t": 60, "b": 50},
                         legend={"orientation": "h", "y": -0.3})
    return figure


def loss_figure(record: dict | None) -> go.Figure | None:
    """A checkpoint's loss curve (`weights.curves`): the training loss against the step, and the trained
    model's loss in each band of timesteps; None without a curve."""
    if not record or not record.get("timestep_loss"):
        return None
    figure = make_subplots(rows=1, cols=2, subplot_titles=("training loss (window means)",
                                                           "trained model's loss by timestep band"))
    if record.get("steps"):
        figure.add_trace(go.Scatter(x=record["steps"], y=record["loss"], mode="lines", name="training loss",
                                    line={"color": COLORS["conformity"]}), row=1, col=1)
    edges = record["timestep_edges"]
    middles = [(low + high - 1) / 2 for low, high in zip(edges, edges[1:])]
    widths = [high - low for low, high in zip(edges, edges[1:])]
    figure.add_trace(go.Bar(x=middles, y=record["timestep_loss"], width=widths, name="loss at t",
                            marker={"color": COLORS["diversity"]}), row=1, col=2)
    figure.update_xaxes(title_text="step", row=1, col=1)
    figure.update_xaxes(title_text="timestep t", row=1, col=2)
    figure.update_yaxes(type="log", row=1, col=1)
    figure.update_annotations(font_size=12)
    figure.update_layout(height=300, showlegend=False, margin={"l": 40, "r": 10, "t": 40, "b": 40},
                         plot_bgcolor=PAPER, paper_bgcolor=PAPER)
    return figure
