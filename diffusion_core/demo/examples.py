"""The one-click examples under the Run button: named settings of `/sample`'s inputs."""

from __future__ import annotations

from .cache import ModelCache
from .requests import RequestError, input_values, validate_request

# (label, the inputs it sets; the rest keep SAMPLE_INPUTS' defaults)
EXAMPLES = (
    ("moons · DDPM, all 1000 steps",
     {"model": "moons", "sampler": "ddpm", "steps": 1000, "guidance": 0.0}),
    ("moons · DDIM-50 · upper moon, w = 3",
     {"model": "moons", "class_name": "upper moon", "guidance": 3.0, "seed": 1}),
    ("moons_circles · DDIM-25 · moons, w = 5, with x̂₀",
     {"model": "moons_circles", "steps": 25, "class_name": "moons", "guidance": 5.0, "num_samples": 3000,
      "seed": 2, "show_x0": True}),
    ("circles · DDPM-100 · inner ring, w = 1, with the three fields",
     {"model": "circles", "sampler": "ddpm", "steps": 100, "class_name": "inner ring", "guidance": 1.0,
      "seed": 3, "field": "all"}),
    ("swissroll · DDIM-10, η = 1, with the score field",
     {"model": "swissroll", "steps": 10, "eta": 1.0, "guidance": 0.0, "seed": 4, "field": "guided"}),
    ("emnist · DDIM-50 · 'A', w = 3",
     {"model": "emnist", "class_name": "A", "guidance": 3.0, "num_samples": 16, "seed": 5}),
    ("emnist · DDIM-25 · 'g', w = 1, with x̂₀",
     {"model": "emnist", "steps": 25, "class_name": "g", "guidance": 1.0, "num_samples": 16, "seed": 6,
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
