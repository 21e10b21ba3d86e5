"""The handlers of the teaching views: the explanation panel, the same-noise comparison and the papers' tables.

A mixin of `handlers.Handlers`, over the same model cache (`self.cache`); like every handler,
those that validate input turn a `RequestError` into one `gr.Error` (`requests.user_errors`).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator

import gradio as gr

from ..data import is_point_set
from ..evaluation.toy import quick_report
from ..samplers import SAMPLERS, model_calls
from . import charts, compare, explain, result, tables
from .cache import ModelCache
from .errors import user_errors
from .requests import (
    MAX_GUIDANCE,
    RequestError,
    check_guidance,
    check_variance,
    compare_side_values,
    known_model,
    number,
    session_of,
    validate_request,
)
from .threads import SHARE


class TeachingHandlers:
    cache: ModelCache
    _stops: dict[str, threading.Event]

    def _session_stop(self, request, what: str, clear: bool = True) -> threading.Event:
        """The stop event of this session's `what` ("run", "compare"), cleared for a new one unless not
        `clear`; a fresh one where there is no session (a direct call)."""
        session = session_of(request)
        if not session:
            return threading.Event()
        stop = self._stops.setdefault(f"{session}:{what}", threading.Event())
        if clear:
            stop.clear()
        return stop

    @user_errors
    def compare_samplers(self, model, class_name, num_samples, seed, a_sampler, a_steps, a_eta, a_guidance,
                         a_guidance_kind, a_classifier_scale, b_sampler, b_steps, b_eta, b_guidance, b_guidance_kind,
                         b_classifier_scale, request: gr.Request = None, progress=gr.Progress()) -> Iterator[tuple]:
        """Run two sampler settings (each with its guidance: CFG's w, the classifier's s, or both) from the
        same initial noise; a side-by-side picture and their timings. Streams each side's progress;
        `stop_compare` (for this session) ends it at the next step."""
        session, shared = session_of(request), [model, class_name, num_samples, seed]
        first = validate_request(self.cache, *compare_side_values(
            shared, [a_sampler, a_steps, a_eta, a_guidance, a_guidance_kind, a_classifier_scale]), session=session)
        second = validate_request(self.cache, *compare_side_values(
            shared, [b_sampler, b_steps, b_eta, b_guidance, b_guidance_kind, b_classifier_scale]), session=session)
        stop = self._session_stop(request, "compare")
        reached = None
        for item in compare.compare_steps(self.cache, first, second, stop=stop):
            if isinstance(item, compare.CompareProgress):
                reached = item
                setting = (first if item.side == "A" else second).setting()
                progress((item.step, item.num_steps), desc=f"{item.side} ({setting})", unit="steps")
                yield gr.skip(), gr.skip()
            else:
                yield item
                return
        if reached is not None:  # stopped
            yield gr.skip(), {"status": "stopped", "side": reached.side, "step": reached.step,
                              "num_steps": reached.num_steps}

    def compare_guide_controls(self, model, request: gr.Request = None) -> tuple:
        """Each side's guidance kind and s: shown for a model with a guide."""
        try:
            offered = self.cache.info(known_model(self.cache, model, session_of(request))).has_guide
        except Exception:  # a model that cannot be loaded: plain controls; Compare says why
            offered = False
        return tuple(gr.update(visible=offered) for _ in range(4))

    def stop_compare(self, request: gr.Request = None) -> None:
        """Stop this session's comparison at its next step."""
        self._session_stop(request, "compare", clear=False).set()

    def compare_words(self, summary) -> str:
        """The comparison in plain words: each side's setting, time and quality."""
        if isinstance(summary, dict) and summary.get("status") == "stopped":
            return (f"**Stopped** at step {summary['step']} of {summary['num_steps']} of side {summary['side']}; "
                    "press **Compare** to run both again.")
        if not isinstance(summary, dict) or "sides" not in summary:
            return ""
        lines = []
        for name, side in zip("AB", summary["sides"]):
            setting = result.setting_words({**side, "class": summary["class"]})
            words = [f"**{name}** ({setting}): {side['seconds']:.2f} s."]
            quality = side.get("quality") or {}
            if "sw_ratio" in quality:
                words += result.points_quality_words(quality, summary["class"], side["guidance"])
            elif quality:
                words += result.characters_quality_words(quality, summary["class"])
            lines.append(" ".join(words))
        lines.append(f"From the same noise, paired samples end {summary['mean_distance_between_paired_samples']:.3f} "
                     "apart on average (0: the two samplers agree exactly).")
        return "\n\n".join(lines)

    @user_errors
    def explain_run(self, model, sampler, steps, eta, class_name, guidance, guidance_kind="classifier-free",
                    classifier_scale=0.0, variance="default") -> str:
        """The explanation panel for these controls (Markdown with LaTeX); an unknown model or sampler
        falls back to the first model and DDIM, and a guidance kind or Σ the model cannot use to the
        plain ones, so the panel always shows something."""
        names = self.cache.names()
        info = self.cache.info(model if isinstance(model, str) and model in names else names[0])
        steps = number(steps, "steps", 1, info.num_train_steps, whole=True)
        eta = number(eta, "eta", 0.0, 1.0, whole=False)
        guidance = number(guidance, "w", 0.0, MAX_GUIDANCE, whole=False)
        sampler = sampler if isinstance(sampler, str) and sampler in SAMPLERS else "ddim"
        label = class_name if isinstance(class_name, str) and class_name in info.class_names else None
        calls = model_calls(sampler, steps, self.cache.served(info.name).pipeline.schedule)
        try:
            kind, guidance, scale = check_guidance(info, guidance_kind, guidance, classifier_scale,
                                                   None if label is None else info.class_names.index(label))
            variance = check_variance(info, variance, sampler)
        except RequestError:
            kind, scale, variance = "classifier-free", 0.0, check_variance(info, "default", sampler)
        return explain.explanation(sampler, steps, eta, label, guidance, info.num_train_steps, info.kind, calls,
                                   info.prediction, kind, scale, variance)

    def sweep_figures(self, model) -> tuple:
        """The guidance and steps sweeps `train_toy.py eval` measured for `model`; None where not evaluated."""
        known = model in self.cache.names()
        folder = self.cache.folder(model) if known else None
        report = tables.read_eval(folder) if folder is not None else None
        schedule = self.cache.get(model).schedule if known else None
        # With a classifier sweep too, CFG against w beside classifier guidance against s.
        guidance = charts.guidance_pair_figure(report) or tables.guidance_sweep_figure(report)
        return guidance, tables.steps_sweep_figure(report, schedule)

    def variance_figure(self, model):
        """The learned-variance chart of `model` (`charts.variance_figure`); None unless it learned its Σ and
        was evaluated."""
        folder = self.cache.folder(model) if model in self.cache.names() else None
        return charts.variance_figure(tables.read_eval(folder)) if folder is not None else None

    def variance_chart(self, model):
        """`variance_figure` as an update of its chart, hidden where there is none."""
        figure = self.variance_figure(model)
        return gr.update(value=figure, visible=figure is not None)

    def prediction_figure(self, dataset: str = "moons"):
        """The chart of `dataset`'s models that differ in what the network predicts (`tables.prediction_figure`),
        from their eval.json; None unless two or more are evaluated."""
        reports = {}
        for name in self.cache.names():
            info, folder = self.cache.info(name), self.cache.folder(name)
            if info.dataset == dataset and folder is not None and info.prediction not in reports:
                reports[info.prediction] = tables.read_eval(folder)
        return tables.prediction_figure(reports)

    def papers_tables(self, model) -> tuple:
        """`sweep_figures` as updates of the two charts, hidden where not evaluated."""
        return tuple(gr.update(value=f, visible=f is not None) for f in self.sweep_figures(model))

    @user_errors
    def recompute_tables(self, model) -> tuple:
        """The two sweeps measured now on a small sample (2D models; EMNIST's take minutes: train_toy.py eval)."""
        info = self.cache.info(known_model(self.cache, model))
        if info.kind != "points" or not is_point_set(info.dataset):
            raise RequestError(f"{model}: the sweeps of an image model take minutes; run "
                               f"`python train_toy.py eval {model} --data-dir ...` instead")
        with SHARE.run():
            report = quick_report(self.cache.get(model), info.dataset, n_points=1000, per_class=200)
        figures = (charts.guidance_pair_figure(report) or tables.guidance_sweep_figure(report),
                   tables.steps_sweep_figure(report))
        return tuple(gr.update(value=f, visible=True) for f in figures)
