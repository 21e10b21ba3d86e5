"""The papers' tables in miniature, drawn from the figures `train_toy.py eval` writes beside a checkpoint.

- guidance sweep (the CFG paper's Table 1): conformity, and for EMNIST the diversity,
  against the guidance weight w;
- steps sweep (the DDIM paper's Table 1): sample quality against the number of steps,
  DDIM η=0 and η=1 as lines and DDPM on all T steps as a reference line. EMNIST's
  quality is the Fréchet distance in the classifier's features; a 2D model's is the
  sliced-Wasserstein ratio to fresh data (its eval has DDPM-all and DDIM-50 only).

Both return plotly figures (or None when the checkpoint has not been evaluated).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import plotly.graph_objects as go

from ..weights.checkpoint import EVAL_NAME

COLORS = {"conformity": "#4c6ef5", "diversity": "#e8590c", "eta0": "#4c6ef5", "eta1": "#e8590c", "ddpm": "#2b8a3e"}
_FRECHET_NAME = re.compile(r"DDIM eta=(?P<eta>[01]), (?P<steps>\d+) steps")
_DDPM_NAME = re.compile(r"DDPM, (?P<steps>\d+) steps")


def read_eval(folder: Path | str) -> dict | None:
    """The parsed eval.json of a checkpoint folder, or None if it is missing or unreadable."""
    try:
        report = json.loads((Path(folder) / EVAL_NAME).read_text())
    except (OSError, ValueError):
        return None
    return report if isinstance(report, dict) else None


def _layout(title: str, x_title: str, y_title: str, **extra) -> dict:
    return {
        "title": {"text": title, "font": {"size": 14}},
        "xaxis": {"title": {"text": x_title}, "gridcolor": "#eceff4"},
        "yaxis": {"title": {"text": y_title}, "gridcolor": "#eceff4"},
        "plot_bgcolor": "white",
        "margin": {"l": 60, "r": 60, "t": 40, "b": 50},
        "legend": {"orientation": "h", "y": -0.25},
        "height": 360,
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
            extra = {"yaxis2": {"title": {"text": "SW ratio (log)"}, "overlaying": "y", "side": "right",
                                "type": "log", "dtick": 1, "tickformat": ".0f", "minor": {"showgrid": False}}}
        layout = _layout("Guidance sweep: conformity rises, samples crowd together", "guidance weight w",
                         "conformity (%)", **extra)
    else:
        return None
    # A share is a share: 0 to 100 %, however close to 100 the points all lie.
    layout["yaxis"].update(range=[0, 102], ticksuffix="%", title={"text": "conformity"})
    return go.Figure({"data": traces, "layout": layout}, _validate=False)


def steps_sweep_figure(report: dict | None) -> go.Figure | None:
    """Sample quality against steps: DDIM η=0 and η=1 lines, DDPM at all T as a horizontal reference."""
    if not report:
        return None
    table = report.get("frechet") or report.get("sw_steps")
    if table:  # EMNIST's Fréchet distances, or a 2D model's SW ratios, named alike
        lines: dict[str, list[tuple[int, float]]] = {"0": [], "1": []}
        ddpm = None
        for name, value in table.items():
            match = _FRECHET_NAME.fullmatch(name)
            if match:
                lines[match["eta"]].append((int(match["steps"]), value))
            elif name.startswith("DDPM"):
                ddpm = (name, value)
        if "frechet" in report:
            quality, floor = "Fréchet distance (lower is better)", report.get("frechet_real")
        else:
            quality, floor = "sliced-Wasserstein ratio (1 = real data)", 1.0
        title = "Steps sweep: quality against the number of sampling steps"
    elif "sw_ddim" in report:
        ddim_steps = report.get("settings", {}).get("ddim_steps", 50)
        lines = {"0": [(ddim_steps, report["sw_ddim"])], "1": []}
        ddpm = ("DDPM, 1000 steps", report["sw_ddpm"])  # the shipped 2D models' T
        quality, title, floor = "sliced-Wasserstein ratio (1 = real data)", "Steps sweep: SW ratio", 1.0
    else:
        return None
    traces = []
    for eta, points in lines.items():
        if points:
            points.sort()
            traces.append({"type": "scatter", "x": [p[0] for p in points], "y": [p[1] for p in points],
                           "name": f"DDIM η={eta}", "mode": "lines+markers", "line": {"color": COLORS[f"eta{eta}"]}})
    every_step = [p[0] for points in lines.values() for p in points]
    if ddpm is not None:
        # DDPM visits every timestep: one point at T, where the DDIM η=1 line would end.
        match = _DDPM_NAME.fullmatch(ddpm[0])
        at = int(match["steps"]) if match else 1000
        every_step.append(at)
        traces.append({"type": "scatter", "x": [at], "y": [ddpm[1]], "name": ddpm[0], "mode": "markers",
                       "marker": {"color": COLORS["ddpm"], "size": 11, "symbol": "diamond"}})
    span = [min(every_step, default=1), max(every_step, default=1000)]
    if floor is not None:
        traces.append({"type": "scatter", "x": span, "y": [floor] * 2, "name": "real data", "mode": "lines",
                       "line": {"color": "#868e96", "dash": "dot"}})
    layout = _layout(title, "sampling steps (log scale)", quality)
    # A log axis labelled only at the step counts measured, not plotly's 2-5-10 minor labels.
    ticks = sorted(set(every_step))
    layout["xaxis"].update(type="log", tickvals=ticks, ticktext=[str(t) for t in ticks], minor={"showgrid": False})
    return go.Figure({"data": traces, "layout": layout}, _validate=False)
