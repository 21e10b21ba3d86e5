"""The forward view's panel: its controls, its two endpoints (/forward plays the film on the live canvas,
/forward_at redraws one t beside the reverse run) and the schedules chart; `forward` does the work."""

from __future__ import annotations

from pathlib import Path

import gradio as gr

from ..samplers import make_timesteps
from ..schedules import BETA_SCHEDULES
from ..weights.curves import read_loss_curve
from . import forward, server, tables
from .cache import ModelCache
from .handlers import Handlers
from .errors import user_errors
from .requests import known_model, number, session_of

SCHEDULE_WHY = (
    "**linear** (DDPM): β grows evenly from 10⁻⁴ to 0.02; it wipes out the signal well before the end, so "
    "the last few hundred steps see almost pure noise. **cosine** (Improved DDPM): ᾱ follows a cosine, so the "
    "signal fades evenly in log-SNR and none of the steps is wasted; the 2D models use it. **sigmoid**: ᾱ "
    "falls along a sigmoid, slow at both ends, the choice of the swiss-roll tutorial (seed 001)."
)


# The film plays on the live canvas, far above this panel: bring it into view first.
SCROLL_JS = (Path(__file__).resolve().parents[2] / "assets" / "scroll_to_view.js").read_text()


class ForwardHandlers:
    """The forward view's events over one model cache."""

    def __init__(self, cache: ModelCache):
        self.cache = cache

    @user_errors
    def play(self, model, schedule, num_train_steps, seed, request: gr.Request = None):
        """Play x_0 → x_T on the live canvas; keep the film for scrubbing; say how close the reverse run is."""
        session = session_of(request)
        message, run = forward.play(self.cache, model, schedule, num_train_steps, seed, session=session)
        middle = run.timesteps[len(run.timesteps) // 2]
        slider = gr.update(maximum=run.num_train_steps - 1, value=middle, interactive=True)
        figure = forward.comparison_figure(self.cache, run, middle)
        return message, run, agreement_words(run), slider, gr.update(value=figure, visible=figure is not None)

    @user_errors
    def at(self, run, t):
        """The film's frame nearest to t on the canvas, and the two clouds there."""
        figure = forward.comparison_figure(self.cache, run, t)
        return forward.frame_at(self.cache, run, t), gr.update(value=figure, visible=figure is not None)

    @user_errors
    def schedules(self, model, num_train_steps, sampler, steps,  # noqa: ARG002 - every sampler visits these
                  request: gr.Request = None):
        """The three schedules at T, the model's own drawn thick, the sampler's timesteps marked on it."""
        model = known_model(self.cache, model, session_of(request))
        steps_t = number(num_train_steps, "T (diffusion steps)", forward.MIN_T, forward.MAX_T, whole=True)
        own = self.cache.served(model).pipeline.schedule
        try:  # the steps the Run button's sampler visits, on the model's own curve (none for a bad value)
            visited = make_timesteps(own.num_train_steps, int(steps)) if own.num_train_steps == steps_t else []
        except (TypeError, ValueError):
            visited = []
        return forward.schedules_figure(steps_t, own, visited)


def loss_chart(cache: ModelCache, model: str):
    """The model's loss curve figure, or None where its folder has none."""
    folder = cache.folder(model) if model in cache.names() else None
    return tables.loss_figure(read_loss_curve(folder)) if folder is not None else None


def agreement_words(run: forward.ForwardRun) -> str:
    """The reverse-against-forward figures in a sentence (or why there are none)."""
    figures = forward.agreement(run)
    if run.kind != "points":
        return ("x₀ here are characters the model drew (the EMNIST training images are not shipped); a "
                "reverse-against-forward figure needs many more samples than a page shows, so there is none.")
    if not figures:
        return "The model was trained on another schedule or T; pick its own to see its reverse run beside the film."
    cells = ", ".join(f"{name.replace('t=', 't = ')}: {value:.2f}" for name, value in figures.items())
    return (f"**Reverse against forward**: at each t the model's own DDPM run should look like the noised data. "
            f"Sliced-Wasserstein ratio of its x_t to fresh forward x_t (1 = as close as two draws of q(x_t)): "
            f"{cells}.")


def layout(cache: ModelCache, first, steps: int) -> dict:
    """The forward view's accordion (`steps`: the Run button's, whose timesteps the chart marks)."""
    ui = {}
    own = cache.served(first.name).pipeline.schedule
    with gr.Accordion("The forward process: watch the data dissolve into noise", open=False, elem_id="forward"):
        gr.Markdown("Training noises data in closed form, q(x_t | x₀) = N(√ᾱ_t x₀, (1−ᾱ_t) I); sampling learns "
                    "to undo it. **Play forward** runs x₀ → x_T on the live canvas for the model chosen above.")
        with gr.Row():
            ui["forward_schedule"] = gr.Radio(list(BETA_SCHEDULES), value=own.kind, label="Schedule",
                                              elem_id="forward-schedule")
            ui["forward_T"] = gr.Slider(forward.MIN_T, forward.MAX_T, value=own.num_train_steps, step=1,
                                        label="T (diffusion steps)", elem_id="forward-T")
        ui["forward_play"] = gr.Button("Play forward", elem_id="forward-play")
        ui["forward_t"] = gr.Slider(0, own.num_train_steps - 1, value=0, step=1, interactive=False,
                                    label="t: stop the film here", elem_id="forward-t")
        ui["forward_words"] = gr.Markdown(elem_id="forward-words")
        ui["forward_compare"] = gr.Plot(visible=False, show_label=False, elem_id="forward-compare")
        chart = forward.schedules_figure(own.num_train_steps, own, make_timesteps(own.num_train_steps, steps))
        ui["forward_schedules"] = gr.Plot(chart, show_label=False, elem_id="schedules")
        gr.Markdown(SCHEDULE_WHY)
        gr.Markdown("**How this model learned to undo it**: the training loss, and where in t the trained "
                    "model still errs most (`loss_curve.json`, written by `train_toy.py`).")
        curve = loss_chart(cache, first.name)
        ui["loss_chart"] = gr.Plot(curve, show_label=False, visible=curve is not None, elem_id="loss-chart")
        # ~1 MB a session (60 frames and the reverse run's, float16): dropped after a while, as the last run is.
        ui["forward_run"] = gr.State(None, time_to_live=server.RUN_TTL_S)
    return ui


def wire(app_handlers: Handlers, controls: dict, ui: dict) -> None:
    """The forward view's events; the film plays on the live canvas. Playing runs the model (its reverse
    run), so it is admitted as a run is, one at a time."""
    handlers = ForwardHandlers(app_handlers.cache)
    settings = [controls["model"], ui["forward_schedule"], ui["forward_T"], controls["seed"]]
    ui["forward_play"].click(
        handlers.play, settings,
        [ui["live_view"], ui["forward_run"], ui["forward_words"], ui["forward_t"], ui["forward_compare"]],
        api_name="forward", preprocess=False, concurrency_limit=1, concurrency_id="forward",
        validator=app_handlers.admission(len(settings)), js=SCROLL_JS)
    ui["forward_t"].release(handlers.at, [ui["forward_run"], ui["forward_t"]], [ui["live_view"], ui["forward_compare"]],
                            api_name="forward_at", preprocess=False, show_progress="hidden", trigger_mode="always_last")
    controls["model"].change(lambda model: gr.update(value=(curve := loss_chart(handlers.cache, model)),
                                                     visible=curve is not None),
                             controls["model"], ui["loss_chart"], api_visibility="private", show_progress="hidden")
    charted = [controls["model"], ui["forward_T"], controls["sampler"], controls["steps"]]
    gr.on([c.change for c in charted], handlers.schedules, charted, ui["forward_schedules"], api_visibility="private",
          show_progress="hidden", preprocess=False)
