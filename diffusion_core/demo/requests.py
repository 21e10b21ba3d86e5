"""A run request from the UI or an API client: the inputs `/sample` declares, checked once, normalised.

`SAMPLE_INPUTS` lists `/sample`'s inputs in their API order with their defaults,
labels and help; the app builds its controls and examples from it. A request
arrives as raw values; `validate_request` turns it into a `SampleRequest` or raises
`RequestError` naming the bad value and what is allowed. The request it returns is
normal: w is 0 without a class, η is None for DDPM (which has none), the class
index is resolved. Everything downstream reads those fields as they are.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import urlencode

import numpy as np

from ..samplers import SAMPLERS, model_calls, sampler_label
from .cost import StepCost, request_rows, run_seconds, steered_rows
from .field import FIELD_MODES

if TYPE_CHECKING:  # the cache checks model names with known_model below
    from .cache import ModelCache

UNCONDITIONAL = "unconditional"
MAX_GUIDANCE = 20.0
MAX_CLASSIFIER_SCALE = 100.0
# Which guidance a run uses: the network's own two predictions (w), a noise-aware classifier steering the
# unconditional network (s, Dhariwal & Nichol 2021), or both on the conditional network.
GUIDANCE_KINDS = ("classifier-free", "classifier", "both")
VARIANCE_CHOICES = ("default", "fixed_small", "fixed_large", "learned")  # DDPM's Σ; default: the model's own
MAX_SEED = 2**31 - 1


class RequestError(ValueError):
    """A request the app will not run; the message names the bad value and what is allowed, and
    `field` the `/sample` input at fault where there is one (so the page can mark that control)."""

    def __init__(self, message: str, field: str | None = None):
        super().__init__(message)
        self.field = field


@dataclass(frozen=True)
class Input:
    """One input of `/sample`: its API name, the UI's default, its label and one line of help."""

    name: str
    default: object
    label: str
    info: str = ""


SAMPLE_INPUTS = (
    Input("model", "moons", "Model", "2D toy sets (points) or EMNIST characters (images)"),
    # The default run: DDPM respaced to 100 steps, the best picture the measurements found within ~0.3 s on
    # two CPU cores for 2000 points (README, "Choosing the default"); 16 EMNIST characters take ~2.5 s.
    Input("sampler", "ddpm", "Sampler",
          "DDPM: the ancestral sampler; DDIM: its deterministic shortcut; DPM-Solver++ and Heun: second-order "
          "ODE solvers (Heun calls the network twice a step); Euler ancestral: DDPM's step in σ-space"),
    Input("steps", 100, "Steps", "1 to T; fewer than T respaces the schedule (DDPM too)"),
    Input("eta", 0.0, "η (DDIM only)", "0: deterministic; 1: as much fresh noise as DDPM"),
    Input("class_name", UNCONDITIONAL, "Class", "the class to draw, or unconditional"),
    Input("guidance", 3.0, "Guidance weight w",
          "ε̃ = (1+w)·ε(x, class) − w·ε(x, ∅); w = 0 is plain conditional sampling. Pick a class to use it."),
    Input("num_samples", 2000, "Points", "how many points or characters to draw"),
    Input("seed", 0, "Seed", "the same seed draws the same initial noise"),
    Input("show_x0", False, "Show the model's guess x̂₀",
          "where the network thinks each sample will end up, at every step"),
    Input("field", "off", "Learned field (2D)",
          "arrows of the score −ε̂/√(1−ᾱₜ) on a grid at each frame's timestep, and the paths of a few samples; "
          "with a class, 'all' shows what guidance adds"),
    Input("guidance_kind", "classifier-free", "Guidance kind",
          "classifier-free: weight w on the network's own conditional and unconditional predictions; classifier: "
          "the unconditional network steered by a noise-aware classifier's ∇ log p(y|xₜ), scale s; both: w and s"),
    Input("classifier_scale", 1.0, "Classifier scale s",
          "s ∇ log p(y|xₜ) added to the score: DDPM shifts its mean by Σ·s∇, the others correct ε̂ by −√(1−ᾱₜ)·s∇"),
    Input("variance", "default", "DDPM variance Σ",
          "fixed_small: β̃ₜ (DDPM's choice); fixed_large: βₜ; learned: the network's own, between the two "
          "(Improved DDPM); default: learned where the model learned it, else fixed_small"),
)
SAMPLE_INPUT_NAMES = tuple(spec.name for spec in SAMPLE_INPUTS)


def input_values(named: Mapping[str, object]) -> list:
    """`/sample`'s positional values from named ones, the defaults filling in what is not named."""
    unknown = sorted(set(named) - set(SAMPLE_INPUT_NAMES))
    if unknown:
        raise ValueError(f"unknown /sample inputs {unknown}; the inputs are {', '.join(SAMPLE_INPUT_NAMES)}")
    return [named.get(spec.name, spec.default) for spec in SAMPLE_INPUTS]


@dataclass(frozen=True)
class SampleRequest:
    """A validated, normalised request: every field is within what `model` allows.

    eta is None for DDPM; guidance is 0 without a class; label_index is the class's
    index in the model's class names (None: unconditional).
    """

    model: str
    sampler: str
    steps: int
    eta: float | None
    class_name: str
    guidance: float
    num_samples: int
    seed: int
    show_x0: bool = False
    field: str = "off"  # the learned field's arrows (2D only): one of field.FIELD_MODES
    label_index: int | None = None
    guidance_kind: str = "classifier-free"  # one of GUIDANCE_KINDS; classifier-free without a class
    classifier_scale: float = 0.0  # s; 0 unless the kind uses the classifier
    variance: str | None = None  # DDPM's Σ, resolved ("fixed_small", "fixed_large", "learned"); None otherwise

    @property
    def label(self) -> str | None:
        """The class name, or None when unconditional."""
        return None if self.class_name == UNCONDITIONAL else self.class_name

    def sampler_options(self) -> dict:
        """The keyword arguments of `Pipeline.trajectory` that run this request."""
        return {
            "sampler": self.sampler,
            "steps": self.steps,
            "label": self.label_index,
            "guidance": self.guidance,
            "eta": 0.0 if self.eta is None else self.eta,
            "seed": self.seed,
            "classifier_scale": self.classifier_scale,
            "conditional": self.guidance_kind != "classifier",
            "variance": self.variance,
        }

    def setting(self) -> str:
        """The sampler setting in a few characters: "DDIM-50, eta=0, w=3"."""
        what = f"{sampler_label(self.sampler)}-{self.steps}"
        if self.eta is not None:
            what += f", eta={self.eta:g}"
        if self.label is not None and self.guidance_kind != "classifier":
            what += f", w={self.guidance:g}"
        if self.classifier_scale > 0:
            what += f", s={self.classifier_scale:g}"
        if self.variance == "learned":
            what += ", learned Σ"
        elif self.variance == "fixed_large":
            what += ", Σ=β"
        return what


def shown(value) -> str:
    """`value` as it appears in an error message: its repr, cut to 60 characters."""
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def number(value, name: str, low: float, high: float, whole: bool, field: str | None = None) -> float | int:
    """`value` as an int (whole) or float within [low, high], or RequestError naming it and the range
    (and, as its `field`, the input it came from)."""
    if whole:
        allowed = f"a whole number from {int(low)} to {int(high)}"
    else:
        allowed = f"a number from {low:g} to {high:g}"
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise RequestError(f"{name} must be {allowed}, got {shown(value)}", field)
    if not math.isfinite(value) or not low <= value <= high or (whole and value != int(value)):
        raise RequestError(f"{name} must be {allowed}, got {shown(value)}", field)
    return int(value) if whole else float(value)


def session_of(request) -> str | None:
    """The visitor's session (None for a direct call): whose own models a request may use."""
    return getattr(request, "session_hash", None) or None


def known_model(cache: ModelCache, model, session: str | None = None) -> str:
    """`model` if the cache serves it (to everyone, or to `session` as that visitor's own), else
    RequestError listing the models it serves to everyone."""
    names = cache.names()
    if isinstance(model, str) and model in cache.private_names(session):
        return model
    if not isinstance(model, str) or model not in names:
        raise RequestError(f"unknown model {shown(model)}; choose one of: {', '.join(names)}", "model")
    return model


def validate_request(
    cache: ModelCache,
    model,
    sampler,
    steps,
    eta,
    class_name,
    guidance,
    num_samples,
    seed,
    show_x0=False,
    field="off",
    guidance_kind="classifier-free",
    classifier_scale=0.0,
    variance="default",
    session: str | None = None,
) -> SampleRequest:
    """Check raw inputs (from the UI or an API client) and return a normal `SampleRequest`, or raise
    RequestError; `session`: the visitor's, whose own models they may ask for."""
    model = known_model(cache, model, session)
    try:
        info = cache.info(model)
    except Exception as error:
        raise RequestError(f"model {model!r} could not be loaded: {error}", "model") from error
    if not isinstance(sampler, str) or sampler.lower() not in SAMPLERS:
        raise RequestError(f"unknown sampler {shown(sampler)}; choose one of {', '.join(SAMPLERS)}", "sampler")
    sampler = sampler.lower()
    steps = number(steps, "steps", 1, info.num_train_steps, whole=True, field="steps")
    eta = number(eta, "eta (η)", 0.0, 1.0, whole=False, field="eta")
    classes = (UNCONDITIONAL, *info.class_names)
    if class_name is None:
        class_name = UNCONDITIONAL
    if not isinstance(class_name, str) or class_name not in classes:
        raise RequestError(
            f"class {shown(class_name)} is not a class of {model}; choose one of: {', '.join(classes)}", "class_name"
        )
    guidance = number(guidance, "guidance weight w", 0.0, MAX_GUIDANCE, whole=False, field="guidance")
    what = "points" if info.kind == "points" else "images"
    num_samples = number(num_samples, f"number of {what} for {model}", 1, info.max_samples, whole=True,
                         field="num_samples")
    seed = number(seed, "seed", 0, MAX_SEED, whole=True, field="seed")
    if show_x0 is None:
        show_x0 = False
    if not isinstance(show_x0, bool):
        raise RequestError(f"show_x0 must be true or false, got {shown(show_x0)}", "show_x0")
    if field is None:
        field = "off"
    if not isinstance(field, str) or field not in FIELD_MODES:
        raise RequestError(f"field must be one of {', '.join(FIELD_MODES)}, got {shown(field)}", "field")
    label_index = info.class_names.index(class_name) if class_name != UNCONDITIONAL else None
    if info.kind != "points":
        field = "off"  # a field of arrows only makes sense in the plane
    guidance_kind, guidance, classifier_scale = check_guidance(info, guidance_kind, guidance, classifier_scale,
                                                               label_index)
    variance = check_variance(info, variance, sampler)
    served = cache.served(model)
    calls_per_step = model_calls(sampler, steps, served.pipeline.schedule) / steps  # Heun: up to 2
    check_cost(served.cost, cache.max_run_seconds, what, steps, num_samples, guidance > 0, field,
               label_index is not None, calls_per_step, classifier_scale > 0)
    return SampleRequest(
        model,
        sampler,
        steps,
        eta if sampler == "ddim" else None,  # only DDIM has an η
        class_name,
        guidance,
        num_samples,
        seed,
        show_x0,
        field,
        label_index,
        guidance_kind,
        classifier_scale,
        variance,
    )


def check_guidance(info, kind, guidance: float, scale, label_index: int | None) -> tuple[str, float, float]:
    """(kind, w, s) normalised: without a class there is no guidance; the classifier kinds need the model's
    guide; w counts only where the kind uses it, s likewise."""
    if kind is None:
        kind = "classifier-free"
    if not isinstance(kind, str) or kind not in GUIDANCE_KINDS:
        raise RequestError(f"guidance kind must be one of {', '.join(GUIDANCE_KINDS)}, got {shown(kind)}",
                           "guidance_kind")
    scale = number(0.0 if scale is None else scale, "classifier scale s", 0.0, MAX_CLASSIFIER_SCALE, whole=False,
                   field="classifier_scale")
    if label_index is None:
        return "classifier-free", 0.0, 0.0  # guidance of either kind needs a class to steer toward
    if kind != "classifier-free" and not info.has_guide:
        why = f"its guide could not be loaded ({info.guide_problem})" if info.guide_problem else "it has no guide"
        raise RequestError(f"classifier guidance needs a noise-aware classifier for {info.name}, and {why}; "
                           "choose classifier-free", "guidance_kind")
    return kind, (0.0 if kind == "classifier" else guidance), (0.0 if kind == "classifier-free" else scale)


def check_variance(info, variance, sampler: str) -> str | None:
    """DDPM's Σ resolved from the request's choice ("default": the model's own); None for the other samplers."""
    if variance is None:
        variance = "default"
    if not isinstance(variance, str) or variance not in VARIANCE_CHOICES:
        raise RequestError(f"variance must be one of {', '.join(VARIANCE_CHOICES)}, got {shown(variance)}", "variance")
    if variance == "learned" and not info.learns_variance:
        raise RequestError(f"{info.name} did not learn its variance; choose fixed_small or fixed_large",
                           "variance")
    if sampler != "ddpm":
        return None
    if variance == "default":
        return "learned" if info.learns_variance else "fixed_small"
    return variance


def check_cost(
    cost: StepCost, limit: float, what: str, steps: int, num_samples: int, guided: bool, field: str, with_class: bool,
    calls_per_step: float = 1.0,
    steered: bool = False,
) -> None:
    """RequestError when the run's estimated time passes `limit`, saying how many steps or samples fit;
    `calls_per_step`: the sampler's network calls per step (Heun's two); `steered`: classifier guidance
    on every sample (its guide's pass counted once a call)."""
    rows = request_rows(num_samples, guided, field, with_class)
    calls = steps * calls_per_step
    guide_rows = steered_rows(num_samples, steered, field)
    seconds = run_seconds(cost, calls, rows, guide_rows)
    if seconds <= limit:
        return
    fitting_steps = math.floor(limit / (cost.step_seconds(rows, guide_rows) * calls_per_step) + 1e-9)
    field_rows = rows - request_rows(num_samples, guided, "off", with_class)
    fixed = cost.fixed + (cost.guide_fixed if steered else 0.0)
    per_sample = cost.per_row * (2 if guided else 1) + (cost.guide_per_row if steered else 0.0)
    fitting_samples = math.floor((limit / calls - fixed - cost.per_row * field_rows) / per_sample + 1e-9) if per_sample else 0
    options = []
    if fitting_steps >= 1:
        options.append(f"{fitting_steps} steps with {num_samples} {what}")
    if fitting_samples >= 1:
        options.append(f"{fitting_samples} {what} with {steps} steps")
    hint = " or ".join(options) if options else "fewer steps and fewer samples"
    raise RequestError(
        f"this run would take about {seconds:.0f} s on this server, and a run may take at most {limit:g} s; "
        f"{hint} would fit (the learned field and guidance each add to a step's cost)", "steps"
    )


def compare_side_values(shared: list, side: list) -> list:
    """`/sample`'s values of one side of `/compare`: the shared inputs and the side's sampler settings."""
    model, class_name, num_samples, seed = shared
    sampler, steps, eta, guidance, kind, scale = side
    return [model, sampler, steps, eta, class_name, guidance, num_samples, seed, False, "off", kind, scale]


# The query parameters of a link that reopens the page with these settings: /?model=moons&steps=50&…
LINK_PARAMETERS = ("model", "sampler", "steps", "eta", "class_name", "guidance", "num_samples", "seed",
                   "guidance_kind", "classifier_scale", "variance")


def settings_query(values: Mapping[str, object]) -> str:
    """A link's query string for `/sample` inputs (the ones in LINK_PARAMETERS that are set)."""
    return "?" + urlencode({name: values[name] for name in LINK_PARAMETERS if values.get(name) is not None})


def settings_from_query(cache: ModelCache, query: Mapping[str, str]) -> dict[str, object]:
    """The `/sample` inputs a link names, checked as a request would be; {} when it names none or a bad one."""
    given = {name: query[name] for name in LINK_PARAMETERS if name in query}
    if not given:
        return {}
    values = dict(zip(SAMPLE_INPUT_NAMES, input_values({})))
    values["model"] = given.get("model", values["model"])
    if isinstance(values["model"], str) and values["model"] in cache.names():  # ?model=emnist: its own defaults
        info = cache.info(values["model"])
        values["num_samples"] = info.default_samples
        values["steps"] = min(int(values["steps"]), info.num_train_steps)
    for name in ("steps", "num_samples", "seed"):
        if name in given:
            values[name] = int(given[name]) if given[name].lstrip("-").isdigit() else given[name]
    for name in ("eta", "guidance", "classifier_scale"):
        if name in given:
            try:
                values[name] = float(given[name])
            except ValueError:
                values[name] = given[name]
    for name in ("sampler", "class_name", "guidance_kind", "variance"):
        values[name] = given.get(name, values[name])
    try:
        validate_request(cache, **values)
    except RequestError:
        return {}
    return values
