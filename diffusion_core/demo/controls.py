"""`/sample`'s controls on the page: built from SAMPLE_INPUTS, and fitted to the model, class and guidance kind.

`sample_controls` lays them out (the ones that shape a run in view, the rest under "More
options"); the `*_state` functions say what each control shows for the current choices, so
the handlers that update them stay one line each.
"""

from __future__ import annotations

import math

import gradio as gr

from ..samplers import SAMPLERS as SAMPLER_NAMES
from ..samplers import sampler_label
from .cache import MAX_IMAGES, MAX_POINTS, ModelCache, ModelInfo, model_label
from .requests import (
    GUIDANCE_KINDS,
    MAX_CLASSIFIER_SCALE,
    MAX_GUIDANCE,
    MAX_SEED,
    SAMPLE_INPUT_NAMES,
    SAMPLE_INPUTS,
    UNCONDITIONAL,
)

GUIDANCE_HELP = "ε̃ = (1+w)·ε(x, class) − w·ε(x, ∅); w = 0 is plain conditional sampling."
STRONG_GUIDANCE = 5.0  # past this the 2D samples leave their class's data (the guidance sweeps in eval.json)
SAMPLERS = [(sampler_label(name), name) for name in SAMPLER_NAMES]
FIELD_CHOICES = [("off", "off"), ("the score the sampler follows", "guided"),
                 ("conditional, unconditional and guided", "all")]
KIND_CHOICES = [("classifier-free (w)", "classifier-free"), ("classifier (s)", "classifier"), ("both", "both")]
# requests.VARIANCE_CHOICES, named for people.
VARIANCE_LABELS = [("the model's own", "default"), ("β̃ₜ (fixed_small)", "fixed_small"),
                   ("βₜ (fixed_large)", "fixed_large"), ("learned", "learned")]


def class_choices(info: ModelInfo) -> list[str]:
    return [UNCONDITIONAL, *info.class_names]


def samples_label(info: ModelInfo) -> str:
    return "Points" if info.kind == "points" else "Characters"


def guidance_state(class_name, guidance, kind: str = "classifier-free") -> dict:
    """The guidance slider's label, help, value and whether it can be moved, for a class, a weight and a kind."""
    if class_name == UNCONDITIONAL or not isinstance(class_name, str):
        return {"interactive": False, "value": 0.0, "label": "Guidance weight w (off: no class chosen)",
                "info": "Guidance steers toward a class; pick one above to use it. " + GUIDANCE_HELP}
    w = guidance if isinstance(guidance, (int, float)) and math.isfinite(guidance) and guidance > 0 else 3.0
    if kind == "classifier":
        return {"interactive": False, "value": w, "label": "Guidance weight w (off: classifier guidance)",
                "info": "The classifier steers the unconditional network; choose 'both' to add w as well."}
    info = GUIDANCE_HELP
    if w > STRONG_GUIDANCE:
        info = (f"w = {w:g} is strong: samples overshoot their class and pile up at the edge of the x̂₀ clip box; "
                "1 to 5 keeps them on the data. " + GUIDANCE_HELP)
    return {"interactive": True, "value": w, "label": "Guidance weight w", "info": info}


def kind_state(info: ModelInfo | None, class_name, kind) -> dict:
    """The guidance-kind choice: shown where the model has a guide and a class is chosen."""
    offered = info is not None and info.has_guide and class_name in info.class_names
    return {"visible": offered, "value": kind if offered and kind in GUIDANCE_KINDS else "classifier-free"}


def scale_state(info: ModelInfo | None, class_name, kind) -> dict:
    """The classifier-scale slider: shown when the kind uses the classifier."""
    return {"visible": kind_state(info, class_name, kind)["value"] != "classifier-free"}


def variance_state(info: ModelInfo | None, sampler, variance) -> dict:
    """DDPM's Σ choice: shown for DDPM; "learned" offered only by a model that learned it."""
    learned = info is not None and info.learns_variance
    choices = [pair for pair in VARIANCE_LABELS if learned or pair[1] != "learned"]
    keep = variance if variance in {value for _, value in choices} else "default"
    return {"visible": str(sampler).lower() == "ddpm", "choices": choices, "value": keep}


def sample_controls(cache: ModelCache, first: ModelInfo, max_steps: int) -> dict[str, gr.components.Component]:
    """One control per entry of SAMPLE_INPUTS, with its label, help and default: the ones that shape a run
    in view, the rest folded under "More options"."""
    spec = {i.name: {"label": i.label, "info": i.info, "value": i.default} for i in SAMPLE_INPUTS}
    spec["model"]["value"] = first.name
    spec["steps"]["value"] = min(spec["steps"]["value"], first.num_train_steps)
    spec["num_samples"].update(value=first.default_samples, label=samples_label(first),
                               info=f"up to {MAX_POINTS} points or {MAX_IMAGES} characters")
    kind = {**spec["guidance_kind"], **kind_state(first, UNCONDITIONAL, spec["guidance_kind"]["value"])}
    controls = {
        "model": gr.Dropdown([(model_label(n), n) for n in cache.names()], elem_id="model", **spec["model"]),
        "sampler": gr.Radio(SAMPLERS, elem_id="sampler", **spec["sampler"]),
        "steps": gr.Slider(1, max_steps, step=1, elem_id="steps", **spec["steps"]),
        # Choices follow the model; a custom value is checked on run.
        "class_name": gr.Dropdown(class_choices(first), allow_custom_value=True, elem_id="class", **spec["class_name"]),
        "guidance_kind": gr.Radio(KIND_CHOICES, elem_id="guidance-kind", **kind),
        "guidance": gr.Slider(0.0, MAX_GUIDANCE, step=0.25, elem_id="guidance",
                              **{**spec["guidance"], **guidance_state(UNCONDITIONAL, spec["guidance"]["value"])}),
        "classifier_scale": gr.Slider(0.0, MAX_CLASSIFIER_SCALE, step=0.5, elem_id="classifier-scale",
                                      **{**spec["classifier_scale"], **scale_state(first, UNCONDITIONAL, kind["value"])}),
    }
    with gr.Accordion("More options: samples, η, Σ, seed, what to show", open=False, elem_id="more-options"):
        controls["num_samples"] = gr.Slider(1, MAX_POINTS, step=1, elem_id="num-samples", **spec["num_samples"])
        controls["eta"] = gr.Slider(0.0, 1.0, step=0.05, visible=spec["sampler"]["value"] == "ddim", elem_id="eta",
                                    **spec["eta"])
        variance = variance_state(first, spec["sampler"]["value"], spec["variance"]["value"])
        controls["variance"] = gr.Dropdown(elem_id="variance", **{**spec["variance"], **variance})
        with gr.Row():
            controls["seed"] = gr.Number(precision=0, minimum=0, maximum=MAX_SEED, elem_id="seed", min_width=120,
                                         **spec["seed"])
            random_seed = gr.Checkbox(True, label="New seed every run", elem_id="random-seed", min_width=120,
                                      info="off: Run repeats the seed above")
        # Remembered in the page: the Run button's script reads it even while this section is folded.
        random_seed.change(None, random_seed, None, js="(on) => { window.diffusionNewSeed = on; }")
        controls["show_x0"] = gr.Checkbox(elem_id="show-x0", **spec["show_x0"])
        controls["field"] = gr.Radio(FIELD_CHOICES, elem_id="field", visible=first.kind == "points", **spec["field"])
    return {name: controls[name] for name in SAMPLE_INPUT_NAMES}

