"""One streamed run of the demo: sample elsewhere, hand thinned frames to the streaming generator.

`run_sample` hands the run to a sampling worker process (`workers`: its main thread, where
both cores pay) or, where none can take it, to a thread of its own (`sampling.sample_into`);
either turns the steps chosen by `frames.FrameSchedule` into compact canvas frames and drops
them in a mailbox. The
generator the app iterates collects whatever has arrived and yields it as one
`LiveFrames` message, at most every `SEND_INTERVAL_S`; so the sampler never waits
for the web server or the browser, and a slow consumer gets fewer, larger batches.
The run ends with one `RunResult`: the final picture, the JSON summary, and the
stored keyframes (a `StoredRun`) for scrubbing and the GIF, which the app keeps in
the visitor's own session state: no visitor sees another's run, and on a ZeroGPU
Space, where the run happens in a forked worker, the run travels back with the outputs.
"""

from __future__ import annotations

import functools
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from ..evaluation.judge import JUDGE_NAME
from ..evaluation.pictures import image_grid
from . import plots
from .cache import ModelCache, ModelInfo, ServedModel, _on_cpu
from .frames import (
    SEND_INTERVAL_S,
    FrameSchedule,
    StoredRun,
    prune_folder,
    write_gif,
)
from .gpu import on_zero_gpu
from .server import SAMPLE_CONCURRENCY
from .quality import quality_figures
from .sampling import Mailbox, canvas_frame, field_function, next_batch, sample_into, worker_job
from .requests import UNCONDITIONAL, RequestError, SampleRequest, number
from .threads import SHARE, CoreShare
from .workers import SamplerWorkers, workers_wanted
from .wire import frame_message

# The GIFs and final image grids the app hands out; the app serves this folder as is (gr.set_static_paths),
# so Gradio's cache gains no copy per run, and keeps the newest KEEP_RESULTS of each kind.
RESULTS_FOLDER = Path(tempfile.gettempdir()) / "diffusion-demo-results"
KEEP_RESULTS = 64
FINAL_GRID_PIXELS = 480  # the final image grid is enlarged (nearest) to about this size
# The server's sampling workers (`workers`), one per core unless DIFFUSION_SAMPLE_WORKERS says otherwise.
WORKERS = SamplerWorkers(SHARE.counter, SHARE.cores)


def start_workers(cache: ModelCache) -> None:
    """Start the sampling workers, each loading the cache's models from their folders (ValueError for a
    bad DIFFUSION_SAMPLE_WORKERS)."""
    if on_zero_gpu():  # every run is a GPU call in a forked process there
        return
    loaded = [name for name in cache.names() if cache.loaded(name)]
    if any(not _on_cpu(cache.served(name).pipeline) for name in loaded):
        return  # a GPU: its runs sample in the server, so a worker would take none of them
    models = [(name, str(cache.folder(name))) for name in loaded if cache.folder(name) is not None]
    # "auto": one per core, but no more than can be busy at once (the queue runs SAMPLE_CONCURRENCY).
    WORKERS.start(workers_wanted(cores=min(SHARE.cores, SAMPLE_CONCURRENCY)), models)


@dataclass(frozen=True)
class LiveFrames:
    """A batch of live frames for the canvas (JSON, see `plots.frame_message`) and where the run is."""

    message: str
    frames: int
    progress: dict  # {"status": "sampling", "step": k, "num_steps": n, "t": t, "elapsed_s": s}


@dataclass(frozen=True)
class RunResult:
    """The end of a run: the final canvas message, the final picture and the JSON summary."""

    run: StoredRun
    info: ModelInfo
    samples: np.ndarray
    message: str
    figure: object | None  # gr.Plot's value (plots.plot_value) for 2D models
    grid: np.ndarray | None  # uint8 grey image grid for image models
    summary: dict
    keyframes: int

    @property
    def run_id(self) -> str:
        return self.run.run_id


def data_background(served: ServedModel, label_index: int | None) -> dict | None:
    """The canvas's faint data picture for a model and class (None without one)."""
    picture = served.picture
    if picture is None:
        return None
    key = f"{served.info.name}:{-1 if label_index is None else label_index}"
    return plots.background(picture.data, picture.labels, picture.limit, key, label_index)


def _run_message(frames: list[dict], first: bool, background: dict | None, final: bool = False) -> str:
    """A run's first message replaces the canvas's queue and sets its background; later ones append."""
    if first:
        return frame_message(frames, mode="replace", final=final, background=background)
    return frame_message(frames, mode="append", final=final)


def intro_message(cache: ModelCache, name: str, class_name: str = UNCONDITIONAL) -> str:
    """The canvas before any run: the model's data picture (2D) and a prompt to press Run."""
    served = cache.served(name)
    info = served.info
    label_index = info.class_names.index(class_name) if class_name in info.class_names else None
    if info.kind == "points":
        frame = {"kind": "blank",
                 "title": f"{name}: the training data, faint. Press Run to watch the noise turn into samples."}
    else:
        # What a run starts from: as many tiles of pure noise x_T as a run draws by default.
        noise = np.random.default_rng(0).standard_normal((info.default_samples, *info.sample_shape))
        title = (f"{name}: {info.default_samples} tiles of pure noise x_T, where a run starts. "
                 "Press Run to watch them become characters.")
        frame = plots.images_frame(np.clip(noise, -1.0, 1.0), title, 0.0, 0, 1, info.num_train_steps - 1)
    return frame_message([frame], mode="replace", background=data_background(served, label_index))


def run_sample(
    request: SampleRequest,
    cache: ModelCache,
    schedule: Callable[[int], FrameSchedule] = FrameSchedule,
    send_interval: float = SEND_INTERVAL_S,
    share: CoreShare = SHARE,
) -> Iterator[LiveFrames | RunResult]:
    """Sample `request`, yielding `LiveFrames` while the sampler runs and a `RunResult` last.

    Closing the generator early (the Stop button, a client that goes away) stops the
    sampling thread at its next step.
    """
    start = time.perf_counter()
    served = cache.served(request.model)
    steps = served.pipeline.trajectory(request.num_samples, **request.sampler_options())
    background = data_background(served, request.label_index)
    field_at = field_function(served, request.field, request.label_index, request.guidance,
                              classifier_scale=request.classifier_scale, conditional=request.guidance_kind != "classifier")
    make_frame = functools.partial(canvas_frame, served, request.sampler, field_at)
    mailbox = Mailbox()
    job = worker_job(request, served, schedule, cache.root / JUDGE_NAME)
    if job is None or share is not SHARE or not WORKERS.submit(job, mailbox):
        thread = threading.Thread(
            target=sample_into,
            args=(mailbox, steps, schedule(request.steps), make_frame, request.show_x0, share, served.threads),
            daemon=True,
            name=f"sample-{request.model}",
        )
        thread.start()
    counts = _Counts()
    try:
        while True:
            batch, done = next_batch(mailbox, counts.last_send + send_interval)
            if done:
                break
            counts.sent(len(batch), start)
            latest = batch[-1]
            progress = {"status": "sampling", "step": latest["index"] + 1, "num_steps": latest["num_steps"],
                        "t": latest["t"], "elapsed_s": round(counts.last_send - start, 2)}
            yield LiveFrames(_run_message(batch, counts.messages == 1, background), len(batch), progress)
    finally:
        mailbox.stop.set()
    if mailbox.error is not None:
        raise mailbox.error
    final_message = _run_message(batch, counts.messages == 0, background, final=True)
    counts.frames, counts.messages = counts.frames + len(batch), counts.messages + 1
    run = StoredRun(uuid.uuid4().hex, request.model, request.sampler, tuple(mailbox.keyframes), request.field,
                    request.label_index, request.guidance, request.classifier_scale,
                    request.guidance_kind != "classifier")
    yield _result(request, served, mailbox, final_message, run, start, counts, cache.root / JUDGE_NAME)


@dataclass
class _Counts:
    """What a run has streamed so far: frames, messages, when it sent the last and the first."""

    frames: int = 0
    messages: int = 0
    last_send: float = -float("inf")
    first_frame_s: float | None = None

    def sent(self, frames: int, start: float) -> None:
        self.last_send = time.perf_counter()
        if self.first_frame_s is None:
            self.first_frame_s = self.last_send - start
        self.frames, self.messages = self.frames + frames, self.messages + 1


def _final_picture(request: SampleRequest, served: ServedModel, samples: np.ndarray) -> tuple[object, object]:
    """(gr.Plot's value, None) for a 2D run, (None, enlarged grey grid) for an image run."""
    if served.info.kind != "points":
        return None, plots.enlarged(image_grid(samples), FINAL_GRID_PIXELS)
    title = f"{request.model} · {request.setting()} · {request.class_name}"
    picture = served.picture
    data = picture.data if picture is not None else np.zeros((0, 2), np.float32)
    labels = picture.labels if picture is not None else np.zeros(0, np.int64)
    figure = plots.points_figure(samples, data, labels, served.info.class_names, served.view_limit, title)
    return plots.plot_value(figure), None


def _result(
    request: SampleRequest,
    served: ServedModel,
    mailbox: Mailbox,
    final_message: str,
    run: StoredRun,
    start: float,
    counts: _Counts,
    judge_folder: Path,
) -> RunResult:
    """The end of a run: its final picture, quality meter and JSON summary."""
    info, samples = served.info, mailbox.samples
    figure, grid = _final_picture(request, served, samples)
    sampling_s = mailbox.finished_at - start
    summary = {
        "model": request.model,
        "sampler": request.sampler,
        "steps": request.steps,
        "model_calls": mailbox.calls,
        "eta": request.eta,
        "class": request.class_name,
        "guidance": request.guidance,
        "guidance_kind": request.guidance_kind,
        "classifier_scale": request.classifier_scale,
        "variance": request.variance,
        "num_samples": request.num_samples,
        "seed": request.seed,
        "show_x0": request.show_x0,
        "field": request.field,
        "sample_shape": [request.num_samples, *info.sample_shape],
        "elapsed_s": round(time.perf_counter() - start, 4),
        "sampling_s": round(sampling_s, 4),
        "first_frame_s": round(counts.first_frame_s if counts.first_frame_s is not None else sampling_s, 4),
        "frames_sent": counts.frames,
        "messages_sent": counts.messages,
        "quality": (mailbox.quality if mailbox.quality_known
                    else quality_figures(info, request.label_index, samples, judge_folder)),
        "run_id": run.run_id,
    }
    return RunResult(run, info, samples, final_message, figure, grid, summary, len(mailbox.keyframes))


def _stored_run(run) -> StoredRun:
    if not isinstance(run, StoredRun):
        raise RequestError("no stored trajectory for this session (runs are kept for a while); press Run again")
    return run


def scrub_message(cache: ModelCache, run: StoredRun | None, position) -> str:
    """The canvas message showing keyframe `position` of a stored run (replacing whatever plays)."""
    run = _stored_run(run)
    frame = run.frames[number(position, "frame", 0, len(run.frames) - 1, whole=True)]
    x = frame.x.astype(np.float32)
    x0 = None if frame.x0 is None else frame.x0.astype(np.float32)
    served = cache.served(run.model)
    field_at = field_function(served, run.field, run.label_index, run.guidance,
                              classifier_scale=run.classifier_scale, conditional=run.conditional)
    payload = canvas_frame(served, run.sampler, field_at, frame.index, frame.num_steps, frame.t, x, x0)
    return frame_message([payload], mode="replace", final=True)


def trajectory_gif(cache: ModelCache, run: StoredRun | None, folder: Path = RESULTS_FOLDER) -> Path:
    """Write the stored run's keyframes as an animated GIF and return its path (keeps the newest KEEP_RESULTS)."""
    run = _stored_run(run)
    served = cache.served(run.model)
    pictures = []
    if served.info.kind == "points":
        backdrop = plots.backdrop(served.picture, served.view_limit)
        field_at = field_function(served, run.field, run.label_index, run.guidance, encode=False,
                                  classifier_scale=run.classifier_scale, conditional=run.conditional)
        for frame in run.frames:
            raster = backdrop if field_at is None else plots.arrows_raster(backdrop, field_at(frame.t))
            raster = plots.points_raster(frame.x.astype(np.float32), served.view_limit, raster)
            if frame.x0 is not None:  # the guess x̂0 was on: it is in the GIF too, in the canvas's crimson
                raster = plots.points_raster(frame.x0.astype(np.float32), served.view_limit, raster,
                                             color=plots.GUESS_COLOR)
            pictures.append(plots.captioned(raster, plots.step_title(run.sampler, frame.index, frame.num_steps, frame.t)))
    else:
        for frame in run.frames:
            grid = image_grid(frame.x.astype(np.float32))
            if frame.x0 is not None:  # x_t on the left, the guess x̂0 on the right, as on the canvas
                grid = np.concatenate([grid, np.zeros((grid.shape[0], 6), np.uint8), image_grid(frame.x0)], axis=1)
            pictures.append(plots.captioned(plots.enlarged(grid, 360),
                                            plots.step_title(run.sampler, frame.index, frame.num_steps, frame.t)))
    path = write_gif(pictures, Path(folder) / f"trajectory-{run.model}-{run.run_id}.gif")
    prune_folder(folder, keep=KEEP_RESULTS)
    return path


def grid_png(grid: np.ndarray, run_id: str, folder: Path = RESULTS_FOLDER) -> Path:
    """Write a final image grid (H, W) uint8 as a PNG in `folder` and return its path (keeps the newest KEEP_RESULTS)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"characters-{run_id}.png"
    Image.fromarray(grid).save(path)
    prune_folder(folder, keep=KEEP_RESULTS, pattern="*.png")
    return path
