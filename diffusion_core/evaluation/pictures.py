"""Pictures of samples as plain arrays and PNG bytes: character grids and 2D scatter plots.

The model cards show them (`train_toy.py eval` writes samples.png beside the weights),
and the demo tiles its characters with the same `image_grid`.
"""

from __future__ import annotations

import io

import numpy as np
import torch
from PIL import Image, ImageDraw

PALETTE = ((68, 1, 84), (253, 231, 37), (33, 145, 140), (229, 89, 52))


def scatter_png(panels: list[tuple[str, torch.Tensor, torch.Tensor]], size: int = 320) -> bytes:
    """Side-by-side scatter plots rasterised with Pillow; panels of (title, points (N, 2), labels (N,)).

    All panels share the bounds of the first, so they can be compared by eye.
    """
    reference = panels[0][1]
    low, high = reference.min(0).values, reference.max(0).values
    center, half = (low + high) / 2, float((high - low).max()) / 2 * 1.15
    image = Image.new("RGB", (size * len(panels), size + 24), "white")
    draw = ImageDraw.Draw(image)
    for k, (title, points, labels) in enumerate(panels):
        draw.text((k * size + 8, 4), title, fill="black")
        pixels = ((points - center) / half * 0.5 + 0.5) * (size - 1)
        for (px, py), label in zip(pixels.tolist(), labels.tolist()):
            x, y = k * size + px, 24 + (size - 1 - py)
            draw.ellipse((x - 1, y - 1, x + 1, y + 1), fill=PALETTE[label % len(PALETTE)])
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def character_grid_png(images: torch.Tensor, row_names: tuple[str, ...], scale: int = 1) -> bytes:
    """One row per class: its name, then its characters; images (rows, columns, 1, H, W) in [-1, 1]."""
    rows, columns = images.shape[:2]
    grid = image_grid(images.reshape(rows * columns, *images.shape[2:]).numpy(), columns=columns)
    picture = Image.fromarray(grid).convert("RGB")
    if scale > 1:
        picture = picture.resize((picture.width * scale, picture.height * scale), Image.NEAREST)
    label_width = 16 * scale
    canvas = Image.new("RGB", (picture.width + label_width, picture.height), "white")
    canvas.paste(picture, (label_width, 0))
    draw = ImageDraw.Draw(canvas)
    row_height = picture.height / rows
    for r, name in enumerate(row_names):
        draw.text((4, int((r + 0.5) * row_height) - 6), name, fill="black")
    buffer = io.BytesIO()
    canvas.save(buffer, format="PNG")
    return buffer.getvalue()


def to_pixels(images: np.ndarray) -> np.ndarray:
    """Images in [-1, 1] (N, 1, H, W) or (N, H, W) → uint8 (N, H, W)."""
    images = np.asarray(images, dtype=np.float32)
    if images.ndim == 4:
        images = images[:, 0]
    return np.clip(np.rint((images + 1.0) * 127.5), 0, 255).astype(np.uint8)


def grid_columns(n: int) -> int:
    """Columns of a near-square grid of n images."""
    return max(1, int(np.ceil(np.sqrt(n))))


def image_grid(images: np.ndarray, columns: int | None = None, pad: int = 2) -> np.ndarray:
    """Tile images in [-1, 1], (N, 1, H, W), into one uint8 grey picture with `pad` dark pixels between."""
    pixels = to_pixels(images)
    n, h, w = pixels.shape
    columns = columns or grid_columns(n)
    rows = -(-n // columns)
    grid = np.zeros((rows * (h + pad) + pad, columns * (w + pad) + pad), dtype=np.uint8)
    for k in range(n):
        r, c = divmod(k, columns)
        top, left = pad + r * (h + pad), pad + c * (w + pad)
        grid[top : top + h, left : left + w] = pixels[k]
    return grid
