"""The app's event handlers: plain methods over the model cache; each visitor's last run is in their session.

`app.py` lays out the page and wires each event to one of these; nothing here builds
a component. Every handler that validates input is wrapped by `user_errors`, so a
`RequestError` reaches the visitor (or API client) as one `gr.Error` with its message.
"""

from __future__ import annotations

import inspect
import math
import os
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence

import gradio as gr

from ..data import is_point_set
from . import live, result
from .admission import Admission, client_host
from .cache import ModelCache, ModelInfo, model_label
from .cost import request_seconds
from .errors import user_errors
from .frames import StoredRun
from .gpu import MAX_GPU_SECONDS
from .requests import (
    LINK_PARAMETERS,
    SAMPLE_INPUT_NAMES,
    UNCONDITIONAL,
    RequestError,
    compare_side_values,
    known_model,
    session_of,
    settings_from_query,
    settings_query,
    shown,
    validate_request,
)
from .controls import class_choices, guidance_state, kind_state, samples_label, scale_state, variance_state
from .own_data import OwnDataHandlers
from .teaching import TeachingHandlers


def finite(value, name: str) -> float:
    """`value` if it is a finite number, else RequestError naming it."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise RequestError(f"{name} must be a number, got {shown(value)}")
    return value


ALLOW_LOAD_ENV = "DIFFUSION_ALLOW_LOAD"
# The inputs of /compare, in order: the shared ones, then side A's and side B's sampler settings.
COMPARE_SIDE = ("sampler", "steps", "eta", "guidance", "guidance_kind", "classifier_scale")
COMPARE_INPUTS = ("model", "class_name", "num_samples", "seed", *COMPARE_SIDE, *(f"b_{n}" for n in COMPARE_SIDE))
LOAD_OFF = (f"Loading other weights is off on this server: the model is the same for every visitor. "
            f"Its operator can turn it on with {ALLOW_LOAD_ENV}=1, which changes the weights for everyone.")


def load_allowed(environ: Mapping[str, str] = os.environ) -> bool:
    """Whether visitors may switch a model's weights (process-wide): DIFFUSION_ALLOW_LOAD=1."""
    return environ.get(ALLOW_LOAD_ENV, "").strip().lower() in ("1", "true", "yes")


class Handlers(TeachingHandlers, OwnDataHandlers):
    """Every event of the app, over one model cache.

    allow_load: whether `load_weights` may switch a model's weights. They are the
    process's, so one visitor's Load would change what every other visitor samples:
    a public server keeps it off (the default) and `load_weights` refuses.
    """

    def __init__(self, cache: ModelCache, allow_load: bool = False):
        self.cache = cache
        self.allow_load = allow_load
        self.blocks: gr.Blocks | None = None  # set by `bind`, for the queue the admission check reads
        self.admitted = Admission()
        self._stops: dict[str, threading.Event] = {}  # per session: set by Stop, read by its run
        self._training: set[str] = set()  # the sessions training a model of their own now
        self._training_lock = threading.Lock()

    def bind(self, blocks: gr.Blocks) -> None:
        self.blocks = blocks
        blocks.unload(self.forget_session)

    def forget_session(self, request: gr.Request = None) -> None:
        """When a visitor's page closes: drop their stop events (a run in progress still ends, at its next
        step, when Gradio closes its stream)."""
        session = session_of(request)
        for what in ("run", "compare", "train"):
            self._stops.pop(f"{session}:{what}", None)
        self.forget_own(session)

    def admission(self, inputs: int, check: Callable | None = None, names: Sequence[str] = ()) -> Callable:
        """The validator of a run event with `inputs` inputs, which runs before the event is queued (so a
        refused run takes no place there and leaves the outputs untouched): `check(values)` raises a
        `RequestError` for bad values, marked on the input of its `field` among `names` (else the first);
        then a run past the client's share of the queue is refused."""

        async def admit(*values_and_request):  # on the event loop: no thread hop (a thread cost ~15 ms a run)
            request, values = values_and_request[-1], values_and_request[:-1]
            verdicts = [gr.validate(True, "")] * inputs
            try:
                if check is not None:
                    check(values, session_of(request))
            except RequestError as error:
                at = list(names).index(error.field) if error.field in names else 0
                verdicts[at] = gr.validate(False, str(error))
                return verdicts
            queue = getattr(self.blocks, "_queue", None)
            why = None if queue is None else await self.admitted.refuse(queue, request.session_hash,
                                                                         client_host(request))
            verdicts[0] = gr.validate(why is None, why or "")
            return verdicts

        # Gradio passes the request to a parameter annotated gr.Request, after the inputs.
        parameters = [inspect.Parameter(f"input_{k}", inspect.Parameter.POSITIONAL_OR_KEYWORD) for k in range(inputs)]
        parameters.append(inspect.Parameter("request", inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=gr.Request))
        admit.__signature__ = inspect.Signature(parameters)
        admit.__annotations__ = {"request": gr.Request}  # what Gradio reads the annotation from
        return admit

    def sample_admission(self) -> Callable:
        """`/sample`'s validator: its values checked, then the queue share."""
        return self.admission(len(SAMPLE_INPUT_NAMES), self.check_sample, SAMPLE_INPUT_NAMES)

    def compare_admission(self) -> Callable:
        """`/compare`'s validator: both sides' values checked, then the queue share."""
        return self.admission(len(COMPARE_INPUTS), self.check_compare, COMPARE_INPUTS)

    def check_sample(self, values, session: str | None = None) -> None:
        """`/sample`'s values as the validator checks them: RequestError naming the bad one. A model not
        loaded yet is left to the handler (its first load must not block the event loop)."""
        model = values[0] if values else None
        if isinstance(model, str) and model in self.cache.names() and not self.cache.loaded(model):
            return
        validate_request(self.cache, *values, session=session)

    def check_compare(self, values, session: str | None = None) -> None:
        """`/compare`'s values (shared inputs, then side A's and side B's): side B's fields are b_…"""
        width = len(COMPARE_SIDE)
        shared, a, b = list(values[:4]), list(values[4:4 + width]), list(values[4 + width:4 + 2 * width])
        self.check_sample(compare_side_values(shared, a), session)
        try:
            self.check_sample(compare_side_values(shared, b), session)
        except RequestError as error:
            raise RequestError(str(error), f"b_{error.field}" if error.field in COMPARE_SIDE else error.field) from None

    @user_errors
    def sample(self, model, sampler, steps, eta, class_name, guidance, num_samples, seed, show_x0=False,
               field="off", guidance_kind="classifier-free", classifier_scale=0.0, variance="default",
               request: gr.Request = None) -> Iterator[tuple]:
        """Sample a model and stream the trajectory; ends with the final picture and a JSON summary.

        Stop (`stop`, for this session) ends the stream early with the last frame kept on the canvas.
        """
        checked = validate_request(
            self.cache, model, sampler, steps, eta, class_name, guidance, num_samples, seed, show_x0, field,
            guidance_kind, classifier_scale, variance, session=session_of(request),
        )
        stop = self._session_stop(request, "run")
        stream = live.run_sample(checked, self.cache)
        try:
            yield from self._stream(checked, stream, stop)
        finally:
            stream.close()

    def _stream(self, request, stream, stop: threading.Event) -> Iterator[tuple]:
        first_update = True
        for update in stream:
            if isinstance(update, live.LiveFrames):
                # Plain values while the run plays, not gr.skip(): Gradio builds a new component for
                # every skipped output of every message (~2.5 ms each, holding the GIL the sampling
                # thread needs: 14 ms a message, half a second of a 1000-step run), while a value
                # equal to the last one sends an empty diff. The old run's final picture, GIF and
                # scrub position no longer match what plays, so they are cleared; the summary and
                # the card say how far the run has got.
                scrub_position = gr.update(value=0, interactive=False) if first_update else 0
                first_update = False
                yield (update.message, None, None, update.progress, scrub_position, gr.skip(), None,
                       result.progress_card(update.progress))
                if stop.is_set():
                    stopped = {**update.progress, "status": "stopped"}
                    yield (gr.skip(), None, None, stopped, gr.update(value=0, interactive=False), None, None,
                           result.stopped_card(update.progress))
                    return
                continue
            # Which of the plot and the image grid shows follows the model (model_controls). The GIF
            # stays cleared (a run too short to stream a frame clears it here) until gif_for_page
            # makes this run's: None, not gr.skip(), which would rebuild the Image (~3 ms).
            yield (
                update.message,
                update.figure,
                None if update.grid is None else str(live.grid_png(update.grid, update.run_id)),
                update.summary,
                gr.update(minimum=0, maximum=max(update.keyframes - 1, 1), value=update.keyframes - 1,
                          step=1, interactive=update.keyframes > 1),
                update.run,
                None,
                result.result_card(update.summary, model_label(request.model)),
            )

    def estimate_and_link(self, *values, request: gr.Request = None) -> tuple[str, str]:
        """The line under Run and the link to these settings, as the controls change (`/sample`'s values)."""
        return self.estimate(*values, request=request), self.settings_link(*values)

    def settings_link(self, *values) -> str:
        """A link (Markdown) that reopens the page with these settings (`/sample`'s values)."""
        values = dict(zip(SAMPLE_INPUT_NAMES, values))
        return f"[Link to these settings]({settings_query(values)}) (copy it to share or come back to this run)"

    def from_link(self, request: gr.Request = None) -> tuple:
        """At page load: the controls set from the link's query (?model=…&steps=…), or left as they are."""
        query = dict(getattr(request, "query_params", {}) or {})
        values = settings_from_query(self.cache, query)
        if not values:
            return tuple(gr.skip() for _ in LINK_PARAMETERS)
        return tuple(values[name] for name in LINK_PARAMETERS)

    def stop(self, request: gr.Request = None) -> None:
        """Stop this session's run at its next message (the sampler stops at its next step)."""
        self._session_stop(request, "run", clear=False).set()

    def estimate(self, *values, request: gr.Request = None) -> str:
        """The line under Run: how long these settings (`/sample`'s values) take here, or what is wrong with them."""
        try:
            request = validate_request(self.cache, *values, session=session_of(request))
        except RequestError as error:
            return f"⚠ {error}"
        return result.estimate_line(request_seconds(self.cache, request))

    def gpu_seconds(self, *values, request: gr.Request = None) -> int:
        """The GPU lease a ZeroGPU Space asks for a run (`/sample`'s values): twice its estimate plus 10 s, at
        most MAX_GPU_SECONDS (a request that fails validation asks for the least: it stops at once)."""
        try:
            request = validate_request(self.cache, *values, session=session_of(request))
        except RequestError:
            return 10
        return int(min(MAX_GPU_SECONDS, 10 + 2 * request_seconds(self.cache, request)))

    @user_errors
    def show_frame(self, run: StoredRun | None, position) -> str:
        """The stored keyframe at `position` of the session's last run, painted on the live canvas."""
        return live.scrub_message(self.cache, run, position)

    @user_errors
    def make_gif(self, run: StoredRun | None) -> str:
        """An animated GIF of the session's last run."""
        return str(live.trajectory_gif(self.cache, run))

    def gif_for_page(self, run: StoredRun | None, model) -> str | None:
        """The GIF the page shows after a run: none after Stop (no stored run) or once the model has changed."""
        if not isinstance(run, StoredRun) or run.model != model:
            return None
        return str(live.trajectory_gif(self.cache, run))

    @user_errors
    def model_controls(self, model, class_name, steps, num_samples, previous_kind,
                       request: gr.Request = None) -> tuple:
        """Fit the page to `model`: its classes, steps and sample limit, its views, weights and tables."""
        info = self.cache.info(known_model(self.cache, model, session_of(request)))
        keep_class = class_name if class_name in info.class_names else UNCONDITIONAL
        steps, num_samples = finite(steps, "steps"), finite(num_samples, "number of samples")  # fitted below
        kind_changed = info.kind != previous_kind
        return (
            gr.update(choices=class_choices(info), value=keep_class),
            gr.update(maximum=info.num_train_steps, value=min(int(steps), info.num_train_steps)),
            gr.update(maximum=info.max_samples, label=samples_label(info),
                      value=info.default_samples if kind_changed else min(int(num_samples), info.max_samples)),
            live.intro_message(self.cache, model, keep_class),
            # The last run's results belong to the last model: cleared, and scrubbing off until the next run.
            gr.update(visible=info.kind == "points", value=None),
            gr.update(visible=info.kind == "images", value=None),
            gr.update(visible=info.kind == "points"),  # the learned field is drawn in the plane
            self.weights_markdown(model),
            *self.papers_tables(model),
            None,
            None,
            f"**{model_label(model)}**: press **Run** to watch its noise turn into samples.",
            gr.update(value=0, maximum=1, interactive=False),
            gr.update(visible=info.kind == "points" and is_point_set(info.dataset)),  # Recompute: 2D only
            None,
            info.kind,
        )

    @user_errors
    def load_weights(self, model, repo_id, revision) -> str:
        """Serve `model` with a Hub repo's weights at a revision (empty repo id: the shipped weights)."""
        if not self.allow_load:
            raise RequestError(LOAD_OFF)
        for value, what in ((repo_id, "repo id"), (revision, "revision")):
            if value is not None and not isinstance(value, str):
                raise RequestError(f"the {what} must be text, got {value!r}")
        switched, message = self.cache.load_weights(model, repo_id, revision)
        if not switched:
            gr.Warning(message, title="Weights not changed")
            return self.weights_markdown(model, problem=message)
        gr.Info(message, title="Weights loaded")
        return self.weights_markdown(model)

    def weights_markdown(self, model, problem: str | None = None) -> str:
        """Where the weights in use come from, and the last failure to change them when there was one."""
        if model not in self.cache.names():
            return ""
        lines = [f"**In use:** {self.cache.weights_message(model)}"]
        if problem:
            lines.append(f"**Not changed:** {problem}")
        return "\n\n".join(lines)

    def intro(self, model) -> str:
        """The live canvas before any run of `model`."""
        return live.intro_message(self.cache, model)

    def sampler_controls(self, sampler, model, variance, request: gr.Request = None):
        """η only applies to DDIM, the choice of Σ only to DDPM."""
        return gr.update(visible=str(sampler).lower() == "ddim"), gr.update(**variance_state(
            self._info(model, request), sampler, variance))

    def guidance_controls(self, model, class_name, guidance, kind, request: gr.Request = None):
        """The guidance kind, the slider of w and the slider of s, for this model, class, weight and kind."""
        info = self._info(model, request)
        kind = kind_state(info, class_name, kind)
        return (gr.update(**kind), gr.update(**guidance_state(class_name, guidance, kind["value"])),
                gr.update(**scale_state(info, class_name, kind["value"])))

    def _info(self, model, request) -> ModelInfo | None:
        """The model's `ModelInfo` where the visitor may use it, else None (the controls then offer the least)."""
        try:
            return self.cache.info(known_model(self.cache, model, session_of(request)))
        except Exception:  # a model that cannot be loaded gets the plainest controls; Run says why
            return None
