"""The project's judge of generated characters: train, save, load and describe the EMNIST classifier.

The network is `models.classifier.CharacterClassifier`. It is trained with plain
cross-entropy and Adam on the training part of ByClass only, so the held-out part
stays unseen by both it and the diffusion model, and it never moves with the
generator it judges (a generator guided by its own judge would game its score).

    python train_toy.py train-classifier --data-dir ../shared/data/emnist
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save
from torch import nn

from ..data.emnist import CASE_MERGED_LETTERS, case_merged, load_emnist, split_indices
from ..models.classifier import CharacterClassifier, ClassifierConfig
from ..models.configs import check_positive_ints
from ..weights.atomic import write_file_atomically

CONFIG_NAME = "config.json"
WEIGHTS_NAME = "model.safetensors"
CARD_NAME = "README.md"
JUDGE_NAME = "emnist-classifier"  # the judge's folder beside the models in checkpoints/


class ClassifierLoadError(ValueError):
    """A classifier folder is missing a file or its contents do not fit the model."""


@dataclass(frozen=True)
class ClassifierTraining:
    """Plain training settings: Adam at `lr` with cosine decay over `epochs`, cross-entropy, no augmentation."""

    epochs: int = 3
    batch_size: int = 256
    lr: float = 2e-3
    weight_decay: float = 1e-4
    held_out_fraction: float = 0.1
    seed: int = 0

    def __post_init__(self):
        check_positive_ints(self, ("epochs", "batch_size"), what="")


@torch.inference_mode()
def predict(model: CharacterClassifier, images: torch.Tensor, batch_size: int = 1024) -> torch.Tensor:
    """Argmax class of every image, images: (N, 1, 28, 28) → (N,) long; the model is put in eval mode."""
    model.eval()
    return torch.cat([model(images[i : i + batch_size]).argmax(1) for i in range(0, len(images), batch_size)])


def accuracy(
    predicted: torch.Tensor, labels: torch.Tensor, class_names: tuple[str, ...]
) -> tuple[float, float]:
    """(exact, case-insensitive) accuracy; the latter folds CASE_MERGED_LETTERS to upper case on both sides."""
    exact = (predicted == labels).double().mean().item()
    merged = (case_merged(predicted, class_names) == case_merged(labels, class_names)).double().mean().item()
    return exact, merged


def train_classifier(
    data_dir: Path | str,
    out: Path | str,
    settings: ClassifierTraining = ClassifierTraining(),
    config: ClassifierConfig = ClassifierConfig(),
    log=print,
) -> dict:
    """Train on the training part of EMNIST ByClass, measure on the held-out part, save to `out`.

    The held-out part is `split_indices(N, settings.held_out_fraction, settings.seed)`,
    the same split the diffusion model trains and is judged with. Returns the report
    saved in the model card: accuracies, seconds, settings.
    """
    data = load_emnist(data_dir, "byclass")
    train_rows, held_rows = split_indices(len(data.labels), settings.held_out_fraction, settings.seed)
    x_train, y_train = data.images[train_rows], data.labels[train_rows]
    torch.manual_seed(settings.seed)
    generator = torch.Generator().manual_seed(settings.seed)
    model = CharacterClassifier(config).to(memory_format=torch.channels_last)
    optimizer = torch.optim.Adam(model.parameters(), lr=settings.lr, weight_decay=settings.weight_decay)
    steps_per_epoch = math.ceil(len(x_train) / settings.batch_size)
    total = settings.epochs * steps_per_epoch
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: 0.5 * (1 + math.cos(math.pi * s / total))
    )
    start = time.perf_counter()
    for epoch in range(settings.epochs):
        model.train()
        order = torch.randperm(len(x_train), generator=generator)
        running = 0.0
        for step in range(steps_per_epoch):
            rows = order[step * settings.batch_size : (step + 1) * settings.batch_size]
            x = x_train[rows].contiguous(memory_format=torch.channels_last)
            loss = nn.functional.cross_entropy(model(x), y_train[rows])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            schedule.step()
            running += loss.item()
            if (step + 1) % 50 == 0:
                log(
                    f"epoch {epoch + 1} step {step + 1}/{steps_per_epoch} loss {running / 50:.4f} "
                    f"({time.perf_counter() - start:.0f} s)"
                )
                running = 0.0
        exact, merged = accuracy(
            predict(model, data.images[held_rows]), data.labels[held_rows], data.class_names
        )
        log(f"epoch {epoch + 1}: held-out accuracy {exact:.4f}, case-insensitive {merged:.4f}")
        report = {
            "held_out_accuracy": round(exact, 4),
            "held_out_accuracy_case_insensitive": round(merged, 4),
            "case_merged_letters": CASE_MERGED_LETTERS,
            "train_images": len(train_rows),
            "held_out_images": len(held_rows),
            "epochs_completed": epoch + 1,
            "seconds": round(time.perf_counter() - start, 1),
            "threads": torch.get_num_threads(),
            "settings": asdict(settings),
        }
        # Saved after every epoch so an interrupted run still leaves a usable judge.
        save_classifier(out, model, report)
    return report


def save_classifier(out: Path | str, model: CharacterClassifier, report: dict) -> Path:
    """Write config.json, model.safetensors and a README.md with the training report into `out`, each atomically."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    weights = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    write_file_atomically(out / WEIGHTS_NAME, save(weights, {"format": "pt"}))
    config = json.dumps({"model": model.config.to_dict(), "report": report}, indent=2) + "\n"
    write_file_atomically(out / CONFIG_NAME, config.encode())
    write_file_atomically(out / CARD_NAME, _card(model, report).encode())
    return out


def _card(model: CharacterClassifier, report: dict) -> str:
    parameters = sum(p.numel() for p in model.parameters())
    s = report["settings"]
    return (
        "# EMNIST ByClass character classifier\n\n"
        f"A {parameters:,}-parameter CNN (`diffusion_core.models.classifier.CharacterClassifier`, "
        f"channels {list(model.config.channels)}, {model.config.feature_dim} penultimate features) that judges "
        "generated characters: class conformity, within-class diversity and Fréchet distance in its feature space.\n\n"
        "## Training\n\n"
        f"EMNIST ByClass (official test file, 62 classes), training part of `split_indices(N, "
        f"{s['held_out_fraction']}, seed={s['seed']})`: {report['train_images']:,} images; the other "
        f"{report['held_out_images']:,} are held out and never trained on. Plain cross-entropy, Adam lr {s['lr']} "
        f"with cosine decay, weight decay {s['weight_decay']}, batch {s['batch_size']}, "
        f"{report['epochs_completed']} of {s['epochs']} epochs, "
        f"no augmentation; {report['seconds']:.0f} s on {report['threads']} CPU thread(s).\n\n"
        "    python train_toy.py train-classifier --data-dir ../shared/data/emnist "
        f"--epochs {s['epochs']} --seed {s['seed']}\n\n"
        "## Held-out accuracy\n\n"
        f"- exact (62 classes): {report['held_out_accuracy']:.2%}\n"
        f"- case-insensitive for {' '.join(report['case_merged_letters'])} (EMNIST ByMerge's merged letters): "
        f"{report['held_out_accuracy_case_insensitive']:.2%}\n"
    )


def load_classifier(path: Path | str) -> CharacterClassifier:
    """Rebuild the classifier in `path` and load model.safetensors strictly; eval mode.

    Raises ClassifierLoadError naming a missing file, bad config, or the missing,
    unknown or mis-shaped tensors.
    """
    path = Path(path)
    config_path, weights_path = path / CONFIG_NAME, path / WEIGHTS_NAME
    for needed in (config_path, weights_path):
        if not needed.is_file():
            raise ClassifierLoadError(
                f"{needed} is missing; a classifier folder needs {CONFIG_NAME} and {WEIGHTS_NAME}"
            )
    try:
        config = ClassifierConfig.from_dict(json.loads(config_path.read_text())["model"])
    except (json.JSONDecodeError, KeyError, TypeError, ValueError) as error:
        raise ClassifierLoadError(f"{config_path}: not a classifier config ({error!r})") from error
    try:
        weights = load_file(weights_path)
    except (SafetensorError, OSError, ValueError) as error:
        raise ClassifierLoadError(f"{weights_path} is not a readable safetensors file: {error}") from error
    model = CharacterClassifier(config)
    expected = model.state_dict()
    problems = []
    if missing := sorted(set(expected) - set(weights)):
        problems.append(f"missing tensors {missing}")
    if unknown := sorted(set(weights) - set(expected)):
        problems.append(f"unknown tensors {unknown}")
    shapes = [
        f"{name}: file {tuple(weights[name].shape)} vs model {tuple(expected[name].shape)}"
        for name in sorted(set(expected) & set(weights))
        if weights[name].shape != expected[name].shape
    ]
    if shapes:
        problems.append("shape mismatch " + "; ".join(shapes))
    if problems:
        raise ClassifierLoadError(f"{weights_path}: " + ", ".join(problems))
    model.load_state_dict(weights)
    return model.eval()
