"""`train_toy.py eval`'s 2D figures: the stray share and precision/recall beside the SW ratio, for DDPM over
all T, DDIM-50 and the app's opening run, in the report, its printed lines and the targets."""

import dataclasses

import pytest

from diffusion_core.demo.requests import SAMPLE_INPUTS
from diffusion_core.evaluation.toy import APP_DEFAULT, EvalSettings, evaluate, meets_targets
from diffusion_core.weights.pipeline import load_pipeline


def test_the_app_default_the_report_measures_is_the_app_s():
    defaults = {spec.name: spec.default for spec in SAMPLE_INPUTS}
    assert (defaults["sampler"], defaults["steps"], defaults["num_samples"]) == (
        APP_DEFAULT["sampler"], APP_DEFAULT["steps"], APP_DEFAULT["n"])
    assert defaults["model"] == "moons" and defaults["class_name"] == "unconditional"


@pytest.fixture(scope="module")
def report():
    small = EvalSettings(n_samples=600, n_conformity=100, num_directions=32, ddim_steps=10)
    return evaluate(load_pipeline("moons"), "moons", small)


def test_the_report_gives_strays_and_precision_recall_for_each_setting(report):
    assert set(report.strays) == set(report.precision_recall) == {"ddpm", "ddim", "app"}
    for key, share in report.strays.items():
        precision, recall = report.precision_recall[key]
        assert 0.0 <= share < 0.2 and 0.7 < precision <= 1.0 and 0.7 < recall <= 1.0, key
    lines = "\n".join(report.lines(("upper moon", "lower moon")))
    assert "DDIM, 10 steps, 600 points" in lines and "app default: DDPM-100, 2000 points" in lines
    assert f"strays {100 * report.strays['ddim']:4.1f}%" in lines


def test_targets_need_few_strays_as_well_as_a_low_sw_ratio(report):
    good = dataclasses.replace(report, sw_ddpm=1.0, sw_ddim=1.2, conformity={"3": [1.0, 1.0]},
                               strays={"ddpm": 0.015, "ddim": 0.025, "app": 0.05})
    assert meets_targets(good)
    assert not meets_targets(dataclasses.replace(good, strays={**good.strays, "ddim": 0.035}))
    assert not meets_targets(dataclasses.replace(good, strays={}))  # an old report without strays
    assert not meets_targets(dataclasses.replace(good, sw_ddim=1.6))


def test_the_steps_sweep_gives_each_run_its_stray_share(report):
    assert set(report.strays_steps) == set(report.sw_steps) == set(report.sweep_calls)
    assert all(0.0 <= share <= 1.0 for share in report.strays_steps.values())
    # The trained model on all T is near fresh data's 1%; DDIM on 10 steps strays more (its known blur).
    assert report.strays_steps["DDPM, 1000 steps"] < 0.05
    assert report.strays_steps["DDIM eta=0, 10 steps"] > report.strays_steps["DDPM, 1000 steps"]
    lines = "\n".join(report.lines(("upper moon", "lower moon")))
    assert f"strays {100 * report.strays_steps['Heun, 20 steps']:4.1f}%" in lines
