"""diffusion_core.weights.cards: cards whose metadata the Hub understands, checked offline by huggingface_hub's
own parsers (`metadata_load`, `ModelCardData`, `model_index_to_eval_results`), from the shipped figures."""

import json

import pytest
from hub_helpers import REPO
from huggingface_hub import ModelCardData
from huggingface_hub.repocard import metadata_load
from huggingface_hub.repocard_data import model_index_to_eval_results

from diffusion_core.evaluation.emnist import EMNISTEvalReport, EMNISTEvalSettings
from diffusion_core.evaluation.toy import EvalReport, EvalSettings
from diffusion_core.weights.cards import RepoModel, model_card, repo_card
from diffusion_core.weights.checkpoint import load_config
from diffusion_core.weights.pipeline import CHECKPOINTS_DIR

# From huggingface.js packages/tasks/src/pipelines.ts (PIPELINE_DATA) and model-libraries.ts: the task
# ids used here, and no library at all (none of the Hub's libraries loads these folders; "pytorch" is not one).
HUB_TASKS = {"unconditional-image-generation", "other"}
COMMAND = "python train_toy.py train moons --steps 10"


def toy_report(name: str) -> EvalReport:
    values = json.loads((CHECKPOINTS_DIR / name / "eval.json").read_text())
    return EvalReport(**{**values, "settings": EvalSettings(**values["settings"])})


def emnist_report() -> EMNISTEvalReport:
    values = json.loads((CHECKPOINTS_DIR / "emnist" / "eval.json").read_text())
    settings = {k: tuple(v) if isinstance(v, list) else v for k, v in values["settings"].items()}
    return EMNISTEvalReport(**{**values, "settings": EMNISTEvalSettings(**settings)})


def metadata(card: str, tmp_path) -> dict:
    """The card's YAML block as the Hub's client reads it, after checking ModelCardData accepts it."""
    (tmp_path / "README.md").write_text(card)
    values = metadata_load(tmp_path / "README.md")
    ModelCardData(**values)  # raises on a model-index or eval result it cannot parse
    return values


def test_a_2d_card_declares_a_hub_task_no_library_and_its_figures_as_model_index(tmp_path):
    report = toy_report("moons")
    card = model_card(load_config(CHECKPOINTS_DIR / "moons"), report, COMMAND)
    values = metadata(card, tmp_path)
    assert "library_name" not in values and values["pipeline_tag"] in HUB_TASKS
    assert values["license"] == "mit" and {"diffusion", "ddpm", "pytorch", "moons"} <= set(values["tags"])
    assert "datasets" not in values  # generated data: no Hub dataset id
    name, results = model_index_to_eval_results(values["model-index"])
    assert name == "moons"
    found = {(r.metric_name, r.metric_value) for r in results}
    expected = {("SW ratio, DDPM", report.sw_ddpm), ("SW ratio, DDIM-50", report.sw_ddim),
                ("class conformity at w=3, worst class", min(report.conformity["3"]))}
    if report.strays:
        expected.add(("strays, DDIM-50", report.strays["ddim"]))
    assert found == expected
    assert {r.task_type for r in results} == {values["pipeline_tag"]} and {r.dataset_type for r in results} == {"moons"}


def test_an_emnist_card_names_its_hub_dataset_and_image_generation(tmp_path):
    report = emnist_report()
    card = model_card(load_config(CHECKPOINTS_DIR / "emnist"), report, COMMAND)
    values = metadata(card, tmp_path)
    assert values["pipeline_tag"] == "unconditional-image-generation"
    assert values["datasets"] == ["randall-lab/emnist"] and "emnist" in values["tags"]
    _, results = model_index_to_eval_results(values["model-index"])
    by_metric = {r.metric_type: r for r in results}
    assert by_metric["class-conformity"].metric_value == report.sweep["3"]["conformity"]
    assert by_metric["frechet-distance"].metric_value == report.frechet["DDIM eta=0, 50 steps"]
    assert {(r.dataset_type, r.dataset_config) for r in results} == {("randall-lab/emnist", "byclass")}


def test_the_card_body_keeps_the_training_command_figures_and_picture():
    config = load_config(CHECKPOINTS_DIR / "moons")
    card = model_card(config, toy_report("moons"), COMMAND)
    body = card.split("\n---\n", 1)[1]
    assert body.startswith("\n# moons: a class-conditional 2D diffusion model\n")
    assert f"## Training\n\n```\n{COMMAND}\n```" in body and "![samples](samples.png)" in body
    assert "SW ratio, DDPM all steps" in body  # the report's own printed lines


def test_an_unevaluated_card_has_no_model_index_and_says_so(tmp_path):
    card = model_card(load_config(CHECKPOINTS_DIR / "circles"), None, COMMAND)
    values = metadata(card, tmp_path)
    assert "model-index" not in values and values["pipeline_tag"] == "other"
    assert "Not evaluated yet." in card


@pytest.mark.parametrize("figures", [{"sw_ddpm": 1.0}, {"sweep": {}}, None])
def test_a_report_of_an_unknown_shape_is_not_evaluated_rather_than_an_error(figures):
    from diffusion_core.weights.cards import figures_text

    assert figures_text(figures) == "not evaluated"


def test_the_root_card_lists_every_model_and_parses(tmp_path):
    card = repo_card([RepoModel("moons", "moons", "SW DDPM 1.117"), RepoModel("emnist", "emnist", "conformity 85%"),
                      RepoModel("circles")], REPO)
    values = metadata(card, tmp_path)
    assert values["datasets"] == ["randall-lab/emnist"] and "library_name" not in values
    rows = [line for line in card.splitlines() if line.startswith("| [")]
    assert rows == [
        "| [circles](circles/README.md) | see its card | see its card |",
        "| [emnist](emnist/README.md) | emnist | conformity 85% |",
        "| [moons](moons/README.md) | moons | SW DDPM 1.117 |",
    ]


def test_a_variant_s_card_is_titled_by_its_folder_and_names_its_data_set():
    config = load_config(CHECKPOINTS_DIR / "moons")
    card = model_card(config, toy_report("moons"), COMMAND, name="moons_epsilon")
    assert "# moons_epsilon: a class-conditional 2D diffusion model trained on moons" in card
    assert "- name: moons_epsilon" in card
    assert "# moons: a class-conditional 2D diffusion model\n" in model_card(config, None, COMMAND)
