"""The explanation panel follows the controls and carries the seeds' equations."""

from diffusion_core.demo.cache import ModelCache
from diffusion_core.demo.explain import explanation
from diffusion_core.demo.handlers import Handlers


def test_ddpm_on_all_steps_shows_the_ancestral_step_and_no_respacing():
    text = explanation("ddpm", 1000, 0.0, None, 3.0, 1000)
    assert "**DDPM**" in text and "\\sigma_t z" in text and "All 1000 steps are used" in text
    assert "**DDIM**" not in text and "respaced" not in text
    assert "**unconditional**" in text and "guidance weight does nothing" in text


def test_fewer_ddpm_steps_say_the_schedule_is_respaced():
    text = explanation("ddpm", 100, 0.0, None, 0.0, 1000)
    assert "With 100 of 1000 steps the schedule is **respaced**" in text and "every 10th" in text


def test_ddim_eta_changes_the_sentence_about_noise():
    assert "**deterministic**" in explanation("ddim", 50, 0.0, None, 0.0, 1000)
    assert "as much fresh noise as DDPM" in explanation("ddim", 50, 1.0, None, 0.0, 1000)
    assert "$\\eta = 0.5$" in explanation("ddim", 50, 0.5, None, 0.0, 1000)
    assert "jumps about 20 timesteps" in explanation("ddim", 50, 0.0, None, 0.0, 1000)


def test_guidance_text_names_the_class_and_the_weight():
    plain = explanation("ddim", 50, 0.0, "upper moon", 0.0, 1000)
    assert "(1 + w)" in plain and "$w = 0$: plain conditional sampling of class **upper moon**" in plain
    guided = explanation("ddim", 50, 0.0, "A", 3.0, 1000, kind="images")
    assert "$w = 3$ for class **A**" in guided and "28×28 image per character" in guided


def test_every_display_equation_is_closed():
    for args in (("ddpm", 10, 0.0, "a", 2.0, 1000), ("ddim", 5, 1.0, None, 0.0, 50)):
        assert explanation(*args).count("$$") % 2 == 0


def test_no_template_braces_survive_into_the_latex():
    for sampler in ("ddpm", "ddim", "dpmpp_2m", "heun", "euler_ancestral"):
        for prediction in ("epsilon", "sample", "v_prediction"):
            text = explanation(sampler, 50, 0.0, "a", 3.0, 1000, prediction=prediction)
            assert "{{" not in text, (sampler, prediction)  # a format() forgotten: KaTeX draws {{x}} loosely


def test_each_prediction_type_shows_the_conversion_the_sampler_applies():
    eps = explanation("ddim", 50, 0.0, None, 0.0, 1000, prediction="epsilon")
    x0 = explanation("ddim", 50, 0.0, None, 0.0, 1000, prediction="sample")
    v = explanation("ddim", 50, 0.0, None, 0.0, 1000, prediction="v_prediction")
    assert "predicts **the noise**" in eps and "\\hat x_0 = \\frac{x_t - \\sqrt{1-\\bar\\alpha_t}\\,\\hat\\varepsilon}" in eps
    assert "predicts **the clean sample**" in x0 and "\\hat\\varepsilon = \\frac{x_t - \\sqrt{\\bar\\alpha_t}\\,\\hat x_0}" in x0
    assert "predicts **the velocity**" in v and "\\hat x_0 = \\sqrt{\\bar\\alpha_t}\\,x_t - \\sqrt{1-\\bar\\alpha_t}\\,\\hat v" in v
    for text in (eps, x0, v):  # seed 000's view: every prediction is a score model
        assert "\\nabla_{x_t} \\log p_t(x_t) \\approx -\\frac{\\hat\\varepsilon}{\\sqrt{1-\\bar\\alpha_t}}" in text


def test_the_panel_names_what_each_shipped_model_predicts():
    handlers = Handlers(ModelCache())
    assert "predicts **the velocity**" in handlers.explain_run("moons", "ddim", 50, 0.0, "none", 0.0)
    assert "predicts **the noise**" in handlers.explain_run("emnist", "ddim", 50, 0.0, "none", 0.0)
