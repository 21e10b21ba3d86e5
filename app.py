"""Diffusion, step by step: pick a model, a sampler, steps, class and guidance, and watch the samples form.

Layout and wiring only: every event calls a method of `diffusion_core.demo.handlers.Handlers`,
and `/sample`'s inputs are declared once in `diffusion_core.demo.requests.SAMPLE_INPUTS`.
`python app.py` serves on GRADIO_SERVER_NAME:GRADIO_SERVER_PORT (Gradio's defaults
otherwise), with each model's weights from the Hub repo in DIFFUSION_HUB_REPO at
DIFFUSION_HUB_REVISION when set.
"""

from __future__ import annotations

try:  # ZeroGPU emulates CUDA only for a torch imported after it: first of all, where it is installed
    import spaces  # noqa: F401
except ImportError:
    pass

from pathlib import Path

import gradio as gr

from diffusion_core.demo import explain, live, server
from diffusion_core.demo.cache import MAX_IMAGES, MAX_POINTS, ModelCache
from diffusion_core.demo.examples import served_examples
from diffusion_core.demo.gpu import on_gpu_when_available
from diffusion_core.demo.handlers import LOAD_OFF, Handlers, class_choices, load_allowed, samples_label
from diffusion_core.demo.requests import MAX_GUIDANCE, MAX_SEED, SAMPLE_INPUTS, UNCONDITIONAL

ASSETS = Path(__file__).resolve().parent / "assets"
DEFAULT_MODEL = "moons"
SAMPLERS = [("DDPM", "ddpm"), ("DDIM", "ddim")]
FIELD_CHOICES = [("off", "off"), ("the score the sampler follows", "guided"),
                 ("conditional, unconditional and guided", "all")]

def sample_controls(cache: ModelCache, first, max_steps: int) -> dict[str, gr.components.Component]:
    """One control per entry of SAMPLE_INPUTS, with its label, help and default, in `/sample`'s order."""
    spec = {i.name: {"label": i.label, "info": i.info, "value": i.default} for i in SAMPLE_INPUTS}
    spec["model"]["value"] = DEFAULT_MODEL if DEFAULT_MODEL in cache.names() else first.name
    spec["steps"]["value"] = min(spec["steps"]["value"], first.num_train_steps)
    spec["num_samples"].update(value=first.default_samples, label=samples_label(first),
                               info=f"up to {MAX_POINTS} points or {MAX_IMAGES} characters")
    return {
        "model": gr.Dropdown(cache.names(), **spec["model"]),
        "sampler": gr.Radio(SAMPLERS, **spec["sampler"]),
        "steps": gr.Slider(1, max_steps, step=1, **spec["steps"]),
        "eta": gr.Slider(0.0, 1.0, step=0.05, **spec["eta"]),
        # Choices follow the model; a custom value is checked on run.
        "class_name": gr.Dropdown(class_choices(first), allow_custom_value=True, **spec["class_name"]),
        "guidance": gr.Slider(0.0, MAX_GUIDANCE, step=0.25, interactive=False, **spec["guidance"]),
        "num_samples": gr.Slider(1, MAX_POINTS, step=1, **spec["num_samples"]),
        "seed": gr.Number(precision=0, minimum=0, maximum=MAX_SEED, **spec["seed"]),
        "show_x0": gr.Checkbox(**spec["show_x0"]),
        "field": gr.Radio(FIELD_CHOICES, elem_id="field", visible=first.kind == "points", **spec["field"]),
    }


def compare_controls(max_steps: int, first) -> list[gr.components.Component]:
    """The sampler, steps, η and w of the two sides A and B of the same-noise comparison."""
    sides = []
    with gr.Row():
        for name, (sampler, steps) in (("A", ("ddpm", 1000)), ("B", ("ddim", 50))):
            with gr.Column(min_width=220):
                sides += [
                    gr.Radio(SAMPLERS, value=sampler, label=f"{name}: sampler"),
                    gr.Slider(1, max_steps, value=min(steps, first.num_train_steps), step=1, label=f"{name}: steps"),
                    gr.Slider(0.0, 1.0, value=0.0, step=0.05, label=f"{name}: η (DDIM)"),
                    gr.Slider(0.0, MAX_GUIDANCE, value=0.0, step=0.25, label=f"{name}: guidance w (with a class)"),
                ]
    return sides


def left_column(cache: ModelCache, handlers: Handlers, first, max_steps: int) -> dict:
    """The controls, Run and Stop, the examples and the Weights section."""
    ui = {"controls": sample_controls(cache, first, max_steps)}
    with gr.Row():
        ui["run"] = gr.Button("Run", variant="primary", elem_id="run-button")
        ui["stop"] = gr.Button("Stop", variant="stop", elem_id="stop-button")
    shown = served_examples(cache)
    ui["examples"] = gr.Examples([values for _, values in shown], list(ui["controls"].values()),
                                 example_labels=[label for label, _ in shown], label="One-click examples",
                                 api_visibility="private")
    # Opened at start-up when a Space could not get its Hub weights, so the reason is in view.
    hub_failed = any("Hub weights not loaded" in cache.weights_message(name) for name in cache.names())
    with gr.Accordion("Weights", open=hub_failed, elem_id="weights"):
        ui["weights_status"] = gr.Markdown(handlers.weights_markdown(first.name), elem_id="weights-status")
        if not handlers.allow_load:
            gr.Markdown(LOAD_OFF, elem_id="load-off")
            return ui
        ui["hub_repo"] = gr.Textbox(label="Hugging Face Hub repo", placeholder="USER/REPO (empty: shipped weights)",
                                    info="a public model repo with one folder per model, as `train_toy.py push` makes")
        ui["hub_revision"] = gr.Textbox(label="Revision", placeholder="main", max_length=255,
                                        info="a branch, tag or commit SHA; pin a SHA to get the same weights")
        ui["load"] = gr.Button("Load weights for this model (for every visitor)", elem_id="load-weights")
    return ui


def run_views(handlers: Handlers, first) -> dict:
    """The live canvas and its scrubber beside the final picture, the summary and the GIF."""
    ui = {}
    with gr.Row(equal_height=False):
        with gr.Column(scale=5, min_width=340):
            ui["live_view"] = gr.HTML(
                handlers.intro(first.name),
                html_template='<canvas class="dm-canvas" width="960" height="1042"></canvas>',
                css_template=(ASSETS / "live_canvas.css").read_text(),
                js_on_load=(ASSETS / "live_canvas.js").read_text(),
                elem_id="live-canvas",
            )
            ui["scrub"] = gr.Slider(0, 1, value=0, step=1, interactive=False, elem_id="scrub",
                                    label="Scrub the trajectory", info="after a run: drag through the stored frames")
        with gr.Column(scale=4, min_width=320):
            ui["final_plot"] = gr.Plot(label="Final samples (zoom, pan, hover)", elem_id="final-plot",
                                       visible=first.kind == "points")
            ui["final_images"] = gr.Image(label="Final characters", elem_id="final-images", type="numpy",
                                          image_mode="L", format="png", height=520, visible=first.kind == "images")
            ui["summary"] = gr.JSON(label="Run summary", elem_id="summary", open=True)
            ui["gif"] = gr.File(label="Trajectory GIF", elem_id="gif")
    return ui


def teaching_views(handlers: Handlers, first, max_steps: int, steps: int) -> dict:
    """The equations of the run, the same-noise comparison and the papers' tables, each folded away."""
    ui = {}
    with gr.Accordion("What am I looking at? The equations of this run", open=False):
        ui["explanation"] = gr.Markdown(
            handlers.explain_run(first.name, "ddim", steps, 0.0, UNCONDITIONAL, 3.0),
            latex_delimiters=explain.LATEX_DELIMITERS, elem_id="explanation",
        )
        gr.Markdown((ASSETS / "views_note.md").read_text())
    with gr.Accordion("Compare two samplers from the same noise", open=False, elem_id="compare"):
        gr.Markdown("Both runs use the model, class, number of samples and seed chosen above, so they "
                    "start from the very same x<sub>T</sub>: any difference is the sampler's doing. "
                    "A is drawn on the left, B on the right, each captioned with its time.")
        ui["sides"] = compare_controls(max_steps, first)
        ui["run_compare"] = gr.Button("Compare", elem_id="compare-button")
        ui["compared"] = gr.Image(label="A (left) and B (right), same initial noise", type="numpy",
                                  format="png", elem_id="compare-image", show_label=False)
        ui["compare_summary"] = gr.JSON(label="Timings and quality", elem_id="compare-summary")
    with gr.Accordion("The papers' tables in miniature, for this model", open=False):
        gr.Markdown("Measured by `python train_toy.py eval MODEL` and stored beside the weights "
                    "(`eval.json`): the guidance trade-off of the classifier-free guidance paper and "
                    "the quality-against-steps table of the DDIM paper.")
        ui["recompute"] = gr.Button("Recompute on a small sample (2D: 1000 points, 200 per class)",
                                    elem_id="recompute-tables", size="sm")
        guidance, steps_figure = handlers.sweep_figures(first.name)
        with gr.Row():
            ui["guidance_chart"] = gr.Plot(guidance, elem_id="guidance-sweep", visible=guidance is not None,
                                           show_label=False)
            ui["steps_chart"] = gr.Plot(steps_figure, elem_id="steps-sweep", visible=steps_figure is not None,
                                        show_label=False)
    return ui


def wire(handlers: Handlers, ui: dict) -> None:
    """Every event: which handler it calls, with which inputs and outputs, under which API name."""
    c = ui["controls"]
    inputs = list(c.values())
    outputs = [ui["live_view"], ui["final_plot"], ui["final_images"], ui["summary"], ui["scrub"], ui["last_run"],
               ui["gif"]]
    sample = on_gpu_when_available(handlers.sample, duration=handlers.gpu_seconds)
    # API clients bypass the UI's limits, so the handlers validate the raw values (preprocess=False).
    run_options = {"outputs": outputs, "preprocess": False, "show_progress": "minimal",
                   "concurrency_limit": server.SAMPLE_CONCURRENCY, "concurrency_id": "sample",
                   "validator": handlers.admission(len(inputs))}
    gif_options = {"concurrency_limit": 1, "concurrency_id": "gif", "show_progress": "minimal"}
    run_event = ui["run"].click(sample, inputs, api_name="sample", trigger_mode="once", **run_options)
    run_event.success(handlers.make_gif, ui["last_run"], ui["gif"], api_name="gif", **gif_options)
    example_event = ui["examples"].load_input_event.then(sample, inputs, api_visibility="private", **run_options)
    example_event.success(handlers.make_gif, ui["last_run"], ui["gif"], api_visibility="private", **gif_options)
    ui["stop"].click(None, None, None, cancels=[run_event, example_event], api_visibility="private")
    # Every public endpoint takes raw values (preprocess=False) and its handler checks them: an API
    # client's bad value gets the handler's message, not a bare error from a component's preprocessing.
    ui["scrub"].input(handlers.show_frame, [ui["last_run"], ui["scrub"]], ui["live_view"], api_name="scrub",
                      show_progress="hidden", trigger_mode="always_last", queue=False, preprocess=False)

    fitted = [c["class_name"], c["steps"], c["num_samples"], ui["live_view"], ui["final_plot"], ui["final_images"],
              c["field"], ui["weights_status"], ui["guidance_chart"], ui["steps_chart"], ui["model_kind"]]
    fit_inputs = [c["model"], c["class_name"], c["steps"], c["num_samples"], ui["model_kind"]]
    c["model"].change(handlers.model_controls, fit_inputs, fitted, api_name="model_controls", show_progress="hidden",
                      preprocess=False)
    if "load" in ui:
        ui["load"].click(handlers.load_weights, [c["model"], ui["hub_repo"], ui["hub_revision"]], ui["weights_status"],
                         api_name="load_weights", concurrency_limit=1, concurrency_id="weights").success(
            handlers.model_controls, fit_inputs, fitted, show_progress="hidden", api_visibility="private",
            preprocess=False)
    # Its own group: sharing "sample" with a limit of 1 would lower every run's limit to 1.
    ui["recompute"].click(handlers.recompute_tables, c["model"], [ui["guidance_chart"], ui["steps_chart"]],
                          api_name="recompute_tables", concurrency_limit=1, concurrency_id="tables",
                          validator=handlers.admission(1), preprocess=False)
    c["sampler"].change(handlers.sampler_controls, c["sampler"], c["eta"], api_visibility="private",
                        show_progress="hidden")
    c["class_name"].change(handlers.class_controls, c["class_name"], c["guidance"], api_visibility="private",
                           show_progress="hidden")
    ui["run_compare"].click(handlers.compare_samplers, [c["model"], c["class_name"], c["num_samples"], c["seed"],
                                                        *ui["sides"]],
                            [ui["compared"], ui["compare_summary"]], api_name="compare", preprocess=False,
                            concurrency_limit=server.SAMPLE_CONCURRENCY, concurrency_id="sample",
                            validator=handlers.admission(4 + len(ui["sides"])))
    explained = [c[name] for name in ("model", "sampler", "steps", "eta", "class_name", "guidance")]
    gr.on([control.change for control in explained], handlers.explain_run, explained, ui["explanation"],
          api_name="explain", show_progress="hidden", queue=False, preprocess=False)


def build_demo(cache: ModelCache, allow_load: bool = False) -> gr.Blocks:
    """The Blocks app over the models in `cache`; `allow_load` lets visitors switch the weights (for all)."""
    handlers = Handlers(cache, allow_load)
    gr.set_static_paths([live.RESULTS_FOLDER])  # GIFs and grids: served from there, never copied per run
    names = cache.names()
    first = cache.info(DEFAULT_MODEL if DEFAULT_MODEL in names else names[0])
    max_steps = max(cache.info(name).num_train_steps for name in names)
    with gr.Blocks(title="Diffusion, step by step", delete_cache=server.CACHE_CLEANUP) as demo:
        gr.Markdown((ASSETS / "intro.md").read_text())
        with gr.Row(equal_height=False):
            with gr.Column(scale=1, min_width=300):
                ui = left_column(cache, handlers, first, max_steps)
            with gr.Column(scale=4):
                ui.update(run_views(handlers, first))
                ui.update(teaching_views(handlers, first, max_steps, ui["controls"]["steps"].value))
        # The session's last run (its keyframes), for scrubbing and the GIF; a ZeroGPU worker returns it here.
        ui["last_run"] = gr.State(None, time_to_live=server.RUN_TTL_S)
        ui["model_kind"] = gr.State(first.kind)
        wire(handlers, ui)
    handlers.bind(demo)
    server.queue(demo)
    return demo


def launch_options() -> dict:
    """Theme and page CSS (Gradio 6 takes them at launch); uploads refused (no input takes files)."""
    return {
        "theme": gr.themes.Soft(primary_hue="indigo", neutral_hue="slate"),
        "css": (ASSETS / "page.css").read_text(),
        "max_file_size": "1kb",
    }


def main() -> None:
    cache = ModelCache()
    cache.preload()
    if not cache.names():
        raise SystemExit(f"no loadable checkpoints in {cache.root}; train some with train_toy.py")
    for name in cache.names():
        print(cache.weights_message(name))
    build_demo(cache, allow_load=load_allowed()).launch(**launch_options())


if __name__ == "__main__":
    main()
