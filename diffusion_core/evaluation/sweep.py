"""The steps sweep both evaluations run: every sampler at a few step counts, named alike, with its NFE.

The DDIM paper's Table 1 in miniature, widened to the solvers: quality against network calls
(NFE) for DDIM η = 0 and η = 1, DPM-Solver++(2M), Heun and Euler ancestral at each step count,
and DDPM over all T as the reference. A run's name is "<sampler>, <k> steps", which
`demo.tables.steps_sweep_figure` reads back.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..samplers import model_calls
from ..schedules import NoiseSchedule

SWEEP_STEPS = (10, 20, 50)
# (name, sampler, η) of each line of the sweep.
SWEEP_SAMPLERS = (
    ("DDIM eta=0", "ddim", 0.0),
    ("DDIM eta=1", "ddim", 1.0),
    ("DPM-Solver++(2M)", "dpmpp_2m", 0.0),
    ("Heun", "heun", 0.0),
    ("Euler ancestral", "euler_ancestral", 0.0),
)
LINE_SAMPLERS = {name: sampler for name, sampler, _ in SWEEP_SAMPLERS}


@dataclass(frozen=True)
class SweepRun:
    name: str
    sampler: str
    steps: int | None  # None: every one of the schedule's T steps
    eta: float
    calls: int


def sweep_runs(schedule: NoiseSchedule, steps: tuple[int, ...] = SWEEP_STEPS,
               samplers: tuple = SWEEP_SAMPLERS) -> list[SweepRun]:
    """The sweep's runs, DDPM over all T last."""
    runs = [SweepRun(f"{name}, {k} steps", sampler, k, eta, model_calls(sampler, k, schedule))
            for name, sampler, eta in samplers for k in steps]
    every = schedule.num_train_steps
    return runs + [SweepRun(f"DDPM, {every} steps", "ddpm", None, 0.0, every)]
