"""The teaching panels under the live view, each folded away: the equations of the run, the same-noise
comparison of two samplers, and the papers' tables. Layout only; `app.py` wires their events."""

from __future__ import annotations

from pathlib import Path

import gradio as gr

from . import explain, forward_view, own_data
from .controls import KIND_CHOICES, SAMPLERS
from .handlers import COMPARE_SIDE, Handlers
from .requests import MAX_CLASSIFIER_SCALE, MAX_GUIDANCE, SAMPLE_INPUTS, UNCONDITIONAL

SAMPLE_DEFAULTS = {spec.name: spec.default for spec in SAMPLE_INPUTS}

ASSETS = Path(__file__).resolve().parents[2] / "assets"


def compare_controls(max_steps: int, first) -> list[gr.components.Component]:
    """The sampler, steps, η, w, guidance kind and s of the two sides (`handlers.COMPARE_SIDE`): A as the
    panel above starts (and follows it), B the DDPM run over every step it is measured against. The kind
    and s show for a model with a guide: the place to put CFG against classifier guidance."""
    sides = []
    with gr.Row():
        for name, (sampler, steps) in (("A", ("ddim", 50)), ("B", ("ddpm", first.num_train_steps))):
            with gr.Column(min_width=220):
                sides += [
                    gr.Radio(SAMPLERS, value=sampler, label=f"{name}: sampler"),
                    gr.Slider(1, max_steps, value=min(steps, first.num_train_steps), step=1, label=f"{name}: steps"),
                    gr.Slider(0.0, 1.0, value=0.0, step=0.05, label=f"{name}: η (DDIM)", visible=sampler == "ddim"),
                    gr.Slider(0.0, MAX_GUIDANCE, value=3.0, step=0.25, label=f"{name}: guidance w (with a class)"),
                    gr.Radio(KIND_CHOICES, value="classifier-free", label=f"{name}: guidance kind",
                             visible=first.has_guide),
                    gr.Slider(0.0, MAX_CLASSIFIER_SCALE, value=1.0, step=0.5, label=f"{name}: classifier scale s",
                              visible=first.has_guide),
                ]
    return sides


def wire_views(handlers: Handlers, controls: dict, ui: dict) -> None:
    """The teaching views' and the own-data panel's events."""
    wire_compare(handlers, controls, ui)
    controls["model"].change(handlers.variance_chart, controls["model"], ui["variance_chart"],
                             api_visibility="private", show_progress="hidden", preprocess=False)
    forward_view.wire(handlers, controls, ui)
    own_data.wire(handlers, controls, ui)


def wire_compare(handlers: Handlers, controls: dict, ui: dict) -> None:
    """The comparison's own events: side A follows the panel above; each side's η shows only for DDIM;
    the result is put in words beside its JSON."""
    width = len(COMPARE_SIDE)
    side_a, side_b = ui["sides"][:width], ui["sides"][width:]
    for name, side in zip(COMPARE_SIDE, side_a):
        main = controls[name]
        main.change(lambda value: value, main, side, api_visibility="private", show_progress="hidden", queue=False)
    for side in (side_a, side_b):
        side[0].change(lambda sampler: gr.update(visible=str(sampler).lower() == "ddim"), side[0], side[2],
                       api_visibility="private", show_progress="hidden", queue=False)
    guide_controls = [side[i] for side in (side_a, side_b) for i in (4, 5)]
    controls["model"].change(handlers.compare_guide_controls, controls["model"], guide_controls,
                             api_visibility="private", show_progress="hidden", preprocess=False)
    ui["compare_event"].success(handlers.compare_words, ui["compare_summary"], ui["compare_words"],
                                api_visibility="private", show_progress="hidden", queue=False)
    ui["stop_compare"].click(handlers.stop_compare, None, None, api_visibility="private", queue=False)


def teaching_views(handlers: Handlers, first, max_steps: int, steps: int) -> dict:
    """The equations of the run, the forward process, the same-noise comparison and the papers' tables,
    each folded away."""
    ui = {}
    with gr.Accordion("What am I looking at? The equations of this run", open=False):
        ui["explanation"] = gr.Markdown(
            handlers.explain_run(first.name, SAMPLE_DEFAULTS["sampler"], steps, 0.0, UNCONDITIONAL, 3.0),
            latex_delimiters=explain.LATEX_DELIMITERS, elem_id="explanation",
        )
        gr.Markdown((ASSETS / "views_note.md").read_text())
    ui.update(forward_view.layout(handlers.cache, first, steps))
    ui.update(own_data.layout())
    with gr.Accordion("Compare two samplers from the same noise", open=False, elem_id="compare"):
        gr.Markdown("Both runs use the model, class, number of samples and seed chosen above, so they "
                    "start from the very same x<sub>T</sub>: any difference is the sampler's doing. "
                    "A is drawn on the left, B on the right, each captioned with its time.")
        ui["sides"] = compare_controls(max_steps, first)
        with gr.Row():
            ui["run_compare"] = gr.Button("Compare", elem_id="compare-button", variant="primary")
            ui["stop_compare"] = gr.Button("Stop", elem_id="compare-stop", variant="stop")
        ui["compared"] = gr.Image(label="A (left) and B (right), same initial noise", type="numpy",
                                  format="png", elem_id="compare-image", show_label=False)
        ui["compare_words"] = gr.Markdown(elem_id="compare-words")
        with gr.Accordion("Timings and quality (JSON)", open=False):
            ui["compare_summary"] = gr.JSON(label="Timings and quality", elem_id="compare-summary")
    with gr.Accordion("The papers' tables in miniature, for this model", open=False):
        gr.Markdown("Measured by `python train_toy.py eval MODEL` and stored beside the weights "
                    "(`eval.json`): the guidance trade-off of the classifier-free guidance paper (beside "
                    "classifier guidance's, for a model with a guide), the quality-against-steps table of the "
                    "DDIM paper, and for *Two moons, learning its variance* what Improved DDPM's learned Σ does.")
        ui["recompute"] = gr.Button("Recompute on a small sample (2D: 1000 points, 200 per class)",
                                    elem_id="recompute-tables", size="sm")
        guidance, steps_figure = handlers.sweep_figures(first.name)
        with gr.Row():
            ui["guidance_chart"] = gr.Plot(guidance, elem_id="guidance-sweep", visible=guidance is not None,
                                           show_label=False)
            ui["steps_chart"] = gr.Plot(steps_figure, elem_id="steps-sweep", visible=steps_figure is not None,
                                        show_label=False)
        # A model that learned its variance (moons_learned): what it learned, and what it buys.
        variance = handlers.variance_figure(first.name)
        ui["variance_chart"] = gr.Plot(variance, elem_id="variance-chart", show_label=False,
                                       visible=variance is not None)
        predictions = handlers.prediction_figure("moons")
        if predictions is not None:
            gr.Markdown("**What the network predicts.** Two moons trained three times, identically but for the "
                        "network's target (ε, x₀ or v; the models *Two moons, predicting ε* and *…x₀* in the list "
                        "above): quality against steps, measured as for each model's own chart.")
            ui["prediction_chart"] = gr.Plot(predictions, elem_id="prediction-chart", show_label=False)
    return ui
