"""How fast do EMNIST U-Nets sample and train on a few CPU threads, against the calibration baseline?

For each design, in one process with rounds interleaved so a load change from other
processes hits every design alike, prints medians of:
  step  - ms per batched sampling step for 32 images (16 characters + their 16
          unconditional rows for classifier-free guidance), eval mode, inference mode
  train - Trainer steps/s at batch 128 (forward, MSE, backward, AdamW, EMA)
and each design's ratio to the baseline, which stays meaningful on a loaded machine.
The baseline is a plain calibration net: a plain U-Net at 28/14/7 with channels
32/64/128 and one FiLM residual block per level (1.1M parameters).
With --sample it also times the full `sample` call: 16 characters, DDIM 50 steps, w=3.

    python bench/emnist_speed.py [--threads 2] [--rounds 5] [--sample] [--designs shipped baseline ...]

On a machine shared with other jobs, run it with OMP_WAIT_POLICY=PASSIVE: OpenMP's
spinning threads otherwise fight the other processes and 2 threads run several times
slower than 1, which distorts every figure (the ratios included).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time

import torch

from diffusion_core import NoiseSchedule, sample
from diffusion_core.models import UNet, UNetConfig
from diffusion_core.training import TrainConfig, Trainer

DESIGNS = {
    "baseline": UNetConfig(patch=1, channels=(32, 64, 128), blocks=(1, 1, 1), attention=False),
    "shipped": UNetConfig(),
    "p2-32-128": UNetConfig(channels=(32, 128)),
    "p2-48-128": UNetConfig(channels=(48, 128)),
    "p2-32-96-b12": UNetConfig(blocks=(1, 2)),
    "p2-32-96-noattn": UNetConfig(attention=False),
}


def cfg_batch(n_chars: int = 16) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """x: (2n, 1, 28, 28), t: (2n,), labels: n classes then n nulls, as `sample` batches CFG."""
    labels = torch.cat([torch.arange(n_chars) % 62, torch.full((n_chars,), -1)])
    return torch.randn(2 * n_chars, 1, 28, 28), torch.full((2 * n_chars,), 500), labels


def time_steps(model: UNet, channels_last: bool, calls: int) -> list[float]:
    x, t, labels = cfg_batch()
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    model.eval()
    times = []
    with torch.inference_mode():
        model(x, t, labels)
        for _ in range(calls):
            start = time.perf_counter()
            model(x, t, labels)
            times.append(time.perf_counter() - start)
    return times


def make_trainer(config: UNetConfig, channels_last: bool) -> Trainer:
    images = torch.rand(4096, 1, 28, 28) * 2 - 1
    labels = torch.randint(0, 62, (4096,))
    if channels_last:
        images = images.contiguous(memory_format=torch.channels_last)

    def batches(n: int, generator: torch.Generator):
        rows = torch.randint(0, len(images), (n,), generator=generator)
        return images[rows], labels[rows]

    model = UNet(config)
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
    return Trainer(
        model, NoiseSchedule.create("linear", 1000), batches, TrainConfig(batch_size=128, steps=10**6)
    )


def time_train(trainer: Trainer, calls: int) -> list[float]:
    trainer.model.train()
    trainer.train_step()
    times = []
    for _ in range(calls):
        start = time.perf_counter()
        trainer.train_step()
        times.append(time.perf_counter() - start)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument(
        "--rounds", type=int, default=5, help="interleaved rounds; medians are over all of them"
    )
    parser.add_argument("--step-calls", type=int, default=5, help="sampling steps timed per design per round")
    parser.add_argument("--train-calls", type=int, default=2, help="train steps timed per design per round")
    parser.add_argument("--designs", nargs="+", default=["baseline", "shipped"], choices=sorted(DESIGNS))
    parser.add_argument(
        "--formats",
        nargs="+",
        default=["contiguous", "channels_last"],
        choices=["contiguous", "channels_last"],
    )
    parser.add_argument(
        "--sample", action="store_true", help="also time 16 characters, DDIM 50 steps, w=3, per design"
    )
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    runs = [(name, fmt) for name in args.designs for fmt in args.formats]
    models = {run: UNet(DESIGNS[run[0]]) for run in runs}
    for (name, fmt), model in models.items():
        if fmt == "channels_last":
            models[(name, fmt)] = model.to(memory_format=torch.channels_last)
    trainers = {run: make_trainer(DESIGNS[run[0]], run[1] == "channels_last") for run in runs}
    step_times = {run: [] for run in runs}
    train_times = {run: [] for run in runs}
    for round_index in range(args.rounds):
        for run in runs:
            step_times[run] += time_steps(models[run], run[1] == "channels_last", args.step_calls)
            train_times[run] += time_train(trainers[run], args.train_calls)
        print(f"round {round_index + 1}/{args.rounds} done", file=sys.stderr)

    print(f"torch {torch.__version__}, {args.threads} threads, {args.rounds} rounds; medians")
    reference = ("baseline", args.formats[0]) if ("baseline", args.formats[0]) in runs else runs[0]
    ref_step = statistics.median(step_times[reference])
    ref_train = 1.0 / statistics.median(train_times[reference])
    print(
        f"{'design':16s} {'format':14s} {'params':>8s} {'ms/step(32)':>12s} {'x base':>7s} {'train st/s':>11s} {'x base':>7s}"
    )
    for run in runs:
        step = statistics.median(step_times[run])
        train = 1.0 / statistics.median(train_times[run])
        params = sum(p.numel() for p in models[run].parameters())
        print(
            f"{run[0]:16s} {run[1]:14s} {params / 1e6:7.3f}M {1000 * step:12.1f} {step / ref_step:7.2f} "
            f"{train:11.2f} {train / ref_train:7.2f}"
        )
    if args.sample:
        schedule = NoiseSchedule.create("linear", 1000)
        for run in runs:
            model = models[run].eval()
            start = time.perf_counter()
            for _ in sample(
                model,
                schedule,
                (16, 1, 28, 28),
                "ddim",
                50,
                labels=torch.arange(16),
                guidance=3.0,
                clip_range=(-1.0, 1.0),
                generator=0,
            ):
                pass
            print(
                f"{run[0]:16s} {run[1]:14s} 16 characters, DDIM 50 steps, w=3: {time.perf_counter() - start:.2f} s"
            )


if __name__ == "__main__":
    main()
