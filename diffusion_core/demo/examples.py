"""The one-click examples under the Run button: named settings of `/sample`'s inputs."""

from __future__ import annotations

from .cache import ModelCache
from .requests import RequestError, input_values, validate_request

# (label, the inputs it sets; the rest keep SAMPLE_INPUTS' defaults)
# Short labels that fit one line; each shows its model where it is good (EMNIST: classes its judge reads
# at 100% at w = 3, in eval.json's sweep).
EXAMPLES = (
    ("Two moons · DDPM, all 1000 steps",
     {"model": "moons", "sampler": "ddpm", "steps": 1000, "guidance": 0.0}),
    ("Upper moon, w = 3",
     {"model": "moons", "class_name": "upper moon", "guidance": 3.0, "seed": 1}),
    ("Circles vs moons, with x̂₀",
     {"model": "moons_circles", "steps": 25, "class_name": "moons", "guidance": 3.0, "num_samples": 3000,
      "seed": 2, "show_x0": True}),
    ("Inner ring: the three fields",
     {"model": "circles", "sampler": "ddpm", "steps": 100, "class_name": "inner ring", "guidance": 1.0,
      "seed": 3, "field": "all"}),
    ("Swiss roll: the score field",
     {"model": "swissroll", "steps": 10, "eta": 1.0, "guidance": 0.0, "seed": 4, "field": "guided"}),
    ("EMNIST 'M', w = 3",
     {"model": "emnist", "class_name": "M", "guidance": 3.0, "num_samples": 16, "seed": 5}),
    ("EMNIST '7' with x̂₀",
     {"model": "emnist", "steps": 25, "class_name": "7", "guidance": 3.0, "num_samples": 16, "seed": 6,
      "show_x0": True}),
)


def served_examples(cache: ModelCache) -> list[tuple[str, list]]:
    """(label, positional /sample values) of each example whose model is served and whose request is valid."""
    shown = []
    names = cache.names()
    for label, named in EXAMPLES:
        values = input_values(named)
        if named["model"] not in names:
            continue
        try:
            validate_request(cache, *values)
        except RequestError:
            continue
        shown.append((label, values))
    return shown
