"""A checkpoint's README.md: the Hub model card with YAML front matter, and a repo's root card."""

from __future__ import annotations

from .checkpoint import CheckpointConfig

SAMPLE_IMAGE_NAME = "samples.png"


def front_matter(tags: list[str]) -> list[str]:
    """The Hub's YAML metadata block of a card: library, license, and the tags after diffusion and ddpm."""
    return ["---", "library_name: pytorch", "license: mit", "tags:", "- diffusion", "- ddpm",
            *[f"- {tag}" for tag in tags], "---"]


def describe_model(config: CheckpointConfig) -> tuple[str, list[str], str]:
    """(title, extra tags, one paragraph) saying what the checkpoint's network is."""
    model, schedule = config.model, config.schedule
    common = (
        f"predicting `{model.prediction}` under a {schedule['kind']} schedule with T={schedule['num_steps']}, "
        "trained with label dropout so one network is both conditional and unconditional "
        "(classifier-free guidance). Weights are the EMA weights."
    )
    if config.architecture == "UNet":
        parameters = sum(v.numel() for v in config.build_model().state_dict().values())
        text = (
            f"A class-conditional U-Net ({parameters / 1e6:.2f}M parameters; widths {list(model.channels)}, "
            f"residual blocks with AdaGN conditioning, {'one self-attention layer' if model.attention else 'no attention'}) "
            f"for {model.image_size}×{model.image_size} characters, {common} "
            f"Classes: the {len(config.class_names)} EMNIST ByClass characters "
            f"{''.join(config.class_names)}.\n\n"
            "Load it with `diffusion_core.load_pipeline(path)`; `generate` returns images (N, 1, 28, 28) in "
            "[-1, 1], upright, ink bright on a dark background (EMNIST's convention)."
        )
        return f"{config.dataset}: a class-conditional handwritten-character diffusion model", ["emnist", "image-generation"], text
    classes = ", ".join(f"{i}: {name}" for i, name in enumerate(config.class_names))
    text = (
        f"A FiLM MLP ({model.num_layers} {model.activation} layers of {model.hidden} units, "
        f"{model.fourier_bands} Fourier bands) "
        f"{common} Classes: {classes}.\n\n"
        "Load it with `diffusion_core.load_pipeline(path)`; `generate` returns points in the coordinates "
        "of `diffusion_core.data.toy_dataset` (documented fixed rescaling of the scikit-learn-style generator)."
    )
    return f"{config.dataset}: a class-conditional 2D diffusion model", ["toy-2d", config.dataset], text


def model_card(config: CheckpointConfig, report, command: str, image_name: str = SAMPLE_IMAGE_NAME) -> str:
    """The README.md text: front matter, what the model is, how it was trained, its figures.

    report: None before evaluation, else an object with `lines(class_names)` (the printed
    figures) and `explanation()` (a paragraph saying what they measure).
    """
    training = config.training
    title, tags, description = describe_model(config)
    lines = [
        *front_matter(tags),
        "",
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
        f"- steps: {training.get('steps')}, batch {training.get('batch_size')}, AdamW lr {training.get('lr')} "
        f"with {training.get('warmup_steps')} warmup steps and cosine decay, EMA {training.get('ema_decay')}, "
        f"p_uncond {training.get('p_uncond')}, seed {training.get('seed')}",
        f"- training time: {training.get('seconds', float('nan')):.1f} s on {training.get('device', '?')} "
        f"({training.get('threads', '?')} threads)",
        "",
        "## Quality (`train_toy.py eval`)",
        "",
    ]
    if report is None:
        lines.append("Not evaluated yet.")
    else:
        lines += ["```", *report.lines(config.class_names), "```"]
        lines += ["", f"![samples]({image_name})", "", report.explanation()]
    return "\n".join(lines) + "\n"


def repo_card(models: list[tuple[str, str, str]], repo_id: str) -> str:
    """The README.md at the root of a repo holding several models; models: (name, dataset, figures) each."""
    datasets = sorted({dataset for _, dataset, _ in models})
    lines = [
        *front_matter(["classifier-free-guidance", *datasets]),
        "",
        "# Diffusion, step by step: trained models",
        "",
        "Class-conditional diffusion models trained with this project's `train_toy.py`, one folder per model "
        "(`config.json`, `model.safetensors`, and a model card with the training command and quality figures).",
        "",
        "| model | data | quality |",
        "|---|---|---|",
        *[f"| [{name}]({name}/README.md) | {dataset} | {figures} |" for name, dataset, figures in models],
        "",
        "Pull them into the project (pin the commit SHA for reproducible weights):",
        "",
        "```bash",
        f"python train_toy.py pull --repo-id {repo_id} --revision SHA",
        "```",
        "",
        "or serve them in the app or a Space with `DIFFUSION_HUB_REPO=" + repo_id + "` and `DIFFUSION_HUB_REVISION=SHA`.",
    ]
    return "\n".join(lines) + "\n"
