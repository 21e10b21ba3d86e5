"""Pictures of samples: arrays in, figures, images or compact canvas frames out. Nothing here samples.

Three outputs for three jobs:
- `points_frame` / `images_frame`: a small JSON frame (int16 or uint8 pixels, base64)
  that the app's live canvas paints in the browser, so streaming costs ~10 KB a frame;
- `points_figure`: the interactive plotly figure of a finished 2D run, as a plain dict
  that `plot_value` serializes once for gr.Plot;
- `points_raster` / `image_grid`: RGB / grey arrays that become GIF frames.
Points are drawn in model (training) coordinates on fixed square axes [-limit, limit]².
"""

from __future__ import annotations

from functools import cache

import numpy as np
import plotly.io as pio
from gradio.components.plot import PlotData
from PIL import Image, ImageDraw

from ..evaluation.pictures import image_grid
from ..samplers import sampler_label
from .field import GRID_SIZE
from .wire import b64, encode_points, relative_arrows

# Class colours (Okabe-Ito, readable by colour-blind viewers); samples in a strong blue.
CLASS_COLORS = ("#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442")
SAMPLE_COLOR = "#1f4e9c"
# Plotly figures are see-through, so the page's light or dark paper shows behind them; in dark mode
# assets/page.css lightens their text and grid lines.
PAPER = "rgba(0,0,0,0)"
GUESS_COLOR = "#c0143c"  # the model's guess x̂0, as the live canvas draws it
MIN_LIMIT = 3.2
CAPTION_PIXELS = 22  # the strip under a GIF frame or a comparison panel that says what it shows


def axis_limit(data: np.ndarray) -> float:
    """Half-width of the square view: the data with a 10% margin, and at least N(0, I)'s ±3.2."""
    return float(max(MIN_LIMIT, 1.1 * np.abs(np.asarray(data)).max(initial=0.0)))


def step_title(sampler: str, index: int, num_steps: int, t: int) -> str:
    """'DDIM · step 12/50 · t = 779': the step just taken and the timestep the model saw; the last step's
    frame shows the finished samples x₀ (the step from its t lands at t = 0), and says so."""
    if index == num_steps - 1:
        return f"{sampler_label(sampler)} · step {num_steps}/{num_steps} · done: x₀, the samples"
    return f"{sampler_label(sampler)} · step {index + 1}/{num_steps} · t = {t}"


def background(
    data: np.ndarray, labels: np.ndarray, limit: float, key: str, highlight: int | None = None
) -> dict:
    """The faint picture of the true data that frames are drawn over; `key` lets the browser cache it.

    data: (M, 2), labels: (M,) class indices; `highlight` marks the requested class.
    """
    return {
        "key": key,
        "limit": float(limit),
        "xy": encode_points(data, limit),
        "labels": b64(np.asarray(labels, dtype=np.uint8)),
        "colors": list(CLASS_COLORS),
        "highlight": -1 if highlight is None else int(highlight),
    }


def points_frame(
    x: np.ndarray,
    limit: float,
    title: str,
    progress: float,
    index: int,
    num_steps: int,
    t: int,
    x0: np.ndarray | None = None,
    field: dict | None = None,
) -> dict:
    """One live frame of a 2D run: x (N, 2) quantized, and the model's guess x̂0 (N, 2) when given;
    progress in [0, 1] drives the canvas's bar; `field` is `field.field_payload`'s arrows."""
    frame = {
        "kind": "points",
        "limit": limit,
        "title": title,
        "progress": round(float(progress), 4),
        "index": int(index),
        "num_steps": int(num_steps),
        "t": int(t),
        "xy": encode_points(x, limit),
    }
    if x0 is not None:
        frame["x0"] = encode_points(x0, limit)
    if field is not None:
        frame["field"] = field
    return frame


def enlarged(picture: np.ndarray, target: int) -> np.ndarray:
    """`picture` (H, W[, 3]) repeated by the largest whole factor (≥ 1) keeping its longer side ≤ target."""
    factor = max(1, target // max(picture.shape[:2]))
    return np.repeat(np.repeat(picture, factor, axis=0), factor, axis=1)


def images_frame(
    images: np.ndarray,
    title: str,
    progress: float,
    index: int,
    num_steps: int,
    t: int,
    x0: np.ndarray | None = None,
) -> dict:
    """One live frame of an image run: the grid of images (N, 1, H, W) in [-1, 1] as raw uint8 pixels,
    and the grid of the model's guesses x̂0 (same shape) beside it when given."""
    grid = image_grid(images)
    frame = {
        "kind": "images",
        "title": title,
        "progress": round(float(progress), 4),
        "index": int(index),
        "num_steps": int(num_steps),
        "t": int(t),
        "height": int(grid.shape[0]),
        "width": int(grid.shape[1]),
        "pixels": b64(grid),
    }
    if x0 is not None:
        frame["x0_pixels"] = b64(image_grid(x0))
    return frame


def points_figure(
    samples: np.ndarray,
    data: np.ndarray,
    labels: np.ndarray,
    class_names: tuple[str, ...],
    limit: float,
    title: str,
) -> dict:
    """The interactive picture of a finished 2D run: samples (N, 2) over the faint data (M, 2), in WebGL.

    A plotly figure as a plain dict, ready for JSON: its arrays are typed arrays and its
    layout carries plotly's default template, as `go.Figure(...).to_dict()` would give.
    Building a go.Figure costs ~5 ms of the server's time for every run (its template and
    then its data are deep-copied), for nothing the page needs; tests/test_plots.py
    validates this dict against plotly's schema instead.
    """
    traces = [
        {
            "type": "scattergl",
            "x": typed_array(data[labels == k, 0]),
            "y": typed_array(data[labels == k, 1]),
            "mode": "markers",
            "name": f"data: {name}",
            "marker": {"size": 4, "color": CLASS_COLORS[k % len(CLASS_COLORS)], "opacity": 0.25},
            "hoverinfo": "skip",
        }
        for k, name in enumerate(class_names)
    ]
    traces.append(
        {
            "type": "scattergl",
            "x": typed_array(samples[:, 0]),
            "y": typed_array(samples[:, 1]),
            "mode": "markers",
            "name": "samples",
            "marker": {"size": 4, "color": SAMPLE_COLOR, "opacity": 0.8},
        }
    )
    axis = {"range": [-limit, limit], "zeroline": False, "showgrid": True, "gridcolor": "#eceff4"}
    layout = {
        "title": {"text": title, "font": {"size": 14}},
        "xaxis": axis,
        "yaxis": {**axis, "scaleanchor": "x", "scaleratio": 1},
        "margin": {"l": 40, "r": 10, "t": 40, "b": 30},
        "legend": {"orientation": "h", "y": -0.08},
        "plot_bgcolor": PAPER, "paper_bgcolor": PAPER,
        "height": 520,
        "template": default_template(),
    }
    return {"data": traces, "layout": layout}


def typed_array(values: np.ndarray) -> dict:
    """Floats as plotly.js reads them without parsing text: float32 bytes in base64."""
    return {"dtype": "f4", "bdata": b64(np.asarray(values, dtype="<f4"))}


@cache
def default_template() -> dict:
    """Plotly's default template as a dict (what a go.Figure copies into every layout), built once."""
    return pio.templates[pio.templates.default].to_plotly_json()


def plot_value(figure: dict) -> PlotData:
    """A figure dict (JSON-ready, as `points_figure` makes) as gr.Plot's value: serialized here, once."""
    return PlotData(type="plotly", plot=pio.to_json(figure, validate=False))


def _hex_rgb(color: str) -> np.ndarray:
    return np.array([int(color[i : i + 2], 16) for i in (1, 3, 5)], dtype=np.float32)


def _pixel_coordinates(points: np.ndarray, limit: float, size: int) -> tuple[np.ndarray, np.ndarray]:
    """Column and row of each point (N, 2) on a size×size picture of [-limit, limit]², y up.

    Points outside the picture are dropped."""
    cols = np.floor((points[:, 0] + limit) / (2 * limit) * size).astype(np.int64)
    rows = np.floor((limit - points[:, 1]) / (2 * limit) * size).astype(np.int64)
    inside = (cols >= 0) & (cols < size) & (rows >= 0) & (rows < size)
    return cols[inside], rows[inside]


def background_raster(data: np.ndarray, labels: np.ndarray, limit: float, size: int = 360) -> np.ndarray:
    """The faint data picture as a white RGB uint8 (size, size, 3) image with class-coloured dots."""
    picture = np.full((size, size, 3), 255.0, dtype=np.float32)
    for k in np.unique(labels):
        cols, rows = _pixel_coordinates(data[labels == k], limit, size)
        colour = _hex_rgb(CLASS_COLORS[int(k) % len(CLASS_COLORS)])
        picture[rows, cols] = 0.7 * 255.0 + 0.3 * colour
    return picture.astype(np.uint8)


def backdrop(picture, limit: float, size: int = 360) -> np.ndarray:
    """The faint data raster behind a 2D picture (`picture` has data, labels), or white without one."""
    if picture is None:
        return np.full((size, size, 3), 255, np.uint8)
    return background_raster(picture.data, picture.labels, limit, size)


def points_raster(points: np.ndarray, limit: float, backdrop: np.ndarray, dot: int = 2,
                  color: str = SAMPLE_COLOR) -> np.ndarray:
    """Points (N, 2) drawn as dot×dot squares in `color` over `backdrop` (size, size, 3)."""
    picture = backdrop.copy()
    size = picture.shape[0]
    cols, rows = _pixel_coordinates(points, limit, size)
    colour = _hex_rgb(color).astype(np.uint8)
    for dr in range(dot):
        for dc in range(dot):
            picture[np.minimum(rows + dr, size - 1), np.minimum(cols + dc, size - 1)] = colour
    return picture


# The field's colours and drawing order, as the live canvas's FIELD_STYLES.
ARROW_COLORS = {"unconditional": "#9ca3af", "conditional": "#f59f00", "guided": "#111827"}


def arrows_raster(backdrop: np.ndarray, fields: dict, grid: int = GRID_SIZE) -> np.ndarray:
    """The learned field's arrows (`fields`: name → score vectors (grid², 2) on `field.grid_points`)
    drawn over a copy of `backdrop` (size, size, 3) as the canvas draws them: one arrow per grid point,
    its length relative to the longest of its field (`wire.relative_arrows`), the guided field on top."""
    image = Image.fromarray(backdrop)
    draw = ImageDraw.Draw(image)
    side = backdrop.shape[0]
    cell = side / (grid + 1)
    reach = 0.9 * cell
    for name, color in ARROW_COLORS.items():
        if name not in fields:
            continue
        arrows = relative_arrows(fields[name]).numpy() * reach
        for k, (dx, dy) in enumerate(arrows):
            x, y = (k % grid + 1) * cell, side - (k // grid + 1) * cell
            end = (x + dx, y - dy)
            length = float(np.hypot(dx, dy))
            if length < 2:
                draw.rectangle((x - 1, y - 1, x + 1, y + 1), fill=color)
                continue
            ux, uy, head = dx / length, -dy / length, min(8.0, 0.45 * length)
            draw.line([(x, y), end], fill=color, width=2)
            draw.line([(end[0] - head * (ux - 0.5 * uy), end[1] - head * (uy + 0.5 * ux)), end,
                       (end[0] - head * (ux + 0.5 * uy), end[1] - head * (uy - 0.5 * ux))], fill=color, width=2)
    return np.asarray(image)


def captioned(picture: np.ndarray, caption: str) -> Image.Image:
    """An RGB (or grey) array with a caption strip below it: Gradio lays an image's label and
    buttons over its top edge, where they hid a caption on top."""
    image = Image.fromarray(picture).convert("RGB")
    framed = Image.new("RGB", (image.width, image.height + CAPTION_PIXELS), "white")
    framed.paste(image, (0, 0))
    ImageDraw.Draw(framed).text((6, image.height + 5), caption, fill=(30, 30, 30))
    return framed
