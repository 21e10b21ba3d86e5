"""diffusion_core/demo/frames.py: which steps become frames, GIF writing."""

import os
import time

import numpy as np
import pytest
from PIL import Image

from diffusion_core.demo.frames import (
    FrameSchedule,
    keyframe_indices,
    prune_folder,
    write_gif,
)


class FakeClock:
    def __init__(self, step_s: float):
        self.now, self.step_s = 0.0, step_s

    def __call__(self) -> float:
        return self.now

    def advance(self):
        self.now += self.step_s


def simulate(num_steps: int, step_s: float, **options) -> list[int]:
    """The steps a FrameSchedule picks when each step takes `step_s` seconds."""
    clock = FakeClock(step_s)
    schedule = FrameSchedule(num_steps, clock=clock, **options)
    frames = []
    for index in range(num_steps):
        clock.advance()
        if schedule.is_frame(index):
            frames.append(index)
    return frames


def test_keyframes_spread_evenly_and_include_first_and_last():
    frames = keyframe_indices(1000, 60)
    gaps = np.diff(frames)
    assert len(frames) == 60 and frames[0] == 0 and frames[-1] == 999
    assert gaps.min() >= 16 and gaps.max() <= 17


def test_keyframes_are_every_step_when_there_are_few_steps():
    assert keyframe_indices(7, 60) == list(range(7))
    assert keyframe_indices(1, 60) == [0]
    assert keyframe_indices(10, 1) == [9]


def test_keyframes_reject_empty_requests():
    with pytest.raises(ValueError, match="num_steps >= 1"):
        keyframe_indices(0, 60)


def test_fast_1000_step_run_shows_its_keyframes_and_a_few_timed_frames():
    frames = simulate(1000, 0.0005)  # 0.5 s in all
    assert set(keyframe_indices(1000)) <= set(frames)
    assert len(frames) <= 60 + 0.5 * 30 + 1


def test_slow_run_shows_a_frame_at_least_every_thirtieth_of_a_second():
    frames = simulate(1000, 0.01)  # 10 s in all
    times = np.array(frames) * 0.01
    assert np.diff(times).max() <= 1 / 30 + 0.01
    assert len(frames) <= 60 + 10 * 30 + 1


def test_instant_run_shows_exactly_its_keyframes():
    assert simulate(1000, 0.0) == keyframe_indices(1000)


def test_gif_has_every_picture_loops_and_holds_the_last(tmp_path):
    pictures = [Image.new("RGB", (20, 10), (40 * k, 0, 0)) for k in range(5)]
    path = write_gif(pictures, tmp_path / "run.gif", frame_ms=50, hold_ms=900)
    with Image.open(path) as gif:
        durations = []
        for k in range(gif.n_frames):
            gif.seek(k)
            durations.append(gif.info["duration"])
            assert gif.convert("RGB").getpixel((3, 3))[0] == pytest.approx(40 * k, abs=8)
        assert gif.n_frames == 5 and gif.info.get("loop") == 0
    assert durations == [50, 50, 50, 50, 900]


def test_gif_needs_a_picture(tmp_path):
    with pytest.raises(ValueError, match="at least one picture"):
        write_gif([], tmp_path / "empty.gif")


def test_prune_keeps_the_newest_files(tmp_path):
    for k in range(5):
        path = tmp_path / f"{k}.gif"
        path.write_bytes(b"x")
        os.utime(path, (time.time() + k, time.time() + k))
    prune_folder(tmp_path, keep=2)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["3.gif", "4.gif"]
