"""The charts of classifier guidance and of a learned variance, drawn from a checkpoint's eval.json.

- `guidance_pair_figure`: classifier-free guidance against w beside classifier guidance against s,
  conformity above, the price in variety below (EMNIST: the judge's diversity; 2D: the SW ratio of
  each class's samples to its data, log scale): the CFG paper's trade-off and Dhariwal & Nichol's,
  measured alike on the same model.
- `variance_figure`: the interpolation v the network learned (0: β̃_t, 1: β_t) against t, and DDPM's
  quality against steps with the learned Σ, β̃ and β (Improved DDPM's point: fewer steps).

Both take the parsed report and return a plotly figure, or None where the report lacks the sweep.
"""

from __future__ import annotations

import re

import plotly.graph_objects as go
from plotly.subplots import make_subplots

from .plots import PAPER
from .tables import log_ticks

CFG_COLOR, CLASSIFIER_COLOR = "#4c6ef5", "#c2255c"
VARIANCE_COLORS = {"learned": "#c2255c", "fixed_small": "#4c6ef5", "fixed_large": "#e8590c"}
VARIANCE_NAMES = {"learned": "learned Σ", "fixed_small": "β̃ (fixed_small)", "fixed_large": "β (fixed_large)"}
_VARIANCE_RUN = re.compile(r"DDPM (?P<variance>\w+), (?P<steps>\d+) steps")


def _sweep_columns(report: dict) -> list[tuple[str, dict, dict, str]] | None:
    """Per guidance (CFG, classifier): (label, {x: mean conformity %}, {x: worst class % or exact-case %},
    {x: variety}), or None without a classifier sweep."""
    if report.get("sweep_by_s"):  # EMNIST
        def columns(sweep):
            return ({float(k): 100 * r["conformity"] for k, r in sweep.items()},
                    {float(k): 100 * r["conformity_exact"] for k, r in sweep.items()},
                    {float(k): r["diversity"] for k, r in sweep.items()})
        return [("classifier-free, w", *columns(report["sweep"])), ("classifier, s", *columns(report["sweep_by_s"]))]
    if report.get("conformity_by_s"):  # 2D
        def columns(conformity, spread):
            return ({float(k): 100 * sum(v) / len(v) for k, v in conformity.items()},
                    {float(k): 100 * min(v) for k, v in conformity.items()},
                    {float(k): sum(v) / len(v) for k, v in spread.items()})
        return [("classifier-free, w", *columns(report["conformity"], report.get("sw_by_w", {}))),
                ("classifier, s", *columns(report["conformity_by_s"], report.get("sw_by_s", {})))]
    return None


def guidance_pair_figure(report: dict | None) -> go.Figure | None:
    """Conformity and variety against w (CFG) and against s (classifier guidance), side by side."""
    columns = _sweep_columns(report or {})
    if columns is None:
        return None
    images = bool(report.get("sweep_by_s"))
    second = "exact case (%)" if images else "worst class (%)"
    variety = "diversity (feature distance)" if images else "SW ratio to the class's data (log; 1 = as varied)"
    figure = make_subplots(rows=2, cols=2, shared_xaxes="columns", vertical_spacing=0.08, horizontal_spacing=0.1,
                           subplot_titles=("classifier-free guidance", "classifier guidance", "", ""))
    for col, (label, mean, other, spread) in enumerate(columns, start=1):
        color = CFG_COLOR if col == 1 else CLASSIFIER_COLOR
        # s spans 0 to 30: evenly spaced categories keep 0, 1 and 3 apart.
        shown = (lambda xs: xs) if col == 1 else (lambda xs: [f"{x:g}" for x in xs])
        for values, name, dash in ((mean, "conformity (%)", None), (other, second, "dot")):
            xs = sorted(values)
            figure.add_trace(go.Scatter(x=shown(xs), y=[values[x] for x in xs], mode="lines+markers", name=name,
                                        legendgroup=name, showlegend=col == 1, line={"color": color, "dash": dash},
                                        hovertemplate=f"{label.split(',')[1].strip()} = %{{x:g}}: %{{y:.1f}}%<extra>"
                                                      f"{name}</extra>"), row=1, col=col)
        xs = sorted(spread)
        figure.add_trace(go.Scatter(x=shown(xs), y=[spread[x] for x in xs], mode="lines+markers", name=variety,
                                    legendgroup="variety", showlegend=col == 1, line={"color": "#495057"},
                                    hovertemplate="%{x:g}: %{y:.2f}<extra>" + variety + "</extra>"), row=2, col=col)
        figure.update_xaxes(title_text=label.split(", ")[1], row=2, col=col)
        if col == 2:
            figure.update_xaxes(type="category", col=col)
    figure.update_yaxes(range=[0, 102], ticksuffix="%", row=1)
    if images:
        figure.update_yaxes(rangemode="tozero", row=2)
    else:  # labelled at 1-2-5 a decade, not at plotly's crowded minor ticks
        values = [v for _, _, _, spread in columns for v in spread.values()]
        ticks = log_ticks(min(values, default=1.0), max(values, default=10.0))
        figure.update_yaxes(type="log", tickvals=ticks, ticktext=[f"{t:g}" for t in ticks], minor={"showgrid": False},
                            row=2)
    if report.get("real_diversity"):
        figure.add_hline(y=report["real_diversity"], line={"color": "#868e96", "dash": "dot", "width": 1}, row=2,
                         col="all")
    elif not images:
        figure.add_hline(y=1.0, line={"color": "#868e96", "dash": "dot", "width": 1}, row=2, col="all")
    figure.update_xaxes(gridcolor="#eceff4")
    figure.update_yaxes(gridcolor="#eceff4")
    figure.update_annotations(font_size=12)
    figure.update_layout(title={"text": "Guidance two ways: conformity rises, variety falls", "font": {"size": 14}},
                         height=480, plot_bgcolor=PAPER, paper_bgcolor=PAPER,
                         margin={"l": 50, "r": 10, "t": 60, "b": 50}, legend={"orientation": "h", "y": -0.18})
    return figure


def variance_figure(report: dict | None) -> go.Figure | None:
    """The learned v against t with the bounds' meaning, and DDPM's SW ratio against steps for the three Σ."""
    curve = (report or {}).get("variance_curve")
    if not curve:
        return None
    figure = make_subplots(rows=1, cols=2, horizontal_spacing=0.12,
                           subplot_titles=("learned v: Σ = exp(v log β + (1−v) log β̃)",
                                           "DDPM quality against steps (SW ratio, 1 = real data)"))
    t = curve["t"]
    figure.add_trace(go.Scatter(x=t + t[::-1], y=curve["v_high"] + curve["v_low"][::-1], fill="toself",
                                fillcolor="rgba(194, 37, 92, 0.15)", line={"width": 0}, hoverinfo="skip",
                                name="v, 10th to 90th percentile"), row=1, col=1)
    figure.add_trace(go.Scatter(x=t, y=curve["v_mean"], mode="lines", name="v, mean over noised data",
                                line={"color": VARIANCE_COLORS["learned"]}), row=1, col=1)
    for level, words in ((0.0, "v = 0: β̃ₜ"), (1.0, "v = 1: βₜ")):
        figure.add_hline(y=level, line={"color": "#868e96", "dash": "dot", "width": 1}, annotation_text=words,
                         annotation_position="top left", row=1, col=1)
    lines: dict[str, list[tuple[int, float]]] = {}
    for name, value in (report.get("sw_variance") or {}).items():
        match = _VARIANCE_RUN.fullmatch(name)
        if match:
            lines.setdefault(match["variance"], []).append((int(match["steps"]), value))
    for variance, points in lines.items():
        points.sort()
        figure.add_trace(go.Scatter(x=[p[0] for p in points], y=[p[1] for p in points], mode="lines+markers",
                                    name=VARIANCE_NAMES.get(variance, variance),
                                    line={"color": VARIANCE_COLORS.get(variance, "#495057")}), row=1, col=2)
    steps = sorted({p[0] for points in lines.values() for p in points})
    figure.update_xaxes(title_text="timestep t", row=1, col=1)
    figure.update_xaxes(type="log", tickvals=steps, ticktext=[str(s) for s in steps], title_text="DDPM steps",
                        row=1, col=2)
    figure.update_xaxes(gridcolor="#eceff4")
    figure.update_yaxes(gridcolor="#eceff4")
    figure.update_annotations(font_size=12)
    figure.update_layout(title={"text": "A learned variance (Improved DDPM)", "font": {"size": 14}}, height=380,
                         plot_bgcolor=PAPER, paper_bgcolor=PAPER, margin={"l": 50, "r": 10, "t": 60, "b": 50},
                         legend={"orientation": "h", "y": -0.25})
    return figure
