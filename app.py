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

import gradio as gr

from diffusion_core.demo import live, panels, server, theme
from diffusion_core.demo.cache import ModelCache
from diffusion_core.demo.controls import sample_controls
from diffusion_core.demo.examples import served_examples
from diffusion_core.demo.gpu import on_gpu_when_available, on_zero_gpu
from diffusion_core.demo.handlers import LOAD_OFF, Handlers, load_allowed
from diffusion_core.demo.requests import LINK_PARAMETERS, SAMPLE_INPUT_NAMES

ASSETS = panels.ASSETS
DEFAULT_MODEL = "moons"
# Before a run starts, in the browser: the live view scrolled into sight (a phone puts it below the
# controls) and, for Run, a fresh seed when "New seed every run" is ticked (the result card says which).
SCROLL_JS = (ASSETS / "scroll_to_view.js").read_text()
RUN_JS = (ASSETS / "run.js").read_text()
def left_column(cache: ModelCache, handlers: Handlers, first, max_steps: int) -> dict:
    """Run and Stop above the controls, the examples, then what is folded away: more options, the weights."""
    with gr.Row(elem_id="run-row"):
        run = gr.Button("Run", variant="primary", elem_id="run-button", scale=2, min_width=90)
        stop = gr.Button("Stop", variant="stop", elem_id="stop-button", scale=1, min_width=70)
    ui = {"run": run, "stop": stop, "estimate": gr.Markdown(elem_id="estimate")}
    ui["controls"] = sample_controls(cache, first, max_steps)
    ui["estimate"].value = handlers.estimate(*(control.value for control in ui["controls"].values()))
    ui["link"] = gr.Markdown(handlers.settings_link(*(control.value for control in ui["controls"].values())),
                             elem_id="settings-link")
    shown = served_examples(cache)
    ui["examples"] = gr.Examples([values for _, values in shown], list(ui["controls"].values()),
                                 example_labels=[label for label, _ in shown], label="Try one",
                                 api_visibility="private", elem_id="examples")
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
    """The live canvas and its scrubber beside the result in words, the GIF, the final picture and the JSON."""
    ui = {}
    with gr.Row(equal_height=False):
        with gr.Column(scale=5, min_width=320):
            ui["live_view"] = gr.HTML(
                handlers.intro(first.name),
                html_template='<canvas class="dm-canvas" width="960" height="1042" role="img" '
                              'aria-label="the live view of the sampler"></canvas>',
                css_template=(ASSETS / "live_canvas.css").read_text(),
                js_on_load=(ASSETS / "live_canvas.js").read_text(),
                elem_id="live-canvas",
            )
            ui["scrub"] = gr.Slider(0, 1, value=0, step=1, interactive=False, elem_id="scrub",
                                    label="Scrub the trajectory", info="after a run: drag through the stored frames")
        with gr.Column(scale=4, min_width=300):
            ui["card"] = gr.Markdown("Press **Run**: the result appears here in words.", elem_id="result-card")
            ui["gif"] = gr.Image(label="The run as a GIF", elem_id="gif", type="filepath", format="gif",
                                 height=300, interactive=False)
            ui["final_plot"] = gr.Plot(label="Final samples: zoom, pan, hover a point for its class",
                                       elem_id="final-plot", visible=first.kind == "points")
            ui["final_images"] = gr.Image(label="Final characters", elem_id="final-images", type="numpy",
                                          image_mode="L", format="png", height=420, visible=first.kind == "images",
                                          interactive=False)
            with gr.Accordion("Run summary (JSON, as API clients get it)", open=False):
                ui["summary"] = gr.JSON(label="Run summary", elem_id="summary", open=True)
    return ui


def wire(handlers: Handlers, ui: dict) -> None:
    """Every event: which handler it calls, with which inputs and outputs, under which API name."""
    c = ui["controls"]
    inputs = list(c.values())
    outputs = [ui["live_view"], ui["final_plot"], ui["final_images"], ui["summary"], ui["scrub"], ui["last_run"],
               ui["gif"], ui["card"]]
    sample = on_gpu_when_available(handlers.sample, duration=handlers.gpu_seconds)
    # API clients bypass the UI's limits, so the handlers validate the raw values (preprocess=False).
    run_options = {"outputs": outputs, "preprocess": False, "show_progress": "minimal", "concurrency_id": "sample",
                   "concurrency_limit": server.SAMPLE_CONCURRENCY, "validator": handlers.sample_admission()}
    gif_options = {"concurrency_limit": 1, "concurrency_id": "gif", "show_progress": "minimal"}
    run_event = ui["run"].click(sample, inputs, api_name="sample", trigger_mode="once", js=RUN_JS, **run_options)
    example_event = ui["examples"].load_input_event.then(sample, inputs, api_visibility="private", js=SCROLL_JS,
                                                         **run_options)
    for event in (run_event, example_event):
        event.success(handlers.gif_for_page, [ui["last_run"], c["model"]], ui["gif"], api_visibility="private",
                      preprocess=False, **gif_options)
    # /gif for API clients (the page makes its own after each run): an error, not nothing, without a run.
    ui["gif_api"].click(handlers.make_gif, ui["last_run"], ui["gif"], api_name="gif", **gif_options)
    # Stop ends the session's run from inside (last frame kept, no error shown); a ZeroGPU run lives in a
    # forked worker that cannot see that, so there Gradio cancels it.
    ui["stop"].click(handlers.stop, None, None, api_visibility="private", queue=False,
                     cancels=[run_event, example_event] if on_zero_gpu() else None)
    # Every public endpoint takes raw values (preprocess=False) and its handler checks them: an API
    # client's bad value gets the handler's message, not a bare error from a component's preprocessing.
    ui["scrub"].input(handlers.show_frame, [ui["last_run"], ui["scrub"]], ui["live_view"], api_name="scrub",
                      show_progress="hidden", trigger_mode="always_last", queue=False, preprocess=False)

    fitted = [c["class_name"], c["steps"], c["num_samples"], ui["live_view"], ui["final_plot"], ui["final_images"],
              c["field"], ui["weights_status"], ui["guidance_chart"], ui["steps_chart"], ui["summary"], ui["gif"],
              ui["card"], ui["scrub"], ui["recompute"], ui["last_run"], ui["model_kind"]]
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
    gr.on([c["sampler"].change, c["model"].change], handlers.sampler_controls, [c["sampler"], c["model"], c["variance"]],
          [c["eta"], c["variance"]], api_visibility="private", show_progress="hidden", preprocess=False)
    guided = [c["model"], c["class_name"], c["guidance"], c["guidance_kind"]]
    gr.on([c["model"].change, c["class_name"].change, c["guidance"].release, c["guidance_kind"].change],
          handlers.guidance_controls, guided, [c["guidance_kind"], c["guidance"], c["classifier_scale"]],
          api_visibility="private", show_progress="hidden", queue=False, preprocess=False)
    estimated = [c[name] for name in SAMPLE_INPUT_NAMES]
    gr.on([control.change for control in estimated], handlers.estimate_and_link, estimated,
          [ui["estimate"], ui["link"]], api_visibility="private", show_progress="hidden", queue=False, preprocess=False)
    ui["compare_event"] = ui["run_compare"].click(
        handlers.compare_samplers, [c["model"], c["class_name"], c["num_samples"], c["seed"], *ui["sides"]],
        [ui["compared"], ui["compare_summary"]], api_name="compare", preprocess=False,
        concurrency_limit=server.SAMPLE_CONCURRENCY, concurrency_id="sample",
        validator=handlers.compare_admission())
    panels.wire_views(handlers, c, ui)
    explained = [c[name] for name in ("model", "sampler", "steps", "eta", "class_name", "guidance", "guidance_kind",
                                      "classifier_scale", "variance")]
    gr.on([control.change for control in explained], handlers.explain_run, explained, ui["explanation"],
          api_name="explain", show_progress="hidden", queue=False, preprocess=False)


def build_demo(cache: ModelCache, allow_load: bool = False) -> gr.Blocks:
    """The Blocks app over the models in `cache`; `allow_load` lets visitors switch the weights (for all)."""
    handlers = Handlers(cache, allow_load)
    live.start_workers(cache)  # runs sample in worker processes' main threads, where both cores pay
    gr.set_static_paths([live.RESULTS_FOLDER])  # GIFs and grids: served from there, never copied per run
    names = cache.names()
    first = cache.info(DEFAULT_MODEL if DEFAULT_MODEL in names else names[0])
    max_steps = max(cache.info(name).num_train_steps for name in names)
    with gr.Blocks(title="Diffusion, step by step", delete_cache=server.CACHE_CLEANUP) as demo:
        gr.Markdown((ASSETS / "intro.md").read_text())
        with gr.Row(equal_height=False):
            with gr.Column(scale=1, min_width=300):
                ui = left_column(cache, handlers, first, max_steps)
            with gr.Column(scale=4, elem_id="views-column"):
                ui.update(run_views(handlers, first))
                ui.update(panels.teaching_views(handlers, first, max_steps, ui["controls"]["steps"].value))
        # The session's last run (its keyframes), for scrubbing and the GIF; a ZeroGPU worker returns it here.
        ui["last_run"] = gr.State(None, time_to_live=server.RUN_TTL_S)
        ui["gif_api"] = gr.Button(visible=False)
        ui["model_kind"] = gr.State(first.kind)
        wire(handlers, ui)
        linked = [ui["controls"][name] for name in LINK_PARAMETERS]
        demo.load(handlers.from_link, None, linked, api_visibility="private", show_progress="hidden", queue=False)
    handlers.bind(demo)
    server.queue(demo, workers=live.WORKERS.running)
    return demo


def launch_options() -> dict:
    """Theme and page CSS (Gradio 6 takes them at launch); uploads refused (no input takes files)."""
    return {
        "theme": theme.page_theme(),
        "css": (ASSETS / "page.css").read_text(),
        "js": (ASSETS / "page.js").read_text(),
        "max_file_size": "1kb",
    }


def main() -> None:
    cache = ModelCache()
    cache.preload()
    if not cache.names():
        raise SystemExit(f"no loadable checkpoints in {cache.root}; train some with train_toy.py")
    for name in cache.names():
        print(cache.weights_message(name))
    server.exit_on_sigterm()
    build_demo(cache, allow_load=load_allowed()).launch(**launch_options())


if __name__ == "__main__":
    main()
