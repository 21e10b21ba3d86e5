"""A small CNN that recognises the 62 EMNIST ByClass characters; the judge of generated characters.

Three conv-BN-ReLU-maxpool stages (28 → 14 → 7 → 3) and a 256-unit penultimate layer,
`features(x)`, whose activations serve as the feature space of the diversity and
Fréchet-distance figures (the role Inception-v3's pool features play in FID,
Heusel et al. 2017). Trained with plain cross-entropy and Adam on the training part
of ByClass only, so the held-out part stays unseen by both it and the diffusion model.

    python -m diffusion_core.models.classifier --data-dir ../shared/data/emnist --out checkpoints/emnist-classifier
"""

from __future__ import annotations

import argparse
import json
import math
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save
from torch import nn

CONFIG_NAME = "config.json"
WEIGHTS_NAME = "model.safetensors"
CARD_NAME = "README.md"


class ClassifierLoadError(ValueError):
    """A classifier folder is missing a file or its contents do not fit the model."""


@dataclass(frozen=True)
class ClassifierConfig:
    """Everything that rebuilds a `CharacterClassifier`; saved as config.json."""

    num_classes: int = 62
    channels: tuple[int, int, int] = (32, 64, 128)
    feature_dim: int = 256
    dropout: float = 0.3

    def __post_init__(self):
        if not isinstance(self.num_classes, int) or self.num_classes < 2:
            raise ValueError(f"classifier num_classes must be an integer >= 2, got {self.num_classes!r}")
        channels = tuple(self.channels)
        if len(channels) != 3 or not all(isinstance(c, int) and c > 0 for c in channels):
            raise ValueError(f"classifier channels must be three positive integers, got {self.channels!r}")
        object.__setattr__(self, "channels", channels)
        if not isinstance(self.feature_dim, int) or self.feature_dim < 1:
            raise ValueError(f"classifier feature_dim must be a positive integer, got {self.feature_dim!r}")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"classifier dropout must be in [0, 1), got {self.dropout!r}")

    def to_dict(self) -> dict:
        return {**asdict(self), "channels": list(self.channels)}

    @classmethod
    def from_dict(cls, values: dict) -> ClassifierConfig:
        known = set(cls.__dataclass_fields__)
        unknown = sorted(set(values) - known)
        if unknown:
            raise ValueError(f"unknown classifier config keys {unknown}; allowed: {sorted(known)}")
        return cls(**values)


class CharacterClassifier(nn.Module):
    """x: (B, 1, 28, 28) in [-1, 1] → logits (B, num_classes); `features(x)`: (B, feature_dim)."""

    def __init__(self, config: ClassifierConfig):
        super().__init__()
        self.config = config
        layers: list[nn.Module] = []
        previous = 1
        for width in config.channels:
            layers += [
                nn.Conv2d(previous, width, 3, padding=1, bias=False),
                nn.BatchNorm2d(width),
                nn.ReLU(),
                nn.MaxPool2d(2),
            ]
            previous = width
        self.body = nn.Sequential(*layers)
        self.embed = nn.Sequential(nn.Flatten(), nn.Linear(previous * 3 * 3, config.feature_dim), nn.ReLU())
        self.head = nn.Sequential(
            nn.Dropout(config.dropout), nn.Linear(config.feature_dim, config.num_classes)
        )

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """The penultimate (post-ReLU) activations, (B, feature_dim)."""
        return self.embed(self.body(x))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


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
        if not isinstance(self.epochs, int) or self.epochs < 1:
            raise ValueError(f"epochs must be a positive integer, got {self.epochs!r}")
        if not isinstance(self.batch_size, int) or self.batch_size < 1:
            raise ValueError(f"batch_size must be a positive integer, got {self.batch_size!r}")


@torch.inference_mode()
def predict(model: CharacterClassifier, images: torch.Tensor, batch_size: int = 1024) -> torch.Tensor:
    """Argmax class of every image, images: (N, 1, 28, 28) → (N,) long; the model is put in eval mode."""
    model.eval()
    return torch.cat([model(images[i : i + batch_size]).argmax(1) for i in range(0, len(images), batch_size)])


def accuracy(
    predicted: torch.Tensor, labels: torch.Tensor, class_names: tuple[str, ...]
) -> tuple[float, float]:
    """(exact, case-insensitive) accuracy; the latter folds CASE_MERGED_LETTERS to upper case on both sides."""
    from ..data.emnist import case_merged

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
    from ..data.emnist import CASE_MERGED_LETTERS, load_emnist, split_indices

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
    from ..checkpoint import write_file_atomically  # imported here: checkpoint imports this package

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
        "    python -m diffusion_core.models.classifier --data-dir ../shared/data/emnist "
        f"--out checkpoints/emnist-classifier --epochs {s['epochs']} --seed {s['seed']}\n\n"
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


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description="Train the EMNIST ByClass classifier that judges generated characters."
    )
    parser.add_argument("--data-dir", required=True, help="folder with the EMNIST ByClass gzip IDX files")
    parser.add_argument("--out", default="checkpoints/emnist-classifier", help="output folder")
    parser.add_argument("--epochs", type=int, default=ClassifierTraining.epochs)
    parser.add_argument("--seed", type=int, default=ClassifierTraining.seed)
    parser.add_argument("--threads", type=int, help="CPU threads for torch")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    report = train_classifier(args.data_dir, args.out, ClassifierTraining(epochs=args.epochs, seed=args.seed))
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
