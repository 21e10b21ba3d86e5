"""What a run costs before it starts: one model's step time, measured once, and the bound per request.

A sampler step is one batched network call, whose time grows about linearly with its
rows: t(rows) ≈ fixed + per_row · rows. `measure_step_cost` times a few DDIM steps at
two batch sizes when a model is first served (on the device it runs on, so a GPU's
speed counts), and `run_seconds` turns a request into an estimate: network calls (the
steps, but Heun's two a step) × t(rows),
with rows = samples × (2 with classifier-free guidance) plus the learned field's grid
(21² points, twice with a class) at every step it is shown. A public server refuses a
request whose estimate passes `max_run_seconds()` (15 s unless the operator sets
DIFFUSION_MAX_RUN_SECONDS), so no visitor holds the CPU for minutes.
"""

from __future__ import annotations

import itertools
import math
import os
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass

import torch

from ..samplers import model_calls
from .field import GRID_SIZE

MAX_RUN_SECONDS = 15.0
MAX_RUN_SECONDS_ENV = "DIFFUSION_MAX_RUN_SECONDS"
PROBE_STEPS = 2
THREAD_PROBE_STEPS = 10  # per try of `best_threads`


@dataclass(frozen=True)
class StepCost:
    """Seconds of one sampler step of a model on `rows` rows: fixed + per_row · rows; with classifier
    guidance on `guided` samples, plus guide_fixed + guide_per_row · guided (its guide's forward and
    backward pass)."""

    fixed: float
    per_row: float
    guide_fixed: float = 0.0
    guide_per_row: float = 0.0

    def step_seconds(self, rows: int, guided: int = 0) -> float:
        guide = self.guide_fixed + self.guide_per_row * guided if guided else 0.0
        return self.fixed + self.per_row * rows + guide


def request_rows(num_samples: int, guided: bool, field: str, with_class: bool) -> int:
    """The network rows of one step: the samples (twice under guidance) and the field's grid when shown."""
    rows = num_samples * (2 if guided else 1)
    if field != "off":
        rows += GRID_SIZE**2 * (2 if with_class else 1)
    return rows


def steered_rows(num_samples: int, steered: bool, field: str) -> int:
    """The rows the guide's gradient is taken on each step under classifier guidance: the samples, and the
    field's grid when shown (its guided arrows include the push); 0 without classifier guidance."""
    if not steered:
        return 0
    return num_samples + (GRID_SIZE**2 if field != "off" else 0)


def run_seconds(cost: StepCost, steps: int, rows: int, guided: int = 0) -> float:
    """The estimated seconds of a lone run of `steps` steps on `rows` rows (`guided` of them steered by a
    classifier)."""
    return steps * cost.step_seconds(rows, guided)


def max_run_seconds(environ: Mapping[str, str] = os.environ) -> float:
    """The longest run a request may ask for: DIFFUSION_MAX_RUN_SECONDS, else MAX_RUN_SECONDS."""
    text = environ.get(MAX_RUN_SECONDS_ENV, "").strip()
    if not text:
        return MAX_RUN_SECONDS
    try:
        value = float(text)
    except ValueError:
        raise ValueError(f"{MAX_RUN_SECONDS_ENV} must be a number of seconds, got {text!r}") from None
    if not (math.isfinite(value) and value > 0):
        raise ValueError(f"{MAX_RUN_SECONDS_ENV} must be a positive number of seconds, got {text!r}")
    return value


def measure_step_cost(pipeline, small: int, large: int) -> StepCost:
    """Time PROBE_STEPS DDIM steps at `small` and `large` samples (the best of three tries each) and fit
    the line through them, and for a pipeline with a guide the same with classifier guidance, whose
    excess is the guide's line; the pipeline's own device and threads, as a lone run gets them."""

    def per_step(n: int, **options) -> float:
        best = float("inf")
        for _ in range(3):  # the first try pays for warming up
            start = time.perf_counter()
            steps = pipeline.trajectory(n, sampler="ddim", steps=PROBE_STEPS, seed=0, **options)
            for _step in itertools.islice(steps, PROBE_STEPS):
                pass
            best = min(best, (time.perf_counter() - start) / PROBE_STEPS)
        return best

    def line(t_small: float, t_large: float) -> tuple[float, float]:
        per_row = max(t_large - t_small, 0.0) / (large - small)
        return max(t_small - per_row * small, 0.0), per_row

    t_small, t_large = per_step(small), per_step(large)
    fixed, per_row = line(t_small, t_large)
    if getattr(pipeline, "guide", None) is None:
        return StepCost(fixed, per_row)
    guided = {"label": 0, "classifier_scale": 1.0, "conditional": False}
    guide_fixed, guide_per_row = line(max(per_step(small, **guided) - t_small, 0.0),
                                      max(per_step(large, **guided) - t_large, 0.0))
    return StepCost(fixed, per_row, guide_fixed, guide_per_row)


def best_threads(pipeline, rows: int, cores: int) -> int:
    """The thread count (1 or `cores`) at which a run's steps on `rows` samples go fastest, timed in a
    thread of its own as a run's sampling thread is: one only where it is clearly (10%) faster. Small
    networks lose at 2 threads there: OpenMP's hand-over between the threads costs more than the
    halved work of tiny matrix products. A model that fails the probe gets every core (its run will
    say what is wrong)."""
    if cores <= 1:
        return 1
    timings: dict[int, float] = {}

    def probe():
        try:
            for threads in (1, cores, 1, cores):  # twice each: the first of each pays for warming up
                torch.set_num_threads(threads)
                start = time.perf_counter()
                steps = pipeline.trajectory(rows, sampler="ddim", steps=THREAD_PROBE_STEPS, seed=0)
                for _step in itertools.islice(steps, THREAD_PROBE_STEPS):
                    pass
                timings[threads] = time.perf_counter() - start
        except Exception:  # noqa: BLE001 - no cap; serving the model reports the failure
            timings.clear()

    worker = threading.Thread(target=probe, name="thread-probe")
    worker.start()
    worker.join()
    if len(timings) < 2:
        return cores
    return 1 if timings[1] < 0.9 * timings[cores] else cores


def request_seconds(cache, request) -> float:
    """The estimated seconds of a validated request (a `SampleRequest`) on the model `cache` serves."""
    rows = request_rows(request.num_samples, request.guidance > 0, request.field, request.label is not None)
    served = cache.served(request.model)
    guided = steered_rows(request.num_samples, request.classifier_scale > 0, request.field)
    return run_seconds(served.cost, model_calls(request.sampler, request.steps, served.pipeline.schedule), rows,
                       guided)
