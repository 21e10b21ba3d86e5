"""The papers' tables drawn from eval.json: what each line holds, for a 2D and an EMNIST report."""

import json

import plotly.graph_objects as go
import pytest

from diffusion_core.demo.tables import (
    guidance_sweep_figure,
    log_ticks,
    prediction_figure,
    read_eval,
    steps_sweep_figure,
)

EMNIST_REPORT = {
    "sweep": {
        "0": {"conformity": 0.6, "diversity": 20.0},
        "3": {"conformity": 0.9, "diversity": 15.0},
        "8": {"conformity": 0.95, "diversity": 12.0},
    },
    "frechet": {
        "DDIM eta=0, 20 steps": 3.0, "DDIM eta=0, 10 steps": 5.0,
        "DDIM eta=1, 10 steps": 9.0, "DDIM eta=1, 20 steps": 6.0, "DDPM, 1000 steps": 2.5,
    },
    "frechet_real": 0.4,
}


def traces(figure):
    return {trace["name"]: trace for trace in figure.to_dict()["data"]}


def test_emnist_guidance_sweep_plots_conformity_in_percent_and_diversity_on_a_second_axis():
    lines = traces(guidance_sweep_figure(EMNIST_REPORT))
    assert list(lines["conformity (%)"]["x"]) == [0.0, 3.0, 8.0]
    assert list(lines["conformity (%)"]["y"]) == [60.0, 90.0, 95.0]
    assert list(lines["diversity"]["y"]) == [20.0, 15.0, 12.0] and lines["diversity"]["yaxis"] == "y2"


def test_emnist_steps_sweep_sorts_each_eta_line_and_adds_ddpm_and_real_data_references():
    lines = traces(steps_sweep_figure(EMNIST_REPORT))
    assert list(lines["DDIM η=0"]["x"]) == [10, 20] and list(lines["DDIM η=0"]["y"]) == [5.0, 3.0]
    assert list(lines["DDIM η=1"]["y"]) == [9.0, 6.0]
    assert list(lines["DDPM, 1000 steps"]["x"]) == [1000] and list(lines["DDPM, 1000 steps"]["y"]) == [2.5]
    assert list(lines["real data"]["x"]) == [10, 1000] and list(lines["real data"]["y"]) == [0.4, 0.4]


def test_a_2d_report_gives_mean_and_worst_class_conformity_and_its_two_sw_figures():
    report = {"sw_ddpm": 1.03, "sw_ddim": 1.9, "conformity": {"0": [1.0, 0.9], "3": [1.0, 1.0]},
              "sw_by_w": {"0": [1.0, 2.0], "3": [10.0, 20.0]}, "settings": {"ddim_steps": 50}}
    lines = traces(guidance_sweep_figure(report))
    assert list(lines["conformity, mean over classes (%)"]["y"]) == [95.0, 100.0]
    assert list(lines["worst class (%)"]["y"]) == [90.0, 100.0]
    spread = lines["SW ratio to the class's data (1 = as varied as the data)"]
    assert list(spread["y"]) == [1.5, 15.0] and spread["yaxis"] == "y2"
    steps = traces(steps_sweep_figure(report))
    assert list(steps["DDIM η=0"]["x"]) == [50] and list(steps["DDPM, 1000 steps"]["y"]) == [1.03]


def test_missing_or_unreadable_figures_give_no_chart(tmp_path):
    assert read_eval(tmp_path) is None
    (tmp_path / "eval.json").write_text("{broken")
    assert read_eval(tmp_path) is None
    (tmp_path / "eval.json").write_text(json.dumps(EMNIST_REPORT))
    assert read_eval(tmp_path) == EMNIST_REPORT
    assert guidance_sweep_figure(None) is None and steps_sweep_figure({"other": 1}) is None


def test_the_figures_pass_plotlys_own_schema_validation():
    for figure in (guidance_sweep_figure(EMNIST_REPORT), steps_sweep_figure(EMNIST_REPORT)):
        go.Figure(figure.to_dict())  # validates every property; raises on a typo


def test_a_2d_steps_sweep_draws_its_sw_table_with_the_real_data_line_at_one():
    report = {"sw_ddpm": 1.0, "sw_ddim": 1.5, "sw_steps": {"DDIM eta=0, 50 steps": 1.4, "DDIM eta=0, 10 steps": 2.0,
                                                            "DDIM eta=1, 10 steps": 3.0, "DDPM, 1000 steps": 1.05}}
    lines = traces(steps_sweep_figure(report))
    assert list(lines["DDIM η=0"]["x"]) == [10, 50] and list(lines["DDIM η=0"]["y"]) == [2.0, 1.4]
    assert list(lines["real data"]["y"]) == [1.0, 1.0] and list(lines["DDPM, 1000 steps"]["y"]) == [1.05]


def test_the_steps_sweep_puts_every_sampler_on_a_line_against_its_network_calls():
    report = {"sw_steps": {"DDIM eta=0, 10 steps": 2.0, "DDIM eta=0, 20 steps": 1.6, "Heun, 10 steps": 1.7,
                           "Heun, 20 steps": 1.2, "DPM-Solver++(2M), 10 steps": 1.5, "DDPM, 1000 steps": 1.0},
              "sweep_calls": {"Heun, 10 steps": 18, "Heun, 20 steps": 37}}
    lines = traces(steps_sweep_figure(report))
    assert list(lines["Heun"]["x"]) == [18, 37]  # the calls the report measured, not the steps
    assert list(lines["DDIM η=0"]["x"]) == [10, 20] and list(lines["DPM-Solver++(2M)"]["x"]) == [10]
    assert list(lines["DDPM, 1000 steps"]["x"]) == [1000]
    # A report without the calls (before the solvers): Heun's bound of two calls a step but the last.
    del report["sweep_calls"]
    assert list(traces(steps_sweep_figure(report))["Heun"]["x"]) == [19, 39]


def _prediction_report(scale: float) -> dict:
    names = ("DDIM eta=0, 10 steps", "DDIM eta=0, 50 steps", "DDIM eta=1, 10 steps", "DDPM, 1000 steps")
    return {"sw_steps": {name: scale * (k + 1) for k, name in enumerate(names)},
            "strays_steps": {name: scale * 0.01 * (k + 1) for k, name in enumerate(names)}}


def test_the_prediction_chart_puts_each_target_s_sw_ratio_and_strays_against_steps():
    figure = prediction_figure({"epsilon": _prediction_report(2.0), "v_prediction": _prediction_report(1.0)})
    data = figure.to_dict()["data"]
    eps = [trace for trace in data if trace["name"] == "predicts ε"]
    assert len(eps) == 2  # one per panel, one legend entry
    assert [trace["showlegend"] for trace in eps] == [True, False]
    sw, strays = eps
    # DDIM η=0 at 10 and 50 steps and DDPM at all T, sorted by steps; η=1 is not the line drawn.
    assert list(sw["x"]) == [10, 50, 1000] and list(sw["y"]) == [2.0, 4.0, 8.0]
    assert list(strays["y"]) == pytest.approx([2.0, 4.0, 8.0])  # percent
    assert list(sw["marker"]["symbol"]) == ["circle", "circle", "diamond"]
    go.Figure(figure.to_dict())  # plotly's own schema validation


def test_the_prediction_chart_needs_two_evaluated_targets():
    assert prediction_figure({"epsilon": _prediction_report(1.0)}) is None
    assert prediction_figure({"epsilon": _prediction_report(1.0), "sample": None}) is None
    old = {"sw_steps": _prediction_report(1.0)["sw_steps"]}  # an eval.json from before the sweep's strays
    assert prediction_figure({"epsilon": _prediction_report(1.0), "sample": old}) is None


def test_log_axes_are_labelled_at_round_counts_that_cover_the_data():
    assert log_ticks(10, 1000) == [10, 20, 50, 100, 200, 500, 1000]
    assert log_ticks(18, 98) == [10, 20, 50, 100]
    assert log_ticks(0.9, 26.0) == [0.5, 1, 2, 5, 10, 20, 50]
    report = {"sw_steps": {"Heun, 10 steps": 1.7, "Heun, 20 steps": 1.2, "DDPM, 1000 steps": 1.0},
              "sweep_calls": {"Heun, 10 steps": 18, "Heun, 20 steps": 38}}
    axis = steps_sweep_figure(report).to_dict()["layout"]["xaxis"]
    assert list(axis["ticktext"]) == ["10", "20", "50", "100", "200", "500", "1000"]  # not 18 over 20


def test_without_the_reports_calls_heun_s_are_counted_on_the_model_s_schedule():
    from diffusion_core import NoiseSchedule

    report = {"frechet": {"Heun, 10 steps": 30.0, "Heun, 50 steps": 33.0}, "frechet_real": 9.4}
    linear = NoiseSchedule.create("linear", 1000)  # σ at t = 999 is past 80: no correction on the first step
    assert list(traces(steps_sweep_figure(report, linear))["Heun"]["x"]) == [18, 95]
    assert list(traces(steps_sweep_figure(report))["Heun"]["x"]) == [19, 99]  # the bound, without a schedule
