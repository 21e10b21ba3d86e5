"""A checkpoint's README.md (Hub model card with YAML front matter) and its sample picture."""

from __future__ import annotations

import io

import torch
from PIL import Image, ImageDraw

from .checkpoint import CheckpointConfig
from .evaluation import EvalReport

PALETTE = ((68, 1, 84), (253, 231, 37), (33, 145, 140), (229, 89, 52))
SAMPLE_IMAGE_NAME = "samples.png"


def scatter_png(panels: list[tuple[str, torch.Tensor, torch.Tensor]], size: int = 320) -> bytes:
    """Side-by-side scatter plots rasterised with Pillow; panels of (title, points (N, 2), labels (N,)).

    All panels share the bounds of the first, so they can be compared by eye.
    """
    reference = panels[0][1]
    low, high = reference.min(0).values, reference.max(0).values
    center, half = (low + high) / 2, float((high - low).max()) / 2 * 1.15
    image = Image.new("RGB", (size * len(panels), size + 24), "white")
    draw = ImageDraw.Draw(image)
    for k, (title, points, labels) in enumerate(panels):
        draw.text((k * size + 8, 4), title, fill="black")
        pixels = ((points - center) / half * 0.5 + 0.5) * (size - 1)
        for (px, py), label in zip(pixels.tolist(), labels.tolist()):
            x, y = k * size + px, 24 + (size - 1 - py)
            draw.ellipse((x - 1, y - 1, x + 1, y + 1), fill=PALETTE[label % len(PALETTE)])
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def model_card(config: CheckpointConfig, report: EvalReport | None, command: str) -> str:
    """The README.md text: front matter, what the model is, how it was trained, its figures."""
    training = config.training
    classes = ", ".join(f"{i}: {name}" for i, name in enumerate(config.class_names))
    lines = [
        "---",
        "library_name: pytorch",
        "license: mit",
        "tags:",
        "- diffusion",
        "- ddpm",
        "- toy-2d",
        f"- {config.dataset}",
        "---",
        "",
        f"# {config.dataset}: a class-conditional 2D diffusion model",
        "",
        f"A FiLM MLP ({config.model.num_layers} layers of {config.model.hidden} units, "
        f"{config.model.fourier_bands} Fourier bands) predicting `{config.model.prediction}` under a "
        f"{config.schedule['kind']} schedule with T={config.schedule['num_steps']}, trained with label dropout "
        f"so one network is both conditional and unconditional (classifier-free guidance). "
        f"Classes: {classes}. Weights are the EMA weights.",
        "",
        "Load it with `diffusion_core.load_pipeline(path)`; `generate` returns points in the coordinates "
        "of `diffusion_core.data.toy_dataset` (documented fixed rescaling of the scikit-learn-style generator).",
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
        lines += ["", f"![samples]({SAMPLE_IMAGE_NAME})", ""]
        lines.append(
            "SW ratio: sliced-Wasserstein distance (SW₂, "
            f"{report.settings.num_directions} random directions) between {report.settings.n_samples} generated "
            "points and each of 5 fresh data sets, averaged, divided by the mean distance between pairs of those "
            "sets (a perfect sampler scores about 1). Conformity: share of guided samples whose nearest fresh "
            "data point carries the requested label."
        )
    return "\n".join(lines) + "\n"
