"""A checkpoint's README.md: the Hub model card, and the root card of a repo holding several models.

Both are huggingface_hub `ModelCard`s: metadata the Hub reads (`license`, `tags`,
`pipeline_tag`, `datasets` where the data has a Hub id, the quality figures as `model-index`
`EvalResult`s) above a Markdown body for people (what the network is, how it was trained,
its figures). No `library_name`: none of the Hub's libraries loads these folders.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from huggingface_hub import EvalResult, ModelCard, ModelCardData

from .checkpoint import ARCHITECTURES, CheckpointConfig
from .limits import parameter_count

SAMPLE_IMAGE_NAME = "samples.png"
LICENSE = "mit"
BASE_TAGS = ("diffusion", "ddpm", "pytorch")
# The Hub's copy of a training set, and its configuration: the data of config.json's "dataset".
# randall-lab/emnist serves NIST's EMNIST release with a ByClass configuration, the files
# `train_toy.py --data-dir` reads. The 2D sets are generated (`data.toy_dataset`): no Hub id.
HUB_DATASETS = {"emnist": ("randall-lab/emnist", "byclass")}
IMAGE_TASK = "unconditional-image-generation"
POINTS_TASK = "other"  # the Hub has no task for generating 2D points; "other" is its catch-all


@dataclass(frozen=True)
class Figure:
    """One headline quality figure from eval.json: its model-index metric, value, and how text shows it."""

    metric_type: str
    metric_name: str
    value: float
    text: str


def headline_figures(report: dict) -> list[Figure]:
    """The figures a commit message and a card lead with, from eval.json's contents (`report.to_dict()`).

    EMNIST: conformity at the headline guidance weight and the Fréchet distance of DDIM-50.
    2D: the SW ratios of DDPM and DDIM-50 and the worst class's conformity at w=3.
    Raises KeyError, TypeError or ValueError for a report of neither shape.
    """
    if "sweep" in report:  # an EMNIST model (evaluation.emnist)
        w = f"{report['settings']['guidance']:g}"
        conformity = float(report["sweep"][w]["conformity"])
        frechet = float(report["frechet"].get("DDIM eta=0, 50 steps", math.nan))
        return [
            Figure("class-conformity", f"class conformity at w={w}", conformity,
                   f"conformity@w={w} {100 * conformity:.1f}%"),
            Figure("frechet-distance", "Fréchet distance in classifier features, DDIM-50", frechet,
                   f"Fréchet DDIM-50 {frechet:.2f}"),
        ]
    worst = float(min(report["conformity"]["3"]))
    figures = [
        Figure("sliced-wasserstein-ratio", "SW ratio, DDPM", float(report["sw_ddpm"]),
               f"SW DDPM {report['sw_ddpm']:.3f}"),
        Figure("sliced-wasserstein-ratio", "SW ratio, DDIM-50", float(report["sw_ddim"]),
               f"SW DDIM-50 {report['sw_ddim']:.3f}"),
    ]
    if "ddim" in report.get("strays", {}):  # reports since the stray measure
        strays = float(report["strays"]["ddim"])
        figures.append(Figure("stray-share", "strays, DDIM-50", strays, f"strays DDIM-50 {100 * strays:.1f}%"))
    return figures + [Figure("class-conformity", "class conformity at w=3, worst class", worst,
                             f"conformity@w=3 >= {100 * worst:.1f}%")]


def figures_text(report: dict | None) -> str:
    """The headline figures as one short phrase; 'not evaluated' without a report of a known shape."""
    try:
        return ", ".join(figure.text for figure in headline_figures(report))
    except (KeyError, TypeError, ValueError, AttributeError):
        return "not evaluated"


def pipeline_tag(config: CheckpointConfig) -> str:
    """The Hub task of a checkpoint: image generation for (C, H, W) samples, 'other' for points."""
    return IMAGE_TASK if len(config.sample_shape) == 3 else POINTS_TASK


def eval_results(config: CheckpointConfig, report: dict) -> list[EvalResult]:
    """The headline figures as model-index entries (finite ones only: YAML has no NaN the Hub reads)."""
    dataset_type, dataset_config = HUB_DATASETS.get(config.dataset, (config.dataset, None))
    return [
        EvalResult(
            task_type=pipeline_tag(config), dataset_type=dataset_type, dataset_config=dataset_config,
            dataset_name=config.dataset, metric_type=figure.metric_type, metric_name=figure.metric_name,
            metric_value=figure.value,
        )
        for figure in headline_figures(report)
        if math.isfinite(figure.value)
    ]


def front_matter(
    tags: list[str],
    *,
    datasets: list[str] | None = None,
    task: str | None = None,
    model_name: str | None = None,
    results: list[EvalResult] | None = None,
) -> ModelCardData:
    """The Hub metadata of a card: license, the base tags then `tags`, and what else is known."""
    return ModelCardData(
        license=LICENSE, tags=[*BASE_TAGS, *tags], datasets=datasets or None, pipeline_tag=task,
        model_name=model_name if results else None, eval_results=results or None,
    )


LEARNED_VARIANCE = (
    " It also **learns DDPM's variance** (Improved DDPM, Nichol & Dhariwal 2021): a second output v per dimension "
    "sets Σ = exp(v log β_t + (1 − v) log β̃_t), trained on L_simple + 0.001 L_vlb with the mean's gradient stopped; "
    "DDPM samples with it by default (`variance=\"learned\"`)."
)


def describe_model(config: CheckpointConfig, name: str | None = None) -> tuple[str, list[str], str]:
    """(title, extra tags, one paragraph) saying what the checkpoint (named `name`, by default its data
    set's name) is."""
    model, schedule = config.model, config.schedule
    name = name or config.dataset
    trained_on = "" if name == config.dataset else f" trained on {config.dataset}"
    common = (
        f"predicting `{model.prediction}` under a {schedule['kind']} schedule with T={schedule['num_steps']}, "
        "trained with label dropout so one network is both conditional and unconditional "
        "(classifier-free guidance). Weights are the EMA weights."
    )
    if config.architecture == "UNet":
        parameters = parameter_count(ARCHITECTURES["UNet"][1], model)
        text = (
            f"A class-conditional U-Net ({parameters / 1e6:.2f}M parameters; widths {list(model.channels)}, "
            f"residual blocks with AdaGN conditioning, {'one self-attention layer' if model.attention else 'no attention'}) "
            f"for {model.image_size}×{model.image_size} characters, {common} "
            f"Classes: the {len(config.class_names)} EMNIST ByClass characters "
            f"{''.join(config.class_names)}.\n\n"
            "Load it with `diffusion_core.load_pipeline(path)`; `generate` returns images (N, 1, 28, 28) in "
            "[-1, 1], upright, ink bright on a dark background (EMNIST's convention)."
        )
        title = f"{name}: a class-conditional handwritten-character diffusion model{trained_on}"
        return title, ["emnist", "image-generation"], text
    classes = ", ".join(f"{i}: {name}" for i, name in enumerate(config.class_names))
    text = (
        f"A FiLM MLP ({model.num_layers} {model.activation} layers of {model.hidden} units, "
        f"{model.fourier_bands} Fourier bands) "
        f"{common}{LEARNED_VARIANCE if getattr(model, 'learn_variance', False) else ''} Classes: {classes}.\n\n"
        "Load it with `diffusion_core.load_pipeline(path)`; `generate` returns points in the coordinates "
        "of `diffusion_core.data.toy_dataset` (documented fixed rescaling of the scikit-learn-style generator)."
    )
    return f"{name}: a class-conditional 2D diffusion model{trained_on}", ["toy-2d", config.dataset], text


def _card(data: ModelCardData, lines: list[str]) -> str:
    """A card's text: `data` as the YAML block, then the Markdown `lines`."""
    return str(ModelCard(f"---\n{data.to_yaml()}\n---\n\n" + "\n".join(lines) + "\n"))


def fine_tune_lines(init_from: dict | None) -> list[str]:
    """The card's note on a run started from another checkpoint's weights (`--init-from`)."""
    if not init_from:
        return []
    seconds = init_from.get("seconds")
    return [
        f"- a fine-tune: it started from the weights then in `{init_from.get('folder')}`, after "
        f"{init_from.get('steps')} steps (the commands before its own, above), with a fresh optimiser and "
        "learning-rate schedule" + (f"; that run took {seconds:.1f} s" if isinstance(seconds, (int, float)) else "")
    ]


def class_balance_text(balance: float | None) -> str:
    """The training line's note on `--class-balance` (nothing when classes came as the data has them)."""
    if not balance:
        return ""
    if balance == 1:
        return ", every class drawn equally often (`--class-balance 1`)"
    return f", class c drawn with probability ∝ n_c^(1 − {balance:g}) (`--class-balance {balance:g}`)"


def model_card(config: CheckpointConfig, report, command: str, image_name: str = SAMPLE_IMAGE_NAME,
               name: str | None = None) -> str:
    """The README.md text: Hub metadata, what the model is, how it was trained, its figures; `name`:
    the checkpoint folder's (by default its data set's).

    report: None before evaluation, else an object with `lines(class_names)` (the printed
    figures), `explanation()` (a paragraph saying what they measure) and `to_dict()` (eval.json's
    contents, whose headline figures become the card's model-index).
    """
    training = config.training
    title, tags, description = describe_model(config, name)
    hub_dataset = HUB_DATASETS.get(config.dataset)
    data = front_matter(
        tags, datasets=[hub_dataset[0]] if hub_dataset else None, task=pipeline_tag(config),
        model_name=name or config.dataset, results=None if report is None else eval_results(config, report.to_dict()),
    )
    lines = [
        f"# {title}",
        "",
        description,
        "",
        "## Training",
        "",
        "```",
        command,
        "```",
        "",
        (
            f"- steps: {training.get('steps')}, batch {training.get('batch_size')}, AdamW lr {training.get('lr')} "
            f"with {training.get('warmup_steps')} warmup steps and cosine decay, EMA {training.get('ema_decay')}, "
            f"p_uncond {training.get('p_uncond')}, seed {training.get('seed')}"
            + (f", min-SNR-γ loss weighting with γ = {training['min_snr_gamma']}" if training.get("min_snr_gamma") else "")
            + class_balance_text(training.get("class_balance"))
        ),
        (
            f"- training time: {training.get('seconds', float('nan')):.1f} s on {training.get('device', '?')} "
            f"({training.get('threads', '?')} threads)"
        ),
        *fine_tune_lines(training.get("init_from")),
        "",
        "## Quality (`train_toy.py eval`)",
        "",
    ]
    if report is None:
        lines.append("Not evaluated yet.")
    else:
        lines += ["```", *report.lines(config.class_names), "```"]
        lines += ["", f"![samples]({image_name})", "", report.explanation()]
    return _card(data, lines)


@dataclass(frozen=True)
class RepoModel:
    """One row of a repo's root card: a model folder, and its data and figures when this push knows them."""

    name: str
    dataset: str | None = None
    figures: str | None = None


def repo_card(models: list[RepoModel], repo_id: str) -> str:
    """The README.md at the root of a repo holding one model per folder, listing every one of `models`.

    A model whose data and figures are not known (it is in the repo, not in this push) points to its card.
    """
    known = sorted({model.dataset for model in models if model.dataset})
    hub_datasets = sorted({HUB_DATASETS[name][0] for name in known if name in HUB_DATASETS})
    data = front_matter(["classifier-free-guidance", *known], datasets=hub_datasets)
    lines = [
        "# Diffusion, step by step: trained models",
        "",
        (
            "Class-conditional diffusion models trained with this project's `train_toy.py`, one folder per model "
            "(`config.json`, `model.safetensors`, and a model card with the training command and quality figures)."
        ),
        "",
        "| model | data | quality |",
        "|---|---|---|",
        *[
            f"| [{model.name}]({model.name}/README.md) | {model.dataset or 'see its card'} | "
            f"{model.figures or 'see its card'} |"
            for model in sorted(models, key=lambda model: model.name)
        ],
        "",
        "Pull them into the project (pin the commit SHA for reproducible weights):",
        "",
        "```bash",
        f"python train_toy.py pull --repo-id {repo_id} --revision SHA",
        "```",
        "",
        "or serve them in the app or a Space with `DIFFUSION_HUB_REPO=" + repo_id + "` and `DIFFUSION_HUB_REVISION=SHA`.",
    ]
    return _card(data, lines)
