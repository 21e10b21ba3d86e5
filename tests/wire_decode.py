"""Python readers of the live canvas's wire format (diffusion_core/demo/wire.py), for the tests."""

import base64

import numpy as np

from diffusion_core.demo.wire import INT16_SPAN


def decode_points(encoded: str, limit: float) -> np.ndarray:
    """The inverse of `encode_points`, (N, 2) float32."""
    values = np.frombuffer(base64.b64decode(encoded), dtype="<i2").astype(np.float32)
    return values.reshape(-1, 2) * (INT16_SPAN * limit / 32767.0)


def decode_arrows(encoded: str) -> np.ndarray:
    """The inverse of `encode_arrows` up to scale: (N, 2) float32 in [-1, 1]."""
    return np.frombuffer(base64.b64decode(encoded), dtype=np.int8).reshape(-1, 2).astype(np.float32) / 127
