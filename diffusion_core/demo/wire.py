"""The live canvas's wire format: what the server sends and `assets/live_canvas.js` reads.

The canvas's value is one JSON message (`frame_message`):
    {"mode": "replace" | "append", "final": bool, "frames": [frame, ...], "background"?: picture | null}
"replace" drops whatever the canvas still has queued (a new run, a scrub), "append"
queues after it; "final" marks the run's last message. A "background" key sets the
faint data picture (a `plots.background` dict, cached in the browser by its "key"),
null clears it, and no key keeps the current one.

Each frame has a "kind": "blank" (a title only), "points" or "images", with "title",
"progress" in [0, 1], "index", "num_steps" and "t". Binary arrays travel as base64:
- points ("xy", and the guess "x0"): little-endian int16 pairs, q = x · 32767 / (2·limit),
  so the view [-limit, limit] is half the range and points just outside it are clipped
  by the canvas rather than piled on its edge;
- images ("pixels", "x0_pixels"): one uint8 grey grid, "height" × "width", row by row;
- the learned field ("field": {"size": n, "guided"?, "conditional"?, "unconditional"?}):
  n × n int8 pairs per field, each the direction with length √(|v| / max|v|) · 127, so
  lengths are relative within one field and short arrows stay visible beside long ones.
"""

from __future__ import annotations

import base64
import json

import numpy as np
import torch

INT16_SPAN = 2.0  # int16 coordinates span ±INT16_SPAN · limit
KEEP_BACKGROUND = "keep"


def b64(array: np.ndarray) -> str:
    """An array's bytes as base64 text."""
    return base64.b64encode(np.ascontiguousarray(array).tobytes()).decode("ascii")


def encode_points(x: np.ndarray, limit: float) -> str:
    """x: (N, 2) → base64 of little-endian int16 pairs, 32767 ↔ 2·limit."""
    scale = 32767.0 / (INT16_SPAN * limit)
    quantized = np.clip(np.rint(np.asarray(x, dtype=np.float32) * scale), -32767, 32767)
    return b64(quantized.astype("<i2"))


def relative_arrows(vectors: torch.Tensor) -> torch.Tensor:
    """Vectors (N, 2) as arrows of length √(|v| / max|v|) ≤ 1 in their own directions (all zero when
    the field is zero or not finite).

    The square root keeps short arrows visible beside long ones; lengths are relative
    within one field, so the picture shows where the field is strong, not its units.
    """
    vectors = vectors.double()
    norms = vectors.norm(dim=1, keepdim=True)
    largest = float(norms.max()) if len(norms) else 0.0
    if not largest > 0 or not np.isfinite(largest):
        return torch.zeros_like(vectors)
    return vectors / norms.clamp(min=1e-30) * (norms / largest).sqrt()


def encode_arrows(vectors: torch.Tensor) -> str:
    """Vectors (N, 2) as base64 int8 pairs: `relative_arrows` · 127."""
    quantized = torch.clamp(torch.round(relative_arrows(vectors) * 127), -127, 127).to(torch.int8).numpy()
    return base64.b64encode(quantized.tobytes()).decode("ascii")


def frame_message(
    frames: list[dict],
    mode: str = "append",
    final: bool = False,
    background: dict | None | str = KEEP_BACKGROUND,
) -> str:
    """The live canvas's value: a batch of frames to play in order.

    mode "replace" drops whatever the canvas still has queued (a new run, a scrub),
    "append" queues after it. `background`: a `background(...)` dict sets the faint
    data picture, None clears it, KEEP_BACKGROUND leaves the current one.
    """
    message = {"mode": mode, "final": final, "frames": frames}
    if not isinstance(background, str):
        message["background"] = background
    return json.dumps(message, separators=(",", ":"))
