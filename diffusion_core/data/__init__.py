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
from .toy import (
    CLASS_NAMES,
    RESCALING,
    TOY_DATASETS,
    draw_toy,
    forget_point_set,
    is_point_set,
    register_point_set,
    toy_dataset,
)

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
    "forget_point_set",
    "is_point_set",
    "load_emnist",
    "register_point_set",
    "split_indices",
    "toy_dataset",
]
