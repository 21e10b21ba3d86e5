"""What does the sampling loop cost beside its model? And beside diffusers' scheduler loop?

For a denoiser that costs nothing (the loops' own cost), a 2D FiLM MLP (the
shipped moons model's architecture, 2000 points) and a small conv net (16 images
of 28×28), on the CPU, prints medians over repeats of:
  model  - the bare forward passes of one trajectory (same calls, no sampler)
  ours   - the full `diffusion_core.sample` loop
  inside - of `ours`, the time spent inside the model's calls
  loop ms/step - (ours - inside) / steps: what the loop itself adds to each step
  diffusers - the equivalent diffusers scheduler loop with the same model (DDPMScheduler,
              DDIMScheduler, DPMSolverMultistepScheduler, HeunDiscreteScheduler,
              EulerAncestralDiscreteScheduler; Heun's makes one more call than ours, which
              leaves out the correction from σ > 80)
and the ratios ours/model and ours/diffusers, all from one process, interleaved.

    python -m bench.sampler_overhead [--repeats 5] [--threads 2]     # from the repository root
"""

from __future__ import annotations

import argparse
import inspect
import json
import statistics
import time

import torch
from torch import nn

from diffusion_core import NoiseSchedule, model_calls, sample
from diffusion_core.models import FiLMMLP, MLPConfig, SinusoidalTimeEmbedding
from diffusion_core.weights.pipeline import CHECKPOINTS_DIR


class TinyConvNet(nn.Module):
    """A small conv denoiser, x: (B, 1, 28, 28); only its cost matters here."""

    def __init__(self, channels: int = 32):
        super().__init__()
        self.time = SinusoidalTimeEmbedding(32)
        self.to_shift = nn.Linear(32, channels)
        self.inp = nn.Conv2d(1, channels, 3, padding=1)
        self.mid = nn.Conv2d(channels, channels, 3, padding=1)
        self.out = nn.Conv2d(channels, 1, 3, padding=1)

    def forward(self, x, t, labels=None):
        h = nn.functional.silu(self.inp(x) + self.to_shift(self.time(t))[:, :, None, None])
        return self.out(nn.functional.silu(self.mid(h)))


def shipped_mlp() -> tuple[FiLMMLP, str]:
    config_path = CHECKPOINTS_DIR / "moons" / "config.json"
    if config_path.exists():
        config = MLPConfig.from_dict(json.loads(config_path.read_text())["model"])
        source = "checkpoints/moons architecture"
    else:
        config, source = MLPConfig(), "default MLPConfig (no shipped moons checkpoint found)"
    return FiLMMLP(config).eval(), f"{source}: {sum(p.numel() for p in FiLMMLP(config).parameters()):,} parameters"


def bare_model(model, x, timesteps, labels):
    with torch.inference_mode():
        for t in timesteps:
            model(x, torch.full((x.shape[0],), t, dtype=torch.long), labels)


class Timed:
    """A denoiser that times its own calls, so a loop's time splits into model and loop."""

    def __init__(self, model):
        self.model, self.seconds = model, 0.0

    def __call__(self, x, t, labels):
        start = time.perf_counter()
        output = self.model(x, t, labels)
        self.seconds += time.perf_counter() - start
        return output


def ours(model, schedule, shape, sampler, steps, labels):
    for _ in sample(model, schedule, shape, sampler=sampler, steps=steps, labels=labels, generator=0):
        pass


def diffusers_loop(model, scheduler, shape, steps, labels):
    generator = torch.Generator().manual_seed(0)
    scheduler.set_timesteps(steps)
    x = torch.randn(shape, generator=generator) * scheduler.init_noise_sigma
    extra = {"generator": generator} if "generator" in inspect.signature(scheduler.step).parameters else {}
    with torch.inference_mode():
        for t in scheduler.timesteps:  # Heun's list holds each timestep but the first twice
            output = model(scheduler.scale_model_input(x, t), t.long().expand(shape[0]), labels)
            x = scheduler.step(output, t, x, **extra).prev_sample


def median_seconds(fn, repeats: int) -> list[float]:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=5, help="timed runs per variant (median reported)")
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    import diffusers

    # Each sampler of ours, its step count here and diffusers' scheduler for it.
    samplers = [("ddim", 50, diffusers.DDIMScheduler, {"clip_sample": False}),
                ("ddpm", 1000, diffusers.DDPMScheduler, {"clip_sample": False}),
                ("dpmpp_2m", 20, diffusers.DPMSolverMultistepScheduler, {"algorithm_type": "dpmsolver++"}),
                ("heun", 20, diffusers.HeunDiscreteScheduler, {}),
                ("euler_ancestral", 50, diffusers.EulerAncestralDiscreteScheduler, {})]

    torch.manual_seed(0)
    mlp, mlp_note = shipped_mlp()
    cases = [
        # A denoiser that costs almost nothing isolates each loop's own per-step cost.
        ("no network, 2000 points", lambda x, t, labels: 0.1 * x, (2000, 2), None),
        ("2D MLP, 2000 points", mlp, (2000, 2), torch.zeros(2000, dtype=torch.long)),
        ("conv net, 16 × 28×28", TinyConvNet().eval(), (16, 1, 28, 28), None),
    ]
    schedule = NoiseSchedule.create("linear", 1000)
    print(f"torch {torch.__version__}, {args.threads} threads, median of {args.repeats}; MLP = {mlp_note}\n")
    print(f"{'case':<24}{'sampler':<20}{'model s':>9}{'ours s':>9}{'inside s':>10}{'loop ms/step':>14}"
          f"{'diffusers s':>13}{'ours/model':>12}{'ours/diffusers':>16}")
    for name, model, shape, labels in cases:
        for sampler, steps, make, options in samplers:
            scheduler = make(num_train_timesteps=1000, beta_schedule="linear", timestep_spacing="trailing", **options)
            if steps == 1000 and name.startswith("conv"):
                steps = 250  # keep the run short; the per-step cost is what matters
            scheduler.set_timesteps(steps)
            # The bare model makes our sampler's calls (Heun: two a step, one from σ > 80 and on the last).
            calls = model_calls(sampler, steps, schedule)
            timesteps = [int(t) for t in scheduler.timesteps.tolist()][:calls]
            timesteps += timesteps[-1:] * (calls - len(timesteps))
            x = torch.randn(shape)
            timed = Timed(model)
            variants = {
                "model": lambda: bare_model(model, x, timesteps, labels),
                "ours": lambda: ours(timed, schedule, shape, sampler, steps, labels),
                "diffusers": lambda: diffusers_loop(model, scheduler, shape, steps, labels),
            }
            for fn in variants.values():  # warm-up
                fn()
            samples = {key: [] for key in [*variants, "inside", "loop"]}
            for _ in range(args.repeats):  # interleaved, so drift hits all three alike
                for key, fn in variants.items():
                    timed.seconds = 0.0
                    samples[key] += median_seconds(fn, 1)
                    if key == "ours":
                        samples["inside"].append(timed.seconds)
                        samples["loop"].append(1e3 * (samples["ours"][-1] - timed.seconds) / steps)
            m = {key: statistics.median(v) for key, v in samples.items()}
            print(f"{name:<24}{sampler + '-' + str(steps):<20}{m['model']:>9.3f}{m['ours']:>9.3f}"
                  f"{m['inside']:>10.3f}{m['loop']:>14.3f}{m['diffusers']:>13.3f}{m['ours'] / m['model']:>12.3f}"
                  f"{m['ours'] / m['diffusers']:>16.3f}")


if __name__ == "__main__":
    main()
