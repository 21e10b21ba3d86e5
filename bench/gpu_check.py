"""Does the project run on this machine's GPU, and how fast? Every sampler, training steps, a served run.

On the first GPU found (CUDA, then Apple MPS; or the one --device names):
  1. every sampler on a shipped 2D model (moons, 2000 points) and on EMNIST (16 characters, w = 3),
     the same seed on the GPU and on the CPU: the largest difference of the samples (the noise is
     drawn on the CPU for every device, so only float rounding should differ);
  2. a few training steps of each network (the FiLM MLP on moons, the U-Net on EMNIST-sized
     images) with bf16 autocast on CUDA, as `training.Trainer` does there: steps per second;
  3. one run through the app's own path (`demo.requests.validate_request` and `demo.live.run_sample`,
     frames and quality meter included), and the absolute times the serving issue asks for:
     EMNIST 64 characters DDPM-1000 with guidance, moons DDPM-1000 on 5000 points.
Without a GPU it says so and exits (status 0): nothing to check.

    python -m bench.gpu_check [--device cuda|mps|cpu]    # from the repository root
"""

from __future__ import annotations

import argparse
import time

import torch

from diffusion_core.data import toy_dataset
from diffusion_core.samplers import SAMPLERS
from diffusion_core.training import TrainConfig, Trainer
from diffusion_core.weights.pipeline import load_pipeline


def gpu() -> str | None:
    if torch.cuda.is_available():
        return "cuda"
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        return "mps"
    return None


def seconds(fn) -> tuple[float, object]:
    start = time.perf_counter()
    out = fn()
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    return time.perf_counter() - start, out


def same_samples(device: str, points: int = 2000, characters: int = 16, steps: int = 50) -> float:
    """Part 1; returns the largest difference over every case."""
    print("1. the same seed on the GPU and the CPU (largest |difference| of the samples):")
    steered = {"label": 0, "classifier_scale": 1.0, "conditional": False}  # classifier guidance, with its guide
    worst = 0.0
    for name, n, options in (("moons", points, {}), ("emnist", characters, {"label": "A", "guidance": 3.0}),
                             ("moons", points, steered), ("emnist", characters, {**steered, "classifier_scale": 3.0}),
                             ("moons_learned", points, {"variance": "learned"})):
        cpu, there = load_pipeline(name, "cpu"), load_pipeline(name, device)
        for sampler in SAMPLERS:
            steps_here = steps if sampler != "heun" else max(1, steps // 2)  # Heun: two evaluations a step
            a = cpu.generate(n, sampler=sampler, steps=steps_here, seed=7, **options)
            took, b = seconds(lambda: there.generate(n, sampler=sampler, steps=steps_here, seed=7, **options))
            difference = float((a - b.cpu()).abs().max())
            worst = max(worst, difference)
            what = "steered" if "classifier_scale" in options else "learned Σ" if "variance" in options else ""
            print(f"   {name:<13} {what:<9} {sampler:<16} {difference:.2e}   ({took:.3f} s there)")
    return worst


def training_steps(device: str, steps: int = 30, batch_size: int = 128) -> dict[str, float]:
    """Part 2; returns each network's last loss."""
    print(f"2. {steps} training steps of each network on {device} (bf16 autocast on CUDA):")
    losses = {}
    for name in ("moons", "emnist"):
        config = load_pipeline(name, "cpu").config
        if name == "moons":
            batches = lambda n, g: toy_dataset("moons", n, int(torch.randint(0, 2**31, (1,), generator=g)))  # noqa: E731
        else:
            batches = lambda n, g: (torch.rand(n, 1, 28, 28, generator=g) * 2 - 1,  # noqa: E731
                                    torch.randint(0, 62, (n,), generator=g))
        trainer = Trainer(config.build_model(), config.build_schedule(), batches,
                          TrainConfig(steps=steps, batch_size=batch_size), config.model.prediction, device)
        trainer.run(until=3, progress=False)  # warm-up: kernels, allocator
        took, _ = seconds(lambda: trainer.run(until=steps, progress=False))
        print(f"   {name:<7} {(steps - 3) / took:7.1f} steps/s, last loss {trainer.losses[-1]:.4f}")
        losses[name] = trainer.losses[-1]
    return losses


SERVED = (("moons DDPM-1000, 5000 points", ("moons", "ddpm", 1000, 0.0, "unconditional", 0.0, 5000)),
          ("EMNIST DDPM-1000, 64 characters, w = 3", ("emnist", "ddpm", 1000, 0.0, "A", 3.0, 64)),
          ("EMNIST DDIM-50, 16 characters, w = 3", ("emnist", "ddim", 50, 0.0, "A", 3.0, 16)))


def served_run(device: str, cases=SERVED) -> list:
    """Part 3; returns each case's last update (its summary: frames sent, timings)."""
    from diffusion_core.demo import live
    from diffusion_core.demo.cache import ModelCache
    from diffusion_core.demo.requests import validate_request

    print(f"3. runs through the app's own path on {device}:")
    cache = ModelCache(loader=lambda folder: load_pipeline(folder, device), max_run_seconds=600)
    finals = []
    for label, args in cases:
        request = validate_request(cache, *args, seed=0)
        took, updates = seconds(lambda: list(live.run_sample(request, cache)))
        print(f"   {label:<40} {took:6.2f} s end to end, {updates[-1].summary['frames_sent']} frames")
        finals.append(updates[-1])
    return finals


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", help="the device to check (default: the first GPU found)")
    args = parser.parse_args()
    device = args.device or gpu()
    if device is None:
        print("no GPU here (neither CUDA nor Apple MPS): nothing to check. Run this where one is.")
        return
    name = torch.cuda.get_device_name() if device.startswith("cuda") else device
    print(f"device: {name}; torch {torch.__version__}")
    same_samples(device)
    training_steps(device)
    served_run(device)


if __name__ == "__main__":
    main()
