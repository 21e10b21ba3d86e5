"""Which sampler steps become frames, what a finished run keeps for scrubbing, and how a GIF is written.

A run can take 1 or 1000 steps in 0.05 s or 10 s; the viewer should see smooth motion
either way without the server sending one picture per step. `FrameSchedule` picks the
frames: evenly spaced keyframes (so a fast run still shows its whole story) plus one
frame every `frame_interval` seconds (so a slow run still moves); `live.run_sample`
sends them in batches at most every `SEND_INTERVAL_S`, so the number of messages
follows the clock, not the step count. The browser plays the frames it receives in order.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

MAX_KEYFRAMES = 60
FRAME_INTERVAL_S = 1 / 30
# Five messages a second: the canvas spreads each batch's frames over the gap between batches, so the
# motion is as smooth as at ten, and each message costs the server's event loop time on a core the
# sampler wants (16 visitors at once, bench/app_load: a tenth less server CPU than at ten a second).
SEND_INTERVAL_S = 1 / 5


def keyframe_indices(num_steps: int, max_frames: int = MAX_KEYFRAMES) -> list[int]:
    """At most `max_frames` step indices spread evenly over 0..num_steps-1, always with the last."""
    if num_steps < 1 or max_frames < 1:
        raise ValueError(f"need num_steps >= 1 and max_frames >= 1, got {num_steps} and {max_frames}")
    if max_frames == 1:
        return [num_steps - 1]
    return sorted({int(i) for i in np.linspace(0, num_steps - 1, min(num_steps, max_frames)).round()})


class FrameSchedule:
    """Decides, step by step, whether a step becomes a live frame: every keyframe, and a step
    whenever `frame_interval` seconds have passed since the last frame. Call `is_frame` for
    each step in order.
    """

    def __init__(
        self,
        num_steps: int,
        max_keyframes: int = MAX_KEYFRAMES,
        frame_interval: float = FRAME_INTERVAL_S,
        clock: Callable[[], float] = time.perf_counter,
    ):
        self.num_steps = num_steps
        self.keyframes = frozenset(keyframe_indices(num_steps, max_keyframes))
        self.frame_interval = frame_interval
        self.clock = clock
        self._last_frame = -float("inf")

    def is_keyframe(self, index: int) -> bool:
        return index in self.keyframes

    def is_frame(self, index: int) -> bool:
        now = self.clock()
        if index in self.keyframes or now - self._last_frame >= self.frame_interval:
            self._last_frame = now
            return True
        return False


@dataclass(frozen=True)
class StoredFrame:
    """One keyframe of a finished run: x is x_{t_prev} after step `index`, x0 the model's guess x̂0
    at t when the run showed it (float16 to halve the memory)."""

    index: int
    num_steps: int
    t: int
    x: np.ndarray
    x0: np.ndarray | None = None


@dataclass(frozen=True)
class StoredRun:
    """A finished run's keyframes and what is needed to redraw them: the model, the sampler and, for
    the learned field's arrows, the field mode, class and guidance (w, s) the run showed."""

    run_id: str
    model: str
    sampler: str
    frames: tuple[StoredFrame, ...]
    field: str = "off"
    label_index: int | None = None
    guidance: float = 0.0
    classifier_scale: float = 0.0  # classifier guidance's s (the field's arrows include it)
    conditional: bool = True  # whether the network saw the class (not under classifier guidance alone)


def write_gif(pictures: Sequence[Image.Image], path: Path, frame_ms: int = 70, hold_ms: int = 1500) -> Path:
    """An animated GIF that loops forever, each picture shown `frame_ms`, the last held `hold_ms`."""
    if not pictures:
        raise ValueError("a GIF needs at least one picture")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    durations = [frame_ms] * (len(pictures) - 1) + [hold_ms]
    # One palette shared by all frames, fitted to a strip of up to 8 of them, keeps colours
    # steady from frame to frame and is several times faster than one palette per frame.
    chosen = np.linspace(0, len(pictures) - 1, min(8, len(pictures))).astype(int)
    sampled = [pictures[k].convert("RGB") for k in chosen]
    strip = Image.new("RGB", (max(p.width for p in sampled), sum(p.height for p in sampled)))
    top = 0
    for picture in sampled:
        strip.paste(picture, (0, top))
        top += picture.height
    palette = strip.quantize(colors=128, method=Image.Quantize.MEDIANCUT)
    frames = [p.convert("RGB").quantize(palette=palette, dither=Image.Dither.NONE) for p in pictures]
    frames[0].save(path, save_all=True, append_images=frames[1:], duration=durations, loop=0, disposal=1)
    return path


def prune_folder(folder: Path, keep: int, pattern: str = "*.gif") -> None:
    """Delete all but the `keep` newest files matching `pattern` in `folder`."""
    dated = []
    for path in Path(folder).glob(pattern):
        try:
            dated.append((path.stat().st_mtime, path))
        except FileNotFoundError:  # pruned meanwhile by another run
            continue
    for _, old in sorted(dated, reverse=True)[keep:]:
        old.unlink(missing_ok=True)
