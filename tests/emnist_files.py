"""Tiny EMNIST-format files for tests: gzip IDX written the way the official files are (transposed)."""

import gzip
import struct

import numpy as np

from diffusion_core.data.emnist import BYCLASS_NAMES, file_names

IMAGES, LABELS, MAPPING = file_names("byclass")


def upright_l() -> np.ndarray:
    """A 28×28 'L': a vertical bar on the left and a foot along the bottom, so a transpose shows."""
    image = np.zeros((28, 28), dtype=np.uint8)
    image[4:24, 6] = 255
    image[23, 6:20] = 255
    return image


def write_split(
    folder,
    images: np.ndarray,
    labels: np.ndarray,
    mapping: str | None = None,
    images_magic: int = 0x803,
    labels_magic: int = 0x801,
) -> None:
    """Write images (N, 28, 28) stored transposed, as EMNIST does, and labels (N,) as gzip IDX."""
    stored = np.ascontiguousarray(images.transpose(0, 2, 1))
    header = struct.pack(">IIII", images_magic, len(stored), 28, 28)
    (folder / IMAGES).write_bytes(gzip.compress(header + stored.tobytes()))
    (folder / LABELS).write_bytes(
        gzip.compress(struct.pack(">II", labels_magic, len(labels)) + labels.astype(np.uint8).tobytes())
    )
    if mapping is None:
        mapping = "".join(f"{i} {ord(name)}\r\n" for i, name in enumerate(BYCLASS_NAMES))
    (folder / MAPPING).write_text(mapping)
