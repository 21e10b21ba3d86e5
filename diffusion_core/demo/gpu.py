"""Hugging Face ZeroGPU: where the `spaces` package imports, a run's function gets a GPU while it runs.

On a ZeroGPU Space (SPACES_ZERO_GPU set) the process holds no GPU: `spaces`, imported
before torch (app.py does so first of all), emulates CUDA, and each call of a function
wrapped by `spaces.GPU` runs in a forked worker that holds a GPU for at most the
`duration` it asked for. So whatever a run must hand back (its stored keyframes for
scrubbing and the GIF) travels with its outputs, never through the worker's memory,
and nothing may run the models outside such a call (the step cost is not measured there).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping

ZERO_GPU_ENV = "SPACES_ZERO_GPU"
MAX_GPU_SECONDS = 120  # the longest GPU lease a run asks for


def on_zero_gpu(environ: Mapping[str, str] = os.environ) -> bool:
    """Whether this process is a ZeroGPU Space's (SPACES_ZERO_GPU=true)."""
    return environ.get(ZERO_GPU_ENV, "").strip().lower() in ("1", "t", "true")


def on_gpu_when_available(fn: Callable, duration: Callable | None = None) -> Callable:
    """`spaces.GPU(fn, duration=duration)` on a Hugging Face Space (where `spaces` imports), `fn` elsewhere.

    duration: called with fn's arguments, the seconds of GPU the call may hold (ZeroGPU's dynamic duration).
    """
    try:
        import spaces
    except ImportError:
        return fn
    return spaces.GPU(fn) if duration is None else spaces.GPU(fn, duration=duration)
