"""Diffusion, step by step: pick a model, a sampler, steps, class and guidance, and watch the samples form.

The UI only: layout, events and validation messages. Validation and the model cache
live in diffusion_core.serving, the streamed run, scrubbing and GIFs in
diffusion_core.live, frame thinning in diffusion_core.frames, pictures in
diffusion_core.plots. `python app.py` serves on
GRADIO_SERVER_NAME:GRADIO_SERVER_PORT (Gradio's defaults otherwise), with each model's
weights from the Hub repo in DIFFUSION_HUB_REPO at DIFFUSION_HUB_REVISION when set.
"""

from __future__ import annotations

from pathlib import Path

import gradio as gr

from diffusion_core import compare, explain, live, serving, tables, threads
from diffusion_core.data import TOY_DATASETS
from diffusion_core.evaluation import quick_report
from diffusion_core.frames import TrajectoryStore

ASSETS = Path(__file__).resolve().parent / "assets"
SAMPLE_CONCURRENCY = 2  # two CPU cores: two runs at once (threads.SHARE gives each half the cores)
QUEUE_SIZE = 32
# Gradio's queue loop polls for new requests every 1 ms while it is idle, waking the server
# thread a thousand times a second; the sampling thread of a run in progress then keeps
# losing the GIL and a core (measured: a lone 2D run 12% slower beside an idle server than
# alone, 4% at 20 ms). Every 10 ms is plenty for a person pressing Run.
QUEUE_POLL_S = 0.01
DEFAULT_MODEL = "moons"

INTRO = """
# Diffusion, step by step
Pick a trained model and a sampler, press **Run**, and watch pure noise turn into samples.
For the 2D models the blue points are the current x<sub>t</sub> and the faint dots the true data the
model learned; for EMNIST each tile is one character being drawn out of noise.
"""

VIEWS_NOTE = """
Tick **Show the model's guess x̂₀** to see, in crimson, where the network expects each sample to end up at
that step: early guesses gather near the data's average, then spread out over the data. The quality meter
in the run summary compares 2D samples with fresh data of the same class (sliced-Wasserstein ratio, ≈ 1 is
as good as real data) and, for a class, the share of samples whose nearest real point has that class. For
EMNIST it says what the project's own character classifier reads in the batch: the share read as the class
asked for (either case for letters like c, o, s whose cases look alike) and the batch's diversity.
"""


EXAMPLES = [
    ("moons · DDPM, all 1000 steps", ["moons", "ddpm", 1000, 0.0, "unconditional", 0.0, 2000, 0, False, "off"]),
    ("moons · DDIM-50 · upper moon, w = 3", ["moons", "ddim", 50, 0.0, "upper moon", 3.0, 2000, 1, False, "off"]),
    ("moons_circles · DDIM-25 · moons, w = 5, with x̂₀",
     ["moons_circles", "ddim", 25, 0.0, "moons", 5.0, 3000, 2, True, "off"]),
    ("circles · DDPM-100 · inner ring, w = 1, with the three fields",
     ["circles", "ddpm", 100, 0.0, "inner ring", 1.0, 2000, 3, False, "all"]),
    ("swissroll · DDIM-10, η = 1, with the score field", ["swissroll", "ddim", 10, 1.0, "unconditional", 0.0, 2000, 4, False, "guided"]),
    ("emnist · DDIM-50 · 'A', w = 3", ["emnist", "ddim", 50, 0.0, "A", 3.0, 16, 5, False, "off"]),
    ("emnist · DDIM-25 · 'g', w = 1, with x̂₀", ["emnist", "ddim", 25, 0.0, "g", 1.0, 16, 6, True, "off"]),
]


def _example_fits(cache: serving.ModelCache, names: list[str], values: list) -> bool:
    """Offer an example only when its model is served and its request is valid for it."""
    if values[0] not in names:
        return False
    try:
        serving.validate_request(cache, *values)
    except serving.RequestError:
        return False
    return True


def build_demo(cache: serving.ModelCache, store: TrajectoryStore | None = None) -> gr.Blocks:
    """The Blocks app over the models in `cache`."""
    store = store or TrajectoryStore()
    names = cache.names()
    default_model = DEFAULT_MODEL if DEFAULT_MODEL in names else names[0]
    first = cache.info(default_model)
    max_steps = max(cache.info(name).num_train_steps for name in names)

    def class_choices(info: serving.ModelInfo) -> list[str]:
        return [serving.UNCONDITIONAL, *info.class_names]

    def samples_label(info: serving.ModelInfo) -> str:
        return "Points" if info.kind == "points" else "Characters"

    def as_gr_error(error: serving.RequestError) -> gr.Error:
        return gr.Error(str(error), title="Cannot run this request", print_exception=False)

    def sample(model, sampler, steps, eta, class_name, guidance, num_samples, seed, show_x0, field="off"):
        """Sample a model and stream the trajectory; ends with the final picture and a JSON summary."""
        try:
            request = serving.validate_request(
                cache, model, sampler, steps, eta, class_name, guidance, num_samples, seed, show_x0, field
            )
        except serving.RequestError as error:
            raise as_gr_error(error) from None
        first_update = True
        for update in live.run_sample(request, cache, store):
            if isinstance(update, live.LiveFrames):
                # Plain values while the run plays, not gr.skip(): Gradio builds a new component for
                # every skipped output of every message (~2.5 ms each, holding the GIL the sampling
                # thread needs: 14 ms a message, half a second of a 1000-step run), while a value
                # equal to the last one sends an empty diff. The old run's final picture, GIF and
                # scrub position no longer match what plays, so they are cleared; the summary
                # says how far the run has got.
                scrub_position = gr.update(value=0, interactive=False) if first_update else 0
                first_update = False
                yield update.message, None, None, update.progress, scrub_position, gr.skip(), None
                continue
            # Which of the plot and the image grid shows follows the model (model_controls).
            yield (
                update.message,
                update.figure,
                update.grid,
                update.summary,
                gr.update(minimum=0, maximum=max(update.keyframes - 1, 1), value=update.keyframes - 1,
                          step=1, interactive=update.keyframes > 1),
                update.run_id,
                gr.skip(),
            )

    sample_on_device = serving.on_gpu_when_available(sample)

    def show_frame(run_id, position):
        """The stored keyframe at `position` of the last run, painted on the live canvas."""
        try:
            return live.scrub_message(store, cache, run_id, position)
        except serving.RequestError as error:
            raise as_gr_error(error) from None

    def make_gif(run_id):
        """An animated GIF of the last run's trajectory."""
        try:
            return str(live.trajectory_gif(store, cache, run_id))
        except serving.RequestError as error:
            raise as_gr_error(error) from None

    def model_controls(model, class_name, steps, num_samples, previous_kind):
        """Fit the controls to `model`: its classes, its number of training steps, its sample limit."""
        if model not in names:
            message = f"unknown model {model!r}; choose one of: {', '.join(names)}"
            raise gr.Error(message, print_exception=False)
        info = cache.info(model)
        keep_class = class_name if class_name in info.class_names else serving.UNCONDITIONAL
        kind_changed = info.kind != previous_kind or not isinstance(num_samples, (int, float))
        return (
            gr.update(choices=class_choices(info), value=keep_class),
            gr.update(maximum=info.num_train_steps, value=min(int(steps or 1), info.num_train_steps)),
            gr.update(maximum=info.max_samples, label=samples_label(info),
                      value=info.default_samples if kind_changed else num_samples),
            live.intro_message(cache, model, keep_class),
            gr.update(visible=info.kind == "points"),
            gr.update(visible=info.kind == "images"),
            info.kind,
        )

    def load_weights(model, repo_id, revision):
        """Serve `model` with a Hub repo's weights at a revision (empty repo id: the shipped weights)."""
        for value, what in ((repo_id, "repo id"), (revision, "revision")):
            if value is not None and not isinstance(value, str):
                raise gr.Error(f"the {what} must be text, got {value!r}", print_exception=False)
        try:
            switched, message = cache.load_weights(model, repo_id, revision)
        except serving.RequestError as error:
            raise as_gr_error(error) from None
        if not switched:
            gr.Warning(message, title="Weights not changed")
            return weights_markdown(model, problem=message)
        gr.Info(message, title="Weights loaded")
        return weights_markdown(model)

    def weights_markdown(model, problem: str | None = None) -> str:
        """Where the weights in use come from, and the last failure to change them when there was one."""
        if model not in names:
            return ""
        lines = [f"**In use:** {cache.weights_message(model)}"]
        if problem:
            lines.append(f"**Not changed:** {problem}")
        return "\n\n".join(lines)

    def compare_samplers(model, class_name, num_samples, seed, a_sampler, a_steps, a_eta, a_guidance,
                         b_sampler, b_steps, b_eta, b_guidance):
        """Run two sampler settings from the same initial noise; a side-by-side picture and their timings."""
        try:
            first = serving.validate_request(cache, model, a_sampler, a_steps, a_eta, class_name, a_guidance,
                                             num_samples, seed)
            second = serving.validate_request(cache, model, b_sampler, b_steps, b_eta, class_name, b_guidance,
                                              num_samples, seed)
        except serving.RequestError as error:
            raise as_gr_error(error) from None
        return compare.compare(cache, first, second)

    def explain_run(model, sampler, steps, eta, class_name, guidance):
        """The explanation panel for these controls (Markdown with LaTeX); bad values fall back to defaults."""
        info = cache.info(model if model in names else default_model)
        try:
            steps = serving.number(steps, "steps", 1, info.num_train_steps, whole=True)
            eta = serving.number(eta, "eta", 0.0, 1.0, whole=False)
            guidance = serving.number(guidance, "w", 0.0, serving.MAX_GUIDANCE, whole=False)
        except serving.RequestError as error:
            raise as_gr_error(error) from None
        sampler = sampler if sampler in serving.SAMPLERS else "ddim"
        label = class_name if class_name in info.class_names else None
        return explain.explanation(sampler, steps, eta, label, guidance, info.num_train_steps, info.kind)

    def sweep_figures(model) -> tuple:
        """The guidance and steps sweeps `train_toy.py eval` measured for `model`; None where not evaluated."""
        folder = cache.folder(model) if model in names else None
        report = tables.read_eval(folder) if folder is not None else None
        return tables.guidance_sweep_figure(report), tables.steps_sweep_figure(report)

    def papers_tables(model):
        return tuple(gr.update(value=f, visible=f is not None) for f in sweep_figures(model))

    def recompute_tables(model):
        """The two sweeps measured now on a small sample (2D models; EMNIST's take minutes: train_toy.py eval)."""
        if model not in names:
            raise gr.Error(f"unknown model {model!r}; choose one of: {', '.join(names)}", print_exception=False)
        info = cache.info(model)
        if info.kind != "points" or info.dataset not in TOY_DATASETS:
            raise gr.Error(f"{model}: the sweeps of an image model take minutes; run "
                           f"`python train_toy.py eval {model} --data-dir ...` instead", print_exception=False)
        with threads.SHARE.run():
            report = quick_report(cache.get(model), info.dataset, n_points=1000, per_class=200)
        figures = (tables.guidance_sweep_figure(report), tables.steps_sweep_figure(report))
        return tuple(gr.update(value=f, visible=True) for f in figures)

    def sampler_controls(sampler):
        """η only applies to DDIM."""
        return gr.update(visible=str(sampler).lower() == "ddim")

    def class_controls(class_name):
        """The guidance weight only applies to a class."""
        return gr.update(interactive=class_name != serving.UNCONDITIONAL)

    with gr.Blocks(title="Diffusion, step by step") as demo:
        gr.Markdown(INTRO)
        with gr.Row(equal_height=False):
            with gr.Column(scale=1, min_width=300):
                model = gr.Dropdown(names, value=default_model, label="Model",
                                    info="2D toy sets (points) or EMNIST characters (images)")
                sampler = gr.Radio([("DDPM", "ddpm"), ("DDIM", "ddim")], value="ddim", label="Sampler")
                steps = gr.Slider(1, max_steps, value=min(50, first.num_train_steps), step=1, label="Steps",
                                  info="1 to T; fewer than T respaces the schedule (DDPM too)")
                eta = gr.Slider(0.0, 1.0, value=0.0, step=0.05, label="η (DDIM only)",
                                info="0: deterministic; 1: as much fresh noise as DDPM")
                class_name = gr.Dropdown(class_choices(first), value=serving.UNCONDITIONAL, label="Class",
                                         allow_custom_value=True)  # choices follow the model; checked on run
                guidance = gr.Slider(0.0, serving.MAX_GUIDANCE, value=3.0, step=0.25, interactive=False,
                                     label="Guidance weight w",
                                     info="ε̃ = (1+w)·ε(x, class) − w·ε(x, ∅); w = 0 is plain conditional "
                                          "sampling. Pick a class to use it.")
                num_samples = gr.Slider(1, serving.MAX_POINTS, value=first.default_samples, step=1,
                                        label=samples_label(first),
                                        info=f"up to {serving.MAX_POINTS} points or "
                                             f"{serving.MAX_IMAGES} characters")
                seed = gr.Number(0, precision=0, minimum=0, maximum=serving.MAX_SEED, label="Seed")
                show_x0 = gr.Checkbox(False, label="Show the model's guess x̂₀",
                                      info="where the network thinks each sample will end up, at every step")
                field = gr.Radio(
                    [("off", "off"), ("the score the sampler follows", "guided"),
                     ("conditional, unconditional and guided", "all")],
                    value="off", label="Learned field (2D)", elem_id="field",
                    info="arrows of the score −ε̂/√(1−ᾱₜ) on a grid at each frame's timestep, and the paths "
                         "of a few samples; with a class, 'all' shows what guidance adds",
                    visible=first.kind == "points",
                )
                with gr.Row():
                    run = gr.Button("Run", variant="primary", elem_id="run-button")
                    stop = gr.Button("Stop", variant="stop", elem_id="stop-button")
                inputs = [model, sampler, steps, eta, class_name, guidance, num_samples, seed, show_x0, field]
                shown = [(label, values) for label, values in EXAMPLES if _example_fits(cache, names, values)]
                examples = gr.Examples(
                    [values for _, values in shown],
                    inputs,
                    example_labels=[label for label, _ in shown],
                    label="One-click examples",
                )
                # Opened at start-up when a Space could not get its Hub weights, so the reason is in view.
                hub_failed = any("Hub weights not loaded" in cache.weights_message(name) for name in names)
                with gr.Accordion("Weights", open=hub_failed, elem_id="weights"):
                    hub_repo = gr.Textbox(label="Hugging Face Hub repo", placeholder="USER/REPO (empty: shipped weights)",
                                          info="a model repo with one folder per model, as `train_toy.py push` makes")
                    hub_revision = gr.Textbox(label="Revision", placeholder="main",
                                              info="a branch, tag or commit SHA; pin a SHA to get the same weights")
                    load = gr.Button("Load weights for this model", elem_id="load-weights")
                    weights_status = gr.Markdown(weights_markdown(default_model), elem_id="weights-status")
            with gr.Column(scale=4):
                with gr.Row(equal_height=False):
                    with gr.Column(scale=5, min_width=340):
                        live_view = gr.HTML(
                            live.intro_message(cache, default_model),
                            html_template='<canvas class="dm-canvas" width="960" height="1042"></canvas>',
                            css_template=(ASSETS / "live_canvas.css").read_text(),
                            js_on_load=(ASSETS / "live_canvas.js").read_text(),
                            elem_id="live-canvas",
                        )
                        scrub = gr.Slider(0, 1, value=0, step=1, interactive=False, elem_id="scrub",
                                          label="Scrub the trajectory",
                                          info="after a run: drag through the stored frames")
                    with gr.Column(scale=4, min_width=320):
                        final_plot = gr.Plot(label="Final samples (zoom, pan, hover)", elem_id="final-plot",
                                             visible=first.kind == "points")
                        final_images = gr.Image(label="Final characters", elem_id="final-images",
                                                type="numpy", image_mode="L", format="png", height=520,
                                                visible=first.kind == "images")
                        summary = gr.JSON(label="Run summary", elem_id="summary", open=True)
                        gif = gr.File(label="Trajectory GIF", elem_id="gif")
                with gr.Accordion("What am I looking at? The equations of this run", open=False):
                    explanation = gr.Markdown(
                        explain_run(default_model, "ddim", min(50, first.num_train_steps), 0.0,
                                    serving.UNCONDITIONAL, 3.0),
                        latex_delimiters=explain.LATEX_DELIMITERS, elem_id="explanation",
                    )
                    gr.Markdown(VIEWS_NOTE)
                with gr.Accordion("Compare two samplers from the same noise", open=False, elem_id="compare"):
                    gr.Markdown("Both runs use the model, class, number of samples and seed chosen above, so they "
                                "start from the very same x<sub>T</sub>: any difference is the sampler's doing. "
                                "A is drawn on the left, B on the right, each captioned with its time.")
                    sides = []
                    with gr.Row():
                        for name, preset in (("A", ("ddpm", 1000, 0.0, 0.0)), ("B", ("ddim", 50, 0.0, 0.0))):
                            with gr.Column(min_width=220):
                                sides += [
                                    gr.Radio([("DDPM", "ddpm"), ("DDIM", "ddim")], value=preset[0],
                                             label=f"{name}: sampler"),
                                    gr.Slider(1, max_steps, value=min(preset[1], first.num_train_steps), step=1,
                                              label=f"{name}: steps"),
                                    gr.Slider(0.0, 1.0, value=preset[2], step=0.05, label=f"{name}: η (DDIM)"),
                                    gr.Slider(0.0, serving.MAX_GUIDANCE, value=preset[3], step=0.25,
                                              label=f"{name}: guidance w (with a class)"),
                                ]
                    run_compare = gr.Button("Compare", elem_id="compare-button")
                    compared = gr.Image(label="A (left) and B (right), same initial noise", type="numpy",
                                        format="png", elem_id="compare-image", show_label=False)
                    compare_summary = gr.JSON(label="Timings and quality", elem_id="compare-summary")
                with gr.Accordion("The papers' tables in miniature, for this model", open=False):
                    gr.Markdown("Measured by `python train_toy.py eval MODEL` and stored beside the weights "
                                "(`eval.json`): the guidance trade-off of the classifier-free guidance paper and "
                                "the quality-against-steps table of the DDIM paper.")
                    recompute = gr.Button("Recompute on a small sample (2D: 1000 points, 200 per class)",
                                          elem_id="recompute-tables", size="sm")
                    first_guidance, first_steps = sweep_figures(default_model)
                    with gr.Row():
                        guidance_chart = gr.Plot(first_guidance, elem_id="guidance-sweep",
                                                 visible=first_guidance is not None, show_label=False)
                        steps_chart = gr.Plot(first_steps, elem_id="steps-sweep",
                                              visible=first_steps is not None, show_label=False)
        run_id = gr.State(None)
        model_kind = gr.State(first.kind)

        outputs = [live_view, final_plot, final_images, summary, scrub, run_id, gif]
        run_options = {
            "outputs": outputs,
            # API clients bypass the UI's limits, so serving.validate_request checks the raw values.
            "preprocess": False,
            "show_progress": "minimal",
            "concurrency_limit": SAMPLE_CONCURRENCY,
            "concurrency_id": "sample",
        }
        run_event = run.click(sample_on_device, inputs, api_name="sample", trigger_mode="once", **run_options)
        run_event.success(make_gif, run_id, gif, api_name="gif", concurrency_limit=1, concurrency_id="gif",
                          show_progress="minimal")

        example_event = examples.load_input_event.then(sample_on_device, inputs, api_name="sample_example",
                                                       api_visibility="undocumented", **run_options)
        example_event.success(make_gif, run_id, gif, api_name="gif_example", api_visibility="undocumented",
                              concurrency_limit=1, concurrency_id="gif", show_progress="minimal")
        stop.click(None, None, None, cancels=[run_event, example_event], api_name="stop")

        scrub.input(show_frame, [run_id, scrub], live_view, api_name="scrub", show_progress="hidden",
                    trigger_mode="always_last", queue=False)
        model.change(model_controls, [model, class_name, steps, num_samples, model_kind],
                     [class_name, steps, num_samples, live_view, final_plot, final_images, model_kind],
                     api_name="model_controls", show_progress="hidden")
        model.change(weights_markdown, model, weights_status, api_name="weights_status", show_progress="hidden")
        model.change(papers_tables, model, [guidance_chart, steps_chart], api_name="papers_tables",
                     show_progress="hidden")
        recompute.click(recompute_tables, model, [guidance_chart, steps_chart], api_name="recompute_tables",
                        concurrency_limit=1, concurrency_id="sample")
        model.change(lambda name: gr.update(visible=name in names and cache.info(name).kind == "points"),
                     model, field, api_name="field_controls", api_visibility="undocumented",
                     show_progress="hidden")
        load.click(load_weights, [model, hub_repo, hub_revision], weights_status, api_name="load_weights",
                   concurrency_limit=1, concurrency_id="weights").success(
            model_controls, [model, class_name, steps, num_samples, model_kind],
            [class_name, steps, num_samples, live_view, final_plot, final_images, model_kind],
            show_progress="hidden", api_visibility="undocumented",
        )
        sampler.change(sampler_controls, sampler, eta, api_name="sampler_controls", show_progress="hidden")
        run_compare.click(compare_samplers, [model, class_name, num_samples, seed, *sides],
                          [compared, compare_summary], api_name="compare", preprocess=False,
                          concurrency_limit=SAMPLE_CONCURRENCY, concurrency_id="sample")
        explained = [model, sampler, steps, eta, class_name, guidance]
        gr.on([control.change for control in explained], explain_run, explained, explanation,
              api_name="explain", show_progress="hidden", queue=False)
        class_name.change(class_controls, class_name, guidance, api_name="class_controls",
                          show_progress="hidden")

    demo.queue(max_size=QUEUE_SIZE, default_concurrency_limit=SAMPLE_CONCURRENCY)
    slow_queue_polling(demo)
    return demo


def slow_queue_polling(demo: gr.Blocks, seconds: float = QUEUE_POLL_S) -> bool:
    """Make the idle queue loop poll every `seconds` (Gradio has no public setting; False if it moved)."""
    queue = getattr(demo, "_queue", None)
    if queue is None or not isinstance(getattr(queue, "sleep_when_free", None), (int, float)):
        return False
    queue.sleep_when_free = max(queue.sleep_when_free, seconds)
    return True


def launch_options() -> dict:
    """Theme and page CSS (Gradio 6 takes them at launch)."""
    return {
        "theme": gr.themes.Soft(primary_hue="indigo", neutral_hue="slate"),
        "css": (ASSETS / "page.css").read_text(),
    }


def main() -> None:
    cache = serving.ModelCache()
    cache.preload()
    if not cache.names():
        raise SystemExit(f"no loadable checkpoints in {cache.root}; train some with train_toy.py")
    for name in cache.names():
        print(cache.weights_message(name))
    build_demo(cache).launch(**launch_options())


if __name__ == "__main__":
    main()
