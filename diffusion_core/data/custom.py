"""A visitor's own 2D data: strokes drawn on a canvas, a typed word, or pasted CSV rows, as a point set.

Each way in ends as a `PointSet`: up to MAX_POINTS points (with class labels, at most
MAX_CLASSES) standardised to the toy sets' range, centred with the larger half-extent at
HALF_EXTENT. A point set is a distribution, not just its points: `draw` resamples them
with a little Gaussian jitter, so a model trained on it and the figures that judge the
model (SW ratio, strays) read it like any toy set. `register_point_set` makes it
drawable by name through `data.toy_dataset`, which the app's views and `train_toy.py
eval` use; a checkpoint trained on it carries its points as `points.csv`.

Every bad input is a `PointSetError` saying what is wrong and what is allowed.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import math
from dataclasses import dataclass

import numpy as np
import torch
from PIL import Image, ImageDraw, ImageFont

MAX_POINTS = 5000  # what a CSV may hold, and at most what strokes or a word become
STROKE_POINTS = 1500  # the points a drawing becomes, shared among its strokes by length
WORD_POINTS = 2000
MIN_POINTS = 20
MAX_CLASSES = 3
MAX_WORD = 16  # characters
MAX_STROKES, MAX_STROKE_VERTICES = 200, 20_000  # in all
MIN_EXTENT = 3.0  # canvas pixels: a drawing smaller than this is a dot
HALF_EXTENT = 2.0  # the larger half-width of a standardised set, as the toy sets' ±2
JITTER = 0.03  # of HALF_EXTENT: the noise around each point when the set is drawn from
COLOR_NAMES = ("orange", "green", "pink")  # the canvas's three class colours (plots.CLASS_COLORS)


class PointSetError(ValueError):
    """Input that does not make a point set; the message says what is wrong and what is allowed."""


@dataclass(frozen=True)
class PointSet:
    """Points (M, 2) in training coordinates, their labels (M,) and class names; `jitter` is the noise
    added to each resampled point."""

    points: torch.Tensor
    labels: torch.Tensor
    class_names: tuple[str, ...]
    jitter: float = JITTER * HALF_EXTENT

    def draw(self, n: int, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        """n i.i.d. draws: a stored point chosen uniformly, plus N(0, jitter²) noise."""
        rows = torch.randint(0, len(self.points), (n,), generator=generator)
        noise = self.jitter * torch.randn(n, 2, generator=generator)
        return self.points[rows] + noise, self.labels[rows]

    @property
    def name(self) -> str:
        """A name fixed by the content: 'yours-' and 12 hex digits of its hash."""
        digest = hashlib.sha256(self.points.numpy().tobytes() + self.labels.numpy().tobytes())
        digest.update("\n".join(self.class_names).encode())
        return f"yours-{digest.hexdigest()[:12]}"

    def to_csv(self) -> str:
        """x,y,label rows (a header first), the class names in a comment line: what `from_csv` reads back."""
        lines = [f"# classes: {json.dumps(list(self.class_names))}", "x,y,label"]
        lines += [f"{x:.6f},{y:.6f},{int(label)}" for (x, y), label in zip(self.points.tolist(), self.labels.tolist())]
        return "\n".join(lines) + "\n"


def standardised(points: np.ndarray) -> np.ndarray:
    """Centre the points on their bounding box's middle and scale the larger half-extent to HALF_EXTENT."""
    low, high = points.min(axis=0), points.max(axis=0)
    half = float((high - low).max()) / 2
    if not half > 0:
        raise PointSetError("the points all lie at one place; draw or give a shape with some extent")
    return ((points - (low + high) / 2) * (HALF_EXTENT / half)).astype(np.float32)


def _point_set(points: np.ndarray, labels: np.ndarray, class_names: tuple[str, ...]) -> PointSet:
    if len(points) < MIN_POINTS:
        raise PointSetError(f"{len(points)} points is too few to learn from; give at least {MIN_POINTS}")
    if not np.isfinite(points).all():
        raise PointSetError("every coordinate must be a finite number")
    return PointSet(torch.from_numpy(standardised(points)), torch.from_numpy(labels.astype(np.int64)), class_names)


def _used_classes(labels: np.ndarray, names: tuple[str, ...]) -> tuple[np.ndarray, tuple[str, ...]]:
    """Labels renumbered 0..k-1 in order of value, with the names of the classes used."""
    used = sorted(set(labels.tolist()))
    remap = {old: new for new, old in enumerate(used)}
    return np.array([remap[v] for v in labels.tolist()], dtype=np.int64), tuple(names[v] for v in used)


def from_strokes(drawing: str | dict, seed: int = 0, n: int = STROKE_POINTS) -> PointSet:
    """A drawing as the page's canvas sends it, JSON {"strokes": [{"class": k, "points": [[x, y], ...]}, ...]}
    in canvas pixels (y down), as about n points spread along the strokes by length (a dot: a small
    cluster), each with a little jitter. Classes are the canvas colours used (COLOR_NAMES)."""
    if isinstance(drawing, str):
        if not drawing.strip():
            raise PointSetError("nothing is drawn yet; draw a shape on the canvas first")
        try:
            drawing = json.loads(drawing)
        except json.JSONDecodeError as error:
            raise PointSetError(f"the drawing is not valid JSON: {error.msg} at character {error.pos}") from None
    strokes = drawing.get("strokes") if isinstance(drawing, dict) else None
    if not isinstance(strokes, list):
        raise PointSetError('a drawing is {"strokes": [{"class": 0, "points": [[x, y], ...]}, ...]}')
    if not strokes:
        raise PointSetError("nothing is drawn yet; draw a shape on the canvas first")
    if len(strokes) > MAX_STROKES:
        raise PointSetError(f"{len(strokes)} strokes is too many; at most {MAX_STROKES}")
    lines, classes = [], []
    for k, stroke in enumerate(strokes):
        vertices = stroke.get("points") if isinstance(stroke, dict) else None
        label = stroke.get("class", 0) if isinstance(stroke, dict) else None
        if isinstance(label, bool) or label not in range(MAX_CLASSES):
            raise PointSetError(f"stroke {k + 1}: class must be 0, 1 or 2, got {label!r}")
        try:
            array = np.asarray(vertices, dtype=np.float64).reshape(-1, 2)
        except (TypeError, ValueError):
            raise PointSetError(f"stroke {k + 1}: points must be [x, y] pairs of numbers") from None
        if len(array) == 0 or not np.isfinite(array).all():
            raise PointSetError(f"stroke {k + 1}: points must be finite [x, y] pairs, at least one")
        lines.append(array * (1, -1))  # y up
        classes.append(label)
    if sum(len(line) for line in lines) > MAX_STROKE_VERTICES:
        raise PointSetError(f"the drawing has more than {MAX_STROKE_VERTICES} vertices; draw fewer, shorter strokes")
    generator = np.random.default_rng(seed)
    lengths = np.array([np.linalg.norm(np.diff(line, axis=0), axis=1).sum() for line in lines])
    extent = float(np.ptp(np.concatenate(lines), axis=0).max())
    if extent < MIN_EXTENT:
        raise PointSetError("the points all lie at one place; draw a shape with some extent")
    weights = lengths + extent / 50  # a dot still gets a few points
    counts = np.maximum(1, np.round(n * weights / weights.sum()).astype(int))
    points, labels = [], []
    for line, label, count in zip(lines, classes, counts):
        points.append(_along(line, count, generator) + generator.normal(0, extent / 150, (count, 2)))
        labels.append(np.full(count, label))
    labels, names = _used_classes(np.concatenate(labels), COLOR_NAMES)
    return _point_set(np.concatenate(points), labels, names)


def _along(line: np.ndarray, count: int, generator: np.random.Generator) -> np.ndarray:
    """count points uniform in arc length along the polyline (its one vertex, for a dot)."""
    if len(line) == 1:
        return np.repeat(line, count, axis=0)
    segments = np.linalg.norm(np.diff(line, axis=0), axis=1)
    total = segments.sum()
    if not total > 0:
        return np.repeat(line[:1], count, axis=0)
    at = np.sort(generator.uniform(0, total, count))
    ends = np.cumsum(segments)
    index = np.minimum(np.searchsorted(ends, at), len(segments) - 1)
    start = ends[index] - segments[index]
    fraction = np.where(segments[index] > 0, (at - start) / np.maximum(segments[index], 1e-12), 0.0)
    return line[index] + fraction[:, None] * (line[index + 1] - line[index])


def from_word(text: str, seed: int = 0, n: int = WORD_POINTS) -> PointSet:
    """A short word rendered in Pillow's built-in font, as n points drawn uniformly from its ink (one class)."""
    if not isinstance(text, str) or not text.strip():
        raise PointSetError("type a word first (letters, digits or symbols)")
    text = text.strip()
    if len(text) > MAX_WORD:
        raise PointSetError(f"{len(text)} characters is too long; type at most {MAX_WORD}")
    font = ImageFont.load_default(size=96)
    left, top, right, bottom = ImageDraw.Draw(Image.new("L", (1, 1))).textbbox((0, 0), text, font=font)
    image = Image.new("L", (right - left + 8, bottom - top + 8))
    ImageDraw.Draw(image).text((4 - left, 4 - top), text, fill=255, font=font)
    rows, cols = np.nonzero(np.asarray(image) > 127)
    if len(rows) < MIN_POINTS:
        raise PointSetError(f"{text!r} draws almost no ink; type letters or digits")
    generator = np.random.default_rng(seed)
    pick = generator.integers(0, len(rows), n)
    points = np.stack([cols[pick], -rows[pick]], axis=1) + generator.uniform(0, 1, (n, 2))
    return _point_set(points, np.zeros(n, dtype=np.int64), ("ink",))


def from_csv(text: str) -> PointSet:
    """Rows x,y or x,y,label (label 0, 1 or 2), comma-, semicolon- or tab-separated; a header line and
    '#' comments are skipped. At most MAX_POINTS rows."""
    if not isinstance(text, str) or not text.strip():
        raise PointSetError("paste rows of x,y or x,y,label first")
    names = None
    rows = []
    for number, line in enumerate(text.splitlines(), start=1):
        stripped = line.strip()
        if stripped.startswith("# classes:"):
            names = _class_names(stripped.removeprefix("# classes:"))
            continue
        if not stripped or stripped.startswith("#"):
            continue
        cells = next(csv.reader(io.StringIO(stripped.replace(";", ",").replace("\t", ","))))
        try:
            values = [float(cell) for cell in cells]
        except ValueError:
            if not rows and number == 1 + bool(names):  # a header
                continue
            raise PointSetError(f"line {number}: expected x,y or x,y,label numbers, got {stripped[:60]!r}") from None
        if len(values) not in (2, 3) or not all(math.isfinite(v) for v in values):
            raise PointSetError(f"line {number}: expected 2 or 3 finite numbers (x,y or x,y,label), got {stripped[:60]!r}")
        if len(values) == 3 and values[2] not in range(MAX_CLASSES):
            raise PointSetError(f"line {number}: a label must be 0, 1 or 2, got {cells[2].strip()!r}")
        rows.append(values if len(values) == 3 else [*values, 0.0])
        if len(rows) > MAX_POINTS:
            raise PointSetError(f"more than {MAX_POINTS} rows; give at most {MAX_POINTS} points")
    if not rows:
        raise PointSetError("no rows of numbers found; paste rows of x,y or x,y,label")
    array = np.asarray(rows, dtype=np.float64)
    labels, used = _used_classes(array[:, 2].astype(np.int64), names or tuple(f"class {k}" for k in range(MAX_CLASSES)))
    return _point_set(array[:, :2], labels, used)


def _class_names(text: str) -> tuple[str, ...] | None:
    try:
        names = json.loads(text)
    except json.JSONDecodeError:
        return None
    if isinstance(names, list) and names and all(isinstance(n, str) and n for n in names) and len(names) <= MAX_CLASSES:
        return tuple(names) + tuple(f"class {k}" for k in range(len(names), MAX_CLASSES))
    return None
