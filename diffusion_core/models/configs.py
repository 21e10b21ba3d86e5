"""What every network's config shares: saved as plain JSON, rebuilt strictly, checked on creation."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from ..parameterization import PREDICTION_TYPES


class ConfigRecord:
    """`to_dict` / `from_dict` for a frozen config dataclass: tuples saved as lists, unknown keys refused."""

    record_name = "model config"  # how error messages call the record

    def to_dict(self) -> dict[str, Any]:
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}  # type: ignore[call-overload]

    @classmethod
    def from_dict(cls, values: dict):
        known = set(cls.__dataclass_fields__)  # type: ignore[attr-defined]
        unknown = sorted(set(values) - known)
        if unknown:
            raise ValueError(f"unknown {cls.record_name} keys {unknown}; allowed: {sorted(known)}")
        return cls(**values)


def check_positive_ints(config, names: tuple[str, ...], what: str = "model config") -> None:
    """Raise ValueError naming the first of `names` that is not an integer >= 1 ("{what} {name} must be ...")."""
    for name in names:
        value = getattr(config, name)
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{what} {name} must be a positive integer, got {value!r}".lstrip())


def check_prediction_field(prediction: str) -> None:
    """Raise ValueError unless `prediction` is one of PREDICTION_TYPES."""
    if prediction not in PREDICTION_TYPES:
        raise ValueError(f"model config prediction {prediction!r} is not one of {', '.join(PREDICTION_TYPES)}")
