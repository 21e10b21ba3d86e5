"""The sampling side of a live run: its frames, the loop that samples and posts them, the mailbox between.

`sample_into` runs a trajectory (in a thread of the server, or in a worker process's main
thread, `workers`), turns the steps `frames.FrameSchedule` picks into canvas frames (`frame`,
with the learned field's arrows from `field_function`) and drops them in a `Mailbox`, from
which `next_batch` takes whatever has arrived for the streaming generator (`live.run_sample`).
"""

from __future__ import annotations

import functools
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import numpy as np

from . import plots
from .cache import ServedModel, _on_cpu
from .field import field_payload, grid_points, score_fields, shown_fields
from .frames import FrameSchedule, StoredFrame
from .gpu import on_zero_gpu
from .requests import SampleRequest
from .threads import CoreShare


@dataclass(frozen=True)
class Job:
    """One run for a worker: the model (by its folder), the trajectory and what its frames show."""

    name: str
    folder: str
    options: dict  # Pipeline.trajectory's keyword arguments, n included
    num_steps: int
    show_x0: bool
    field: str
    label_index: int | None
    guidance: float
    classifier_scale: float
    conditional: bool
    sampler: str
    judge_folder: str | None = None  # the classifier the quality meter reads characters with


def canvas_frame(
    served: ServedModel,
    sampler: str,
    field_at: Callable[[int], dict | None] | None,
    index,
    num_steps,
    t,
    x,
    x0=None,
) -> dict:
    title = plots.step_title(sampler, index, num_steps, t)
    progress = (index + 1) / num_steps
    if served.info.kind == "images":
        return plots.images_frame(x, title, progress, index, num_steps, t, x0)
    arrows = field_at(t) if field_at is not None else None
    return plots.points_frame(x, served.view_limit, title, progress, index, num_steps, t, x0, arrows)


def field_function(served: ServedModel, mode: str, label_index: int | None, guidance: float, encode: bool = True,
                    classifier_scale: float = 0.0, conditional: bool = True):
    """`t -> field` for a 2D model with the field on (the arrows at timestep t), else None: the frame's
    encoded payload, or with `encode=False` the score vectors by name (for the GIF). With classifier
    guidance the guided arrows add s ∇ log p(y | x_t) of the model's guide."""
    if mode == "off" or served.info.kind != "points":
        return None
    pipeline = served.pipeline
    points = grid_points(served.view_limit)
    guide = getattr(pipeline, "guide", None) if classifier_scale > 0 else None

    def field_at(t: int) -> dict | None:
        fields = score_fields(pipeline.model, pipeline.schedule, pipeline.prediction, points, t, label_index, guidance,
                              guide, classifier_scale, conditional)
        return field_payload(fields, mode) if encode else shown_fields(fields, mode)

    return field_at


@dataclass(eq=False)
class Mailbox:
    """Frames handed from the sampling thread to the streaming generator, under `lock`."""

    lock: threading.Condition = field(default_factory=threading.Condition)
    frames: list[dict] = field(default_factory=list)
    keyframes: list[StoredFrame] = field(default_factory=list)
    samples: np.ndarray | None = None
    error: BaseException | None = None
    done: bool = False
    finished_at: float = 0.0
    calls: int = 0  # network evaluations so far (NFE; CFG's batched pair counts once)
    stop: threading.Event = field(default_factory=threading.Event)
    quality: dict | None = None  # the quality meter, where a worker measured it (`quality_known`)
    quality_known: bool = False


def sample_into(
    mailbox: Mailbox,
    steps: Iterator,
    schedule: FrameSchedule,
    make_frame: Callable,
    with_x0: bool,
    share: CoreShare,
    max_threads: int | None = None,
) -> None:
    """The sampling thread, counted in `share`: run the sampler, post each chosen step's frame and
    keep the keyframes; an error goes to the mailbox, which the streaming generator re-raises."""
    try:
        with share.run(max_threads):
            for last in steps:
                if mailbox.stop.is_set():
                    return
                share.sync()  # another run may have started or ended: take this run's share of the cores
                mailbox.calls = last.calls
                keyframe = schedule.is_keyframe(last.index)
                if not schedule.is_frame(last.index) and not keyframe:
                    continue
                x = last.x.detach().float().cpu().numpy()
                x0 = last.x0.detach().float().cpu().numpy() if with_x0 else None
                frame = make_frame(last.index, last.num_steps, last.t, x, x0)
                with mailbox.lock:
                    if keyframe:
                        mailbox.keyframes.append(StoredFrame(
                            last.index, last.num_steps, last.t, x.astype(np.float16),
                            None if x0 is None else x0.astype(np.float16),
                        ))
                    waiting = not mailbox.frames  # `next_batch` waits for a first frame, then for the end
                    mailbox.frames.append(frame)
                    if last.index == last.num_steps - 1:
                        # The last frame and "done" arrive together, so the final message carries it.
                        mailbox.samples, mailbox.done, mailbox.finished_at = x, True, time.perf_counter()
                    if waiting or mailbox.done:  # no wake-up per step for a reader that only waits for the end
                        mailbox.lock.notify()
    except BaseException as error:  # noqa: BLE001 - handed to the generator, which re-raises it
        mailbox.error = error
    finally:
        with mailbox.lock:
            if not mailbox.done:
                mailbox.done, mailbox.finished_at = True, time.perf_counter()
            mailbox.lock.notify()


def new_mailbox(stop=None) -> Mailbox:
    """A run's mailbox; `stop`: the Event that stops it (a worker's, set from the server), else its own."""
    return Mailbox() if stop is None else Mailbox(stop=stop)


def sample_job(job: Job, served: ServedModel, mailbox: Mailbox, share: CoreShare) -> None:
    """Run `job` on `served` in the calling thread, its frames built as a served run's are: a worker's
    main loop (`workers`)."""
    steps = served.pipeline.trajectory(**job.options)
    field_at = field_function(served, job.field, job.label_index, job.guidance,
                               classifier_scale=job.classifier_scale, conditional=job.conditional)
    make_frame = functools.partial(canvas_frame, served, job.sampler, field_at)
    sample_into(mailbox, steps, FrameSchedule(job.num_steps), make_frame, job.show_x0, share)


def worker_job(request: SampleRequest, served: ServedModel, schedule, judge_folder=None) -> Job | None:
    """The run as a worker's job, or None where a worker cannot run it (see `workers`)."""
    if served.folder is None or schedule is not FrameSchedule or on_zero_gpu() or not _on_cpu(served.pipeline):
        return None
    return Job(request.model, str(served.folder), {"n": request.num_samples, **request.sampler_options()},
               request.steps, request.show_x0, request.field, request.label_index, request.guidance,
               request.classifier_scale, request.guidance_kind != "classifier", request.sampler,
               None if judge_folder is None else str(judge_folder))


def next_batch(mailbox: Mailbox, not_before: float) -> tuple[list[dict], bool]:
    """Wait for frames (and until `not_before`, unless sampling ends first); take them all."""
    with mailbox.lock:
        mailbox.lock.wait_for(lambda: mailbox.frames or mailbox.done)
        delay = not_before - time.perf_counter()
        if delay > 0 and not mailbox.done:
            mailbox.lock.wait_for(lambda: mailbox.done, timeout=delay)
        batch, mailbox.frames = mailbox.frames, []
        return batch, mailbox.done
