"""Datasets the models are trained on."""

from .emnist import (
    BYCLASS_NAMES,
    CASE_MERGED_LETTERS,
    EMNIST,
    EMNISTDataMissing,
    IDXFormatError,
    load_emnist,
    split_indices,
)
from .toy import CLASS_NAMES, RESCALING, TOY_DATASETS, draw_toy, toy_dataset

__all__ = [
    "BYCLASS_NAMES",
    "CASE_MERGED_LETTERS",
    "CLASS_NAMES",
    "EMNIST",
    "EMNISTDataMissing",
    "IDXFormatError",
    "RESCALING",
    "TOY_DATASETS",
    "draw_toy",
    "load_emnist",
    "split_indices",
    "toy_dataset",
]
