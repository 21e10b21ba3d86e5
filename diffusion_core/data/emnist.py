"""EMNIST handwritten characters from the official gzip IDX files, upright and scaled to [-1, 1].

The IDX format (LeCun et al., MNIST): a big-endian header — magic 0x00000803 then
N, rows, cols for images; magic 0x00000801 then N for labels — followed by one
uint8 per pixel or label. EMNIST stores every image transposed (Cohen et al. 2017),
so `load_emnist` transposes each one to make it upright and maps a pixel p to p/127.5 - 1.
"""

from __future__ import annotations

import gzip
import string
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

IMAGES_MAGIC = 0x00000803
LABELS_MAGIC = 0x00000801
SPLITS = ("byclass", "bymerge", "mnist")
PARTS = ("train", "test")

BYCLASS_NAMES = tuple(string.digits + string.ascii_uppercase + string.ascii_lowercase)
# The letters EMNIST ByMerge folds into one class because their upper and lower case
# look alike when handwritten (Cohen et al. 2017, section II-C); conformity counts
# either case of these as a match.
CASE_MERGED_LETTERS = "cijklmopsuvwxyz"


class EMNISTDataMissing(FileNotFoundError):
    """The EMNIST files are not in the data folder."""


class IDXFormatError(ValueError):
    """An IDX file is corrupt, truncated or does not hold what its name promises."""


@dataclass(frozen=True, eq=False)
class EMNIST:
    """One EMNIST split: images (N, 1, 28, 28) float32 in [-1, 1], upright; labels (N,) long; class names."""

    images: torch.Tensor
    labels: torch.Tensor
    class_names: tuple[str, ...]
    split: str


def file_names(split: str = "byclass", part: str = "test") -> tuple[str, str, str]:
    """The official (images, labels, mapping) file names of one split, e.g. emnist-byclass-test-images-idx3-ubyte.gz."""
    if split not in SPLITS:
        raise ValueError(f"unknown EMNIST split {split!r}; choose one of {', '.join(SPLITS)}")
    if part not in PARTS:
        raise ValueError(f"unknown EMNIST part {part!r}; choose one of {', '.join(PARTS)}")
    stem = f"emnist-{split}-{part}"
    return f"{stem}-images-idx3-ubyte.gz", f"{stem}-labels-idx1-ubyte.gz", f"emnist-{split}-mapping.txt"


def read_idx(path: Path | str, magic: int, item_shape: tuple[int, ...]) -> np.ndarray:
    """The uint8 array (N, *item_shape) of a gzip IDX file whose header must carry `magic` and `item_shape`.

    Raises IDXFormatError naming the file and the problem: not gzip, truncated gzip,
    wrong magic, wrong item dimensions, or a payload shorter or longer than the header says.
    """
    path = Path(path)
    try:
        raw = gzip.decompress(path.read_bytes())
    except EOFError as error:
        raise IDXFormatError(f"{path}: truncated gzip stream ({error})") from error
    except (gzip.BadGzipFile, zlib.error) as error:
        raise IDXFormatError(f"{path}: not a valid gzip file ({error})") from error
    header_bytes = 4 * (2 + len(item_shape))
    if len(raw) < header_bytes:
        raise IDXFormatError(f"{path}: {len(raw)} bytes is shorter than the {header_bytes}-byte IDX header")
    header = np.frombuffer(raw, dtype=">u4", count=2 + len(item_shape))
    found_magic, count, dims = int(header[0]), int(header[1]), tuple(int(d) for d in header[2:])
    if found_magic != magic:
        raise IDXFormatError(f"{path}: magic number 0x{found_magic:08x}, expected 0x{magic:08x}")
    if dims != item_shape:
        raise IDXFormatError(f"{path}: items are {dims}, expected {item_shape}")
    payload = count * int(np.prod(item_shape, dtype=np.int64))
    if len(raw) - header_bytes != payload:
        raise IDXFormatError(
            f"{path}: header promises {count} items = {payload} bytes after the header, "
            f"the file holds {len(raw) - header_bytes} (truncated or padded)"
        )
    return np.frombuffer(raw, dtype=np.uint8, offset=header_bytes).reshape((count, *item_shape))


def read_mapping(path: Path | str) -> tuple[str, ...]:
    """Class names from an EMNIST mapping file: one `label ascii_code` line per class, labels 0..K-1 in order."""
    path = Path(path)
    names = []
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        if not line.strip():
            continue
        fields = line.split()
        if len(fields) != 2 or not all(f.isdigit() for f in fields) or int(fields[0]) != len(names):
            raise IDXFormatError(
                f"{path}: line {number} is {line!r}; expected '{len(names)} <ascii code>' (labels in order from 0)"
            )
        names.append(chr(int(fields[1])))
    return tuple(names)


def load_emnist(data_dir: Path | str, split: str = "byclass", part: str = "test") -> EMNIST:
    """Read one EMNIST split from `data_dir`: upright images in [-1, 1], labels and class names.

    images: (N, 1, 28, 28) float32, x = p / 127.5 - 1 of the transposed stored pixels p.
    Raises EMNISTDataMissing naming --data-dir and the expected files when any is absent,
    IDXFormatError when a file is corrupt or labels fall outside the class map.
    """
    data_dir = Path(data_dir)
    names = file_names(split, part)
    missing = [name for name in names if not (data_dir / name).is_file()]
    if missing:
        raise EMNISTDataMissing(
            f"EMNIST {split} ({part}) not found in {data_dir}: missing {', '.join(missing)}. "
            f"Pass --data-dir pointing at the folder holding {', '.join(names)} "
            "(the official EMNIST gzip files, e.g. ../shared/data/emnist)."
        )
    images_path, labels_path, mapping_path = (data_dir / name for name in names)
    class_names = read_mapping(mapping_path)
    if split == "byclass" and class_names != BYCLASS_NAMES:
        raise IDXFormatError(
            f"{mapping_path}: classes {''.join(class_names)!r}, expected {''.join(BYCLASS_NAMES)!r}"
        )
    stored = read_idx(images_path, IMAGES_MAGIC, (28, 28))
    labels = read_idx(labels_path, LABELS_MAGIC, ())
    if len(stored) != len(labels):
        raise IDXFormatError(
            f"{images_path} holds {len(stored)} images but {labels_path} {len(labels)} labels"
        )
    if len(labels) and int(labels.max()) >= len(class_names):
        bad = int(np.argmax(labels >= len(class_names)))
        raise IDXFormatError(
            f"{labels_path}: label {int(labels[bad])} at index {bad} is outside 0..{len(class_names) - 1} "
            f"({mapping_path.name} has {len(class_names)} classes)"
        )
    upright = torch.from_numpy(np.ascontiguousarray(stored.transpose(0, 2, 1)))
    images = (upright.float() / 127.5 - 1.0).unsqueeze(1)
    return EMNIST(images, torch.from_numpy(labels.astype(np.int64)), class_names, split)


def split_indices(n: int, held_out_fraction: float = 0.1, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """A fixed random partition of range(n) into (train, held_out) index tensors, both sorted.

    The permutation comes from torch.Generator().manual_seed(seed), so the same
    (n, fraction, seed) always gives the same held-out set on every machine.
    """
    if not isinstance(n, int) or n < 2:
        raise ValueError(f"n must be an integer >= 2, got {n!r}")
    if not 0.0 < held_out_fraction < 1.0:
        raise ValueError(f"held_out_fraction must be in (0, 1), got {held_out_fraction!r}")
    n_held = min(n - 1, max(1, round(n * held_out_fraction)))
    order = torch.randperm(n, generator=torch.Generator().manual_seed(seed))
    return order[n_held:].sort().values, order[:n_held].sort().values


def case_merged(labels: torch.Tensor, class_names: tuple[str, ...] = BYCLASS_NAMES) -> torch.Tensor:
    """Labels with every lowercase letter of CASE_MERGED_LETTERS replaced by its uppercase class; (N,) → (N,)."""
    index = {name: i for i, name in enumerate(class_names)}
    table = torch.arange(len(class_names))
    for letter in CASE_MERGED_LETTERS:
        if letter in index and letter.upper() in index:
            table[index[letter]] = index[letter.upper()]
    return table.to(labels.device)[labels]


def batch_source(
    images: torch.Tensor, labels: torch.Tensor, class_balance: float = 0.0
) -> Callable[[int, torch.Generator], tuple]:
    """A `Trainer` batch source: batch_size rows drawn with replacement by the generator.

    images: (N, 1, 28, 28), labels: (N,) → (x0: (B, 1, 28, 28), y: (B,)).
    class_balance β in [0, 1]: class c is drawn with probability ∝ n_c^(1−β), its rows
    uniformly within it; 0 draws rows uniformly (each class as often as the data has it),
    1 every class equally often. ByClass is lopsided (5,700 training 1s, 287 js), and the
    model is judged on every class alike.
    """
    if not 0.0 <= class_balance <= 1.0:
        raise ValueError(f"class_balance must be in [0, 1], got {class_balance!r}")
    if class_balance == 0.0:
        def draw(batch_size: int, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
            rows = torch.randint(0, len(images), (batch_size,), generator=generator)
            return images[rows], labels[rows]

        return draw
    counts = torch.bincount(labels).double()
    # A row's weight n_c^(−β): its class's rows together weigh n_c^(1−β).
    weights = counts[labels].pow(-class_balance)

    def draw_balanced(batch_size: int, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        rows = torch.multinomial(weights, batch_size, replacement=True, generator=generator)
        return images[rows], labels[rows]

    return draw_balanced
