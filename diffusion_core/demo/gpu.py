"""Hugging Face ZeroGPU: where the `spaces` package imports, a run's function gets a GPU while it runs."""

from __future__ import annotations

from collections.abc import Callable


def on_gpu_when_available(fn: Callable) -> Callable:
    """`spaces.GPU(fn)` on a Hugging Face ZeroGPU Space (where `spaces` imports), `fn` unchanged elsewhere."""
    try:
        import spaces
    except ImportError:
        return fn
    return spaces.GPU(fn)
