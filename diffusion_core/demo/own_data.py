"""'Your own data': draw strokes, type a word or paste x,y rows, train a 2D model on it, and sample it.

The visitor's points become a `data.custom.PointSet`; `weights.own_model.train_own_model`
trains the shipped 2D network on it for about half a minute, streaming the loss, and the
model joins the model list of that visitor's page alone (`ModelCache.add_private`): every
view (the live run, x̂0, the field, the comparison, the quality meter against the drawn
points) then works on it as on a shipped model. One training per visitor and one on the
server at a time (the queue says when others wait); the model is dropped an hour later or
when the page closes, and can be downloaded first as a checkpoint folder (zip) that
`load_pipeline` and `train_toy.py eval` accept.
"""

from __future__ import annotations

import os
import shutil
import threading
import uuid
from pathlib import Path

import gradio as gr
import numpy as np
import plotly.graph_objects as go
from PIL import Image

from ..data.custom import PointSet, PointSetError, from_csv, from_strokes, from_word
from ..weights.own_model import OwnProgress, own_checkpoint, pipeline_from, train_for_transfer
from . import plots
from .cache import ModelCache, model_label
from .errors import user_errors
from .frames import prune_folder
from .gpu import on_gpu_when_available
from .live import RESULTS_FOLDER
from .requests import RequestError, session_of
from .threads import SHARE

ASSETS = Path(__file__).resolve().parents[2] / "assets"
SOURCES = {"drawing": "the drawing", "word": "the word", "csv": "the pasted rows"}
SECONDS_ENV = "DIFFUSION_OWN_TRAIN_SECONDS"  # the training budget (default 30 s)
KEEP_DOWNLOADS = 16
CANVAS_HTML = """
<div class="own-tools" role="toolbar" aria-label="drawing tools">
  <button type="button" data-class="0" aria-pressed="true"><span class="swatch" style="background:#E69F00"></span>orange</button>
  <button type="button" data-class="1" aria-pressed="false"><span class="swatch" style="background:#009E73"></span>green</button>
  <button type="button" data-class="2" aria-pressed="false"><span class="swatch" style="background:#CC79A7"></span>pink</button>
  <button type="button" class="own-undo">Undo</button>
  <button type="button" class="own-clear">Clear</button>
  <span class="own-count">empty</span>
</div>
<canvas class="own-canvas" width="480" height="480" role="img" aria-label="drawing canvas, 0 strokes drawn"></canvas>
"""


def train_seconds(environ=os.environ) -> float:
    try:
        return max(1.0, min(120.0, float(environ.get(SECONDS_ENV, 30))))
    except ValueError:
        return 30.0


GPU_TRAINING = on_gpu_when_available(train_for_transfer, duration=lambda *args, **kwargs: 20 + 2 * train_seconds())


def point_set_from(source, strokes, word, rows) -> PointSet:
    """The point set the visitor chose to train on, or RequestError saying what is wrong with it."""
    try:
        if source == "drawing":
            return from_strokes(strokes if isinstance(strokes, str) else "")
        if source == "word":
            return from_word(word)
        if source == "csv":
            return from_csv(rows)
    except PointSetError as error:
        raise RequestError(f"{SOURCES[source]}: {error}") from None
    raise RequestError(f"train on one of {', '.join(SOURCES)}, got {source!r}")


def loss_figure(progress: OwnProgress) -> go.Figure:
    """The training loss so far (means of 20 steps) against the step, on a log axis."""
    losses = np.asarray(progress.losses)
    window = 20
    means = losses[: len(losses) // window * window].reshape(-1, window).mean(axis=1) if len(losses) >= window else losses
    steps = np.arange(1, len(means) + 1) * (window if len(losses) >= window else 1)
    figure = go.Figure(go.Scatter(x=steps, y=means, mode="lines", line={"color": plots.SAMPLE_COLOR}, name="loss"))
    figure.update_layout(title={"text": f"training loss: step {progress.step} after {progress.seconds:.0f} s "
                                        f"(budget {progress.budget:.0f} s)", "font": {"size": 13}},
                         height=260, margin={"l": 50, "r": 10, "t": 40, "b": 40}, showlegend=False,
                         plot_bgcolor=plots.PAPER, paper_bgcolor=plots.PAPER)
    figure.update_yaxes(type="log", gridcolor="#eceff4")
    figure.update_xaxes(title_text="step", gridcolor="#eceff4")
    return figure


class OwnDataHandlers:
    """Training a visitor's model and keeping it theirs (a mixin of `handlers.Handlers`)."""

    cache: ModelCache
    _stops: dict[str, threading.Event]
    _training: set[str]  # the sessions training now
    _training_lock: threading.Lock

    @user_errors
    def train_own(self, source, strokes, word, rows, request: gr.Request = None):
        """Train on the chosen data; streams (loss chart, words, model list, download) as it goes."""
        session = session_of(request)
        if not session:
            raise RequestError("training needs a session: open the page, or use gradio_client")
        point_set = point_set_from(source, strokes, word, rows)
        training, lock = self._training, self._training_lock
        with lock:
            if session in training:
                raise RequestError("a training of yours is already running; wait for it or press Stop")
            training.add(session)
        try:
            yield from self._train(point_set, source, session, self._session_stop(request, "train"))
        finally:
            with lock:
                training.discard(session)

    def _train(self, point_set: PointSet, source: str, session: str, stop: threading.Event):
        name = f"yours-{uuid.uuid4().hex[:10]}"
        budget = train_seconds()
        with SHARE.run():
            # On a ZeroGPU Space the training runs in a GPU call, in another process: the model comes
            # back as its config and weights and is served from here.
            for item in GPU_TRAINING(point_set, name, budget, stop):
                SHARE.sync()
                if isinstance(item, OwnProgress):
                    words = f"Training on {SOURCES[source]} ({len(point_set.points)} points): step {item.step}."
                    yield loss_figure(item), words, gr.skip(), gr.skip()
                    last = item
                else:
                    pipeline = pipeline_from(*item, point_set)
        self.cache.drop_private(session)  # a visitor keeps their latest model only
        self.cache.add_private(name, session, pipeline)
        zipped = self._download(pipeline, point_set, name, source)
        choices = [(model_label(n), n) for n in self.cache.names()] + [(f"Your data ({SOURCES[source]})", name)]
        stopped = "Stopped" if stop.is_set() else "Trained"
        words = (f"**{stopped}** after {last.step} steps in {last.seconds:.0f} s. Your model is chosen in the "
                 f"model list above as *Your data*: press **Run** to watch noise turn into {SOURCES[source]}. "
                 "It is yours alone and is dropped when you close the page (download it to keep it).")
        yield loss_figure(last), words, gr.update(choices=choices, value=name), gr.update(value=str(zipped),
                                                                                           visible=True)

    def _download(self, pipeline, point_set: PointSet, name: str, source: str) -> Path:
        folder = RESULTS_FOLDER / "own" / name
        picture = plots.background_raster(point_set.points.numpy(), point_set.labels.numpy(), 2.6)
        card = (f"# {name}: a 2D diffusion model of your own data\n\nTrained in the app on {SOURCES[source]} "
                f"({len(point_set.points)} points, classes: {', '.join(point_set.class_names)}), with the FiLM MLP "
                "of the shipped 2D models. Load it with `diffusion_core.load_pipeline(path)`; evaluate it with "
                "`python train_toy.py eval path` (its data is `points.csv`).\n\n![the data](data.png)\n")
        own_checkpoint(pipeline, point_set, folder, card)
        Image.fromarray(picture).save(folder / "data.png")
        archive = shutil.make_archive(str(RESULTS_FOLDER / name), "zip", folder.parent, name)
        shutil.rmtree(folder, ignore_errors=True)
        prune_folder(RESULTS_FOLDER, keep=KEEP_DOWNLOADS, pattern="yours-*.zip")
        return Path(archive)

    def stop_training(self, request: gr.Request = None) -> None:
        """Stop this session's training after the chunk in progress (its model so far is kept)."""
        self._session_stop(request, "train", clear=False).set()

    def forget_own(self, session: str | None) -> None:
        """A closed page: its models and their data go."""
        self.cache.drop_private(session)


def layout() -> dict:
    """The folded 'Your own data' panel: the drawing canvas, a word, pasted rows, Train and Stop."""
    ui = {}
    with gr.Accordion("Your own data: draw a shape, type a word or paste points, and train a model on it",
                      open=False, elem_id="own-data"):
        gr.Markdown("Draw on the canvas (pick a colour for each class: guidance then works on your drawing), "
                    "or type a word, or paste rows of `x,y` or `x,y,label`; then **Train**. About half a minute "
                    "later your model joins the model list above, for you alone.")
        with gr.Row(equal_height=False):
            with gr.Column(scale=3, min_width=300):
                gr.HTML(html_template=CANVAS_HTML, css_template=(ASSETS / "draw_canvas.css").read_text(),
                        js_on_load=(ASSETS / "draw_canvas.js").read_text(), elem_id="own-canvas", padding=False)
                ui["own_strokes"] = gr.Textbox(elem_id="own-strokes", elem_classes=["own-hidden"], show_label=False,
                                               container=False, max_lines=1)
            with gr.Column(scale=2, min_width=260):
                ui["own_source"] = gr.Radio([("the drawing", "drawing"), ("the word", "word"),
                                             ("the pasted rows", "csv")], value="drawing", label="Train on",
                                            elem_id="own-source")
                ui["own_word"] = gr.Textbox(label="A word", placeholder="e.g. diffusion", max_length=16,
                                            elem_id="own-word")
                ui["own_rows"] = gr.Textbox(label="Rows of x,y or x,y,label", lines=3, placeholder="0.5,1.2,0",
                                            elem_id="own-rows")
                with gr.Row():
                    ui["own_train"] = gr.Button("Train", variant="primary", elem_id="own-train")
                    ui["own_stop"] = gr.Button("Stop", variant="stop", elem_id="own-stop")
                ui["own_words"] = gr.Markdown(elem_id="own-words")
                ui["own_loss"] = gr.Plot(show_label=False, elem_id="own-loss")
                ui["own_download"] = gr.DownloadButton("Download your model (zip)", visible=False,
                                                       elem_id="own-download")
    return ui


def wire(handlers, controls: dict, ui: dict) -> None:
    """Train (one at a time on the server), Stop, and the model list it updates."""
    train = handlers.train_own
    inputs = [ui["own_source"], ui["own_strokes"], ui["own_word"], ui["own_rows"]]
    outputs = [ui["own_loss"], ui["own_words"], controls["model"], ui["own_download"]]
    ui["own_train"].click(train, inputs, outputs, api_name="train", concurrency_limit=1, concurrency_id="own-train",
                          preprocess=False, show_progress="minimal")
    ui["own_stop"].click(handlers.stop_training, None, None, api_visibility="private", queue=False)
