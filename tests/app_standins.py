"""Stand-in pipelines for the app's tests: small, fast models behind the app's `ServablePipeline` interface.

`ImagePipeline` is a tiny untrained 28×28 image model: `class_names`, `schedule`,
`sample_shape = (1, 28, 28)`, `dataset = None` and `trajectory(n, sampler, steps,
label, guidance, eta, seed)` yielding the sampler's steps with samples in [-1, 1].
"""

from __future__ import annotations

import socket
import time
from pathlib import Path

import torch
from torch import nn

from diffusion_core import NoiseSchedule, sample
from diffusion_core.analytic import GaussianMixture
from diffusion_core.demo.cache import ModelCache
from diffusion_core.models import MLPConfig, SinusoidalTimeEmbedding
from diffusion_core.weights.checkpoint import CheckpointConfig
from diffusion_core.weights.pipeline import Pipeline


class TinyConvDenoiser(nn.Module):
    """x_t: (B, 1, 28, 28), t: (B,), labels: (B,) with -1 = unconditional → ε̂, same shape. Untrained."""

    def __init__(self, num_classes: int, channels: int = 8):
        super().__init__()
        self.time = SinusoidalTimeEmbedding(16)
        self.label = nn.Embedding(num_classes + 1, 16)
        self.to_shift = nn.Linear(16, channels)
        self.inp = nn.Conv2d(1, channels, 3, padding=1)
        self.out = nn.Conv2d(channels, 1, 3, padding=1)
        self.null = num_classes

    def forward(self, x, t, labels=None):
        labels = torch.full_like(t, -1) if labels is None else labels
        c = self.time(t) + self.label(torch.where(labels < 0, torch.full_like(labels, self.null), labels))
        return self.out(nn.functional.silu(self.inp(x) + self.to_shift(c)[:, :, None, None]))


class ImagePipeline:
    """A 28×28 image model behind the pipeline interface the app uses (stand-in for EMNIST)."""

    sample_shape = (1, 28, 28)
    dataset = None
    prediction = "epsilon"

    def __init__(self, model: nn.Module | None = None, class_names=tuple("ABCDEFGHIJ"), num_train_steps=1000):
        self.class_names = tuple(class_names)
        self.schedule = NoiseSchedule.create("cosine", num_train_steps)
        self.model = (model or TinyConvDenoiser(len(self.class_names))).eval()

    def trajectory(self, n=16, sampler="ddim", steps=None, label=None, guidance=0.0, eta=0.0, seed=None,
                   classifier_scale=0.0, conditional=None, variance=None):
        assert classifier_scale == 0 and variance in (None, "fixed_small", "fixed_large"), "no guide, no learned Σ"
        index = self.class_names.index(label) if isinstance(label, str) else label
        return sample(
            self.model,
            self.schedule,
            (n, *self.sample_shape),
            sampler=sampler,
            steps=steps or 50,
            eta=eta,
            labels=index,
            guidance=guidance,
            clip_range=(-1.0, 1.0),
            generator=seed,
            variance=variance or "fixed_small",
        )


class MixtureDenoiser(nn.Module):
    """The exact ε of a two-class Gaussian mixture (diffusion_core.analytic): sensible samples, no training.

    Class 0 sits around (-1, 0.5), class 1 around (1, -0.5); a label picks its class's
    components, -1 (unconditional) the whole mixture.
    """

    def __init__(self, schedule: NoiseSchedule):
        super().__init__()
        mixture = GaussianMixture(
            means=torch.tensor([[-1.0, 0.5], [-0.5, 1.0], [1.0, -0.5], [0.5, -1.0]]),
            stds=torch.full((4,), 0.15),
            weights=torch.full((4,), 0.25),
            classes=torch.tensor([0, 0, 1, 1]),
        )
        self.exact = mixture.denoiser(schedule)

    def forward(self, x_t, t, labels=None):
        return self.exact(x_t, t, labels)


def points_pipeline(dataset: str = "moons", class_names=("upper moon", "lower moon")) -> Pipeline:
    """A 2D pipeline over `dataset`'s picture whose denoiser is exact for a small Gaussian mixture."""
    config = CheckpointConfig(
        model=MLPConfig(),
        schedule={"kind": "linear", "num_steps": 1000},
        class_names=tuple(class_names),
        dataset=dataset,
    )
    return Pipeline(MixtureDenoiser(config.build_schedule()), config, device="cpu")


class PacedPipeline:
    """A pipeline whose steps take at least `step_s` seconds each, so a stream lasts long enough to
    show its batching whatever the machine's speed."""

    def __init__(self, pipeline, step_s: float = 0.004):
        self.pipeline, self.step_s = pipeline, step_s
        self.class_names, self.schedule = pipeline.class_names, pipeline.schedule
        self.sample_shape, self.dataset = pipeline.sample_shape, pipeline.dataset

    def trajectory(self, *args, **kwargs):
        for step in self.pipeline.trajectory(*args, **kwargs):
            time.sleep(self.step_s)
            yield step


def standin_cache() -> ModelCache:
    """A cache of stand-ins only: a 2D "moons" driven by an exact mixture and a 28×28 "emnist". Runs may
    take two minutes: the step cost is measured once, at the first use, and a busy test machine would
    otherwise refuse a 1000-step test run (the bound itself is tested on the served app)."""
    cache = ModelCache(root=Path("/nonexistent"), max_run_seconds=120.0)
    cache.add("moons", points_pipeline())
    cache.add("emnist", ImagePipeline())
    return cache


def serving_cache():
    """The checkpoints in checkpoints/, stand-ins for what is missing (EMNIST; moons if no toy model is
    there), and "paced", a 2D model whose steps take 4 ms (for tests about the stream's timing)."""
    cache = ModelCache()
    cache.preload()
    if not any(cache.info(name).kind == "points" for name in cache.names()):
        cache.add("moons", points_pipeline())
    if "emnist" not in cache.names():
        cache.add("emnist", ImagePipeline())
    cache.add("paced", PacedPipeline(points_pipeline()))
    return cache


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def launch_app(cache):
    """Build the app over `cache` and serve it on 127.0.0.1 at a free port; returns (demo, url)."""
    import app  # the repository root's app.py (python -m pytest puts the root on sys.path)

    demo = app.build_demo(cache)
    demo.launch(server_name="127.0.0.1", server_port=free_port(), prevent_thread_lock=True, quiet=True,
                **app.launch_options())
    return demo, demo.local_url
