"""Classifier guidance and the learned variance in the app: the API, the controls, the field, the words, the charts."""

import json
import math
import os

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

import pytest
import torch
from gradio_client import Client

from diffusion_core.demo import charts, explain, tables
from diffusion_core.demo.controls import kind_state, scale_state, variance_state
from diffusion_core.demo.field import grid_points, score_fields
from diffusion_core.guidance import classifier_gradient
from diffusion_core.weights.pipeline import CHECKPOINTS_DIR, load_pipeline

pytestmark = pytest.mark.skipif(not (CHECKPOINTS_DIR / "moons-guide").is_dir(), reason="needs the shipped guides")


@pytest.fixture(scope="module")
def client(served_app):
    return Client(served_app[1], verbose=False)


def sample(client, **request):
    values = {"model": "moons", "sampler": "ddim", "steps": 20, "eta": 0.0, "class_name": "upper moon",
              "guidance": 0.0, "num_samples": 300, "seed": 0, **request}
    return client.predict(**values, api_name="/sample")[3]


def test_classifier_guidance_over_the_api_steers_the_unconditional_network_to_the_class(client):
    guided = sample(client, guidance_kind="classifier", classifier_scale=3.0)
    assert guided["guidance_kind"] == "classifier" and guided["classifier_scale"] == 3.0
    assert guided["guidance"] == 0.0  # w is not used by classifier guidance alone
    assert guided["quality"]["class_conformity"] >= 0.97
    # s = 0 leaves the unconditional network unsteered: about half its points fall in each moon.
    unsteered = sample(client, guidance_kind="classifier", classifier_scale=0.0, num_samples=1000)
    assert 0.35 <= unsteered["quality"]["class_conformity"] <= 0.65
    # Classifier-free guidance ignores s.
    assert sample(client, guidance_kind="classifier-free", classifier_scale=9.0)["classifier_scale"] == 0.0


def test_ddpm_reads_the_learned_variance_by_default_and_the_fixed_ones_on_request(client):
    learned = sample(client, model="moons_learned", sampler="ddpm", steps=25, class_name="unconditional")
    assert learned["variance"] == "learned"
    large = sample(client, model="moons_learned", sampler="ddpm", steps=25, variance="fixed_large",
                   class_name="unconditional")
    assert large["variance"] == "fixed_large"
    assert sample(client, model="moons", sampler="ddpm", steps=25)["variance"] == "fixed_small"
    assert sample(client, model="moons_learned", sampler="ddim", variance="learned")["variance"] is None


def test_the_guided_field_adds_the_classifiers_push_to_the_score_the_sampler_follows():
    pipeline = load_pipeline("moons")
    points = grid_points(2.5, 7)
    fields = score_fields(pipeline.model, pipeline.schedule, pipeline.prediction, points, 300, 0, 0.0,
                          pipeline.guide, 4.0, conditional=False)
    push = classifier_gradient(pipeline.guide, 4.0)(points, torch.full((len(points),), 300), torch.zeros(49).long())
    assert torch.allclose(fields["guided"], fields["unconditional"] + push, atol=1e-5)
    both = score_fields(pipeline.model, pipeline.schedule, pipeline.prediction, points, 300, 0, 2.0,
                        pipeline.guide, 4.0, conditional=True)
    cfg = fields["unconditional"] + 3.0 * (fields["conditional"] - fields["unconditional"])
    assert torch.allclose(both["guided"], cfg + push, atol=1e-4)


def test_the_shipped_guide_lifts_conformity_to_99_percent_at_the_scale_its_card_gives():
    from diffusion_core.data import toy_dataset
    from diffusion_core.evaluation.metrics import class_conformity

    values = json.loads((CHECKPOINTS_DIR / "moons-guide" / "config.json").read_text())
    best = values["sweep"]["best"]
    scale = float(best.split("s = ")[1].rstrip("."))
    assert f"from s = {scale:g}" in (CHECKPOINTS_DIR / "moons-guide" / "README.md").read_text()
    pipeline = load_pipeline("moons")
    reference, labels = toy_dataset("moons", 10_000, 20_000)
    for index in range(2):
        points = pipeline.generate(1000, sampler="ddim", steps=50, label=index, classifier_scale=scale,
                                   conditional=False, seed=100 + index)
        assert class_conformity(points, index, reference, labels) >= 0.99


def test_the_shipped_learned_variance_stays_between_posterior_variance_and_beta():
    from diffusion_core.data import toy_dataset
    from diffusion_core.variance import interpolated_log_variance, posterior_log_variance_clipped

    pipeline = load_pipeline("moons_learned")
    schedule = pipeline.schedule
    log_beta, log_tilde = schedule.betas.log(), posterior_log_variance_clipped(schedule)
    x0, _ = toy_dataset("moons", 2000, seed=3)
    generator = torch.Generator().manual_seed(0)
    for step in (1, 2, 5, 10, 50, 100, 300, 600, 999):  # t = 0 adds no noise: its Σ is never used
        t = torch.full((2000,), step)
        x_t = schedule.q_sample(x0, t, torch.randn(x0.shape, generator=generator))
        with torch.no_grad():
            v = pipeline.model.prediction_and_variance(x_t, t, None)[:, 2:]
        log_sigma = interpolated_log_variance(v, log_beta[step], log_tilde[step])
        # v is unconstrained (Improved DDPM): Σ may overshoot [β̃_t, β_t] a little, by at most a quarter of
        # the interval's width in log or 5%, whichever is wider (where β̃_t ≈ β_t the loss hardly pins v).
        slack = max(0.25 * float(log_beta[step] - log_tilde[step]), math.log(1.05))
        assert log_sigma.min() >= log_tilde[step] - slack, step
        assert log_sigma.max() <= log_beta[step] + slack, step


def test_the_controls_offer_classifier_guidance_only_with_a_guide_and_a_class(served_app):
    cache = served_app[0]
    moons, plain = cache.info("moons"), cache.info("moons_epsilon")
    assert kind_state(moons, "upper moon", "classifier") == {"visible": True, "value": "classifier"}
    assert kind_state(moons, "unconditional", "classifier") == {"visible": False, "value": "classifier-free"}
    assert kind_state(plain, "upper moon", "classifier") == {"visible": False, "value": "classifier-free"}
    assert scale_state(moons, "upper moon", "both") == {"visible": True}
    assert scale_state(moons, "upper moon", "classifier-free") == {"visible": False}
    learned = variance_state(cache.info("moons_learned"), "ddpm", "learned")
    assert learned["visible"] and learned["value"] == "learned"
    assert [value for _, value in learned["choices"]] == ["default", "fixed_small", "fixed_large", "learned"]
    assert variance_state(cache.info("moons_learned"), "ddpm", "fixed_small")["value"] == "fixed_small"
    fixed = variance_state(moons, "ddpm", "learned")
    assert fixed["value"] == "default" and "learned" not in [value for _, value in fixed["choices"]]
    assert variance_state(moons, "ddim", "default")["visible"] is False


def test_the_explanation_shows_both_guidance_equations_with_the_chosen_numbers():
    text = explain.explanation("ddim", 50, 0.0, "upper moon", 2.0, 1000, guidance_kind="both", classifier_scale=4.0)
    assert "Classifier guidance" in text and "Classifier-free guidance" in text
    assert "\\sqrt{1-\\bar\\alpha_t}\\,s\\," in text and "$w = 2$" in text and "$s = 4$" in text
    only = explain.explanation("ddpm", 100, 0.0, "upper moon", 0.0, 1000, guidance_kind="classifier",
                               classifier_scale=3.0, variance="learned")
    assert "**unconditional** network is steered" in only and "learned its variance" in only


def test_the_charts_put_classifier_guidance_beside_cfg_and_show_the_learned_variance():
    figure = charts.guidance_pair_figure(tables.read_eval(CHECKPOINTS_DIR / "moons"))
    panels = {(trace.xaxis, trace.name) for trace in figure.data}
    assert ("x", "conformity (%)") in panels and ("x2", "conformity (%)") in panels
    assert charts.guidance_pair_figure({"conformity": {"0": [1.0, 1.0]}}) is None
    variance = charts.variance_figure(tables.read_eval(CHECKPOINTS_DIR / "moons_learned"))
    names = {trace.name for trace in variance.data}
    assert {"learned Σ", "β̃ (fixed_small)", "β (fixed_large)", "v, mean over noised data"} <= names
    assert charts.variance_figure(tables.read_eval(CHECKPOINTS_DIR / "moons")) is None


def test_the_estimate_counts_the_guides_pass_measured_when_the_model_is_served(served_app):
    from diffusion_core.demo.cost import request_seconds
    from diffusion_core.demo.requests import input_values, validate_request

    cache = served_app[0]
    cost = cache.served("moons").cost
    assert cost.guide_per_row > 0 and cache.served("moons_epsilon").cost.guide_per_row == 0
    values = {"model": "moons", "sampler": "ddim", "steps": 50, "class_name": "upper moon", "num_samples": 2000}
    plain = validate_request(cache, *input_values({**values, "guidance": 0.0}))
    steered = validate_request(cache, *input_values({**values, "guidance_kind": "classifier", "classifier_scale": 1.0}))
    assert request_seconds(cache, steered) > request_seconds(cache, plain)
