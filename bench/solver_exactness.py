"""How exact is each sampler, for its model calls? On a Gaussian mixture whose ε is known in closed form.

Drives every sampler with the exact denoiser of tests/test_samplers_exactness.py's mixture
(4 components in 2D, the linear schedule, T = 1000; `diffusion_core.analytic`), so every error
is the sampler's own, and prints for each sampler and step count the worst relative error of a
component's weight, mean or spread over 4000 points (fresh true samples score about 0.05),
the network evaluations (NFE) it took, and the same figure from diffusers' scheduler for that
sampler run on the same mixture and noise (where diffusers is installed).

    python -m bench.solver_exactness [--points 4000] [--schedule linear]   # from the repository root
"""

from __future__ import annotations

import argparse

import torch

from diffusion_core import NoiseSchedule, make_timesteps, sample
from diffusion_core.analytic import GaussianMixture

MIXTURE = GaussianMixture(
    means=torch.tensor([[-2.0, -1.5], [-1.5, 2.0], [2.0, -2.0], [2.5, 1.5]]),
    stds=torch.tensor([0.2, 0.3, 0.25, 0.4]),
    weights=torch.tensor([0.2, 0.3, 0.35, 0.15]),
    classes=torch.tensor([0, 0, 1, 1]),
)
SEED = 2024
STEPS = (10, 20, 50)
RUNS = [("DDPM", "ddpm", {}), ("DDIM η=0", "ddim", {}), ("DDIM η=1", "ddim", {"eta": 1.0}),
        ("DPM-Solver++(2M)", "dpmpp_2m", {}), ("Heun", "heun", {}), ("Euler ancestral", "euler_ancestral", {}),
        # The same two solvers on steps even in log-SNR (diffusers given the same timesteps).
        ("DPM++(2M) log-SNR", "dpmpp_2m", {"spacing": "logsnr"}), ("Heun log-SNR", "heun", {"spacing": "logsnr"})]
DIFFUSERS_SCHEDULE = {"linear": "linear", "cosine": "squaredcos_cap_v2"}


def ours(schedule: NoiseSchedule, n: int, sampler: str, steps: int, options: dict) -> tuple[float, int]:
    *_, last = sample(MIXTURE.denoiser(schedule), schedule, (n, 2), sampler=sampler, steps=steps,
                      generator=SEED, **options)
    return max(MIXTURE.recovery_errors(last.x).values()), last.calls


def theirs(schedule: NoiseSchedule, kind: str, n: int, sampler: str, steps: int, options: dict) -> float | None:
    """The same run through diffusers' scheduler for this sampler (None without one, or without diffusers)."""
    try:
        import diffusers
    except ImportError:
        return None
    classes = {"ddpm": diffusers.DDPMScheduler, "ddim": diffusers.DDIMScheduler,
               "dpmpp_2m": diffusers.DPMSolverMultistepScheduler, "heun": diffusers.HeunDiscreteScheduler,
               "euler_ancestral": diffusers.EulerAncestralDiscreteScheduler}
    extra = {"algorithm_type": "dpmsolver++", "solver_order": 2} if sampler == "dpmpp_2m" else {}
    if sampler in ("ddpm", "ddim"):
        extra = {"clip_sample": False}  # on by default there, to [-1, 1]: the mixture reaches ±2.9
    scheduler = classes[sampler](num_train_timesteps=schedule.num_train_steps, beta_start=1e-4, beta_end=0.02,
                                 beta_schedule=DIFFUSERS_SCHEDULE[kind], timestep_spacing="trailing", **extra)
    if options.get("spacing") == "logsnr":
        if sampler != "dpmpp_2m":
            return None  # Heun's scheduler takes no list of its own timesteps
        scheduler.set_timesteps(timesteps=make_timesteps(schedule.num_train_steps, steps, "logsnr",
                                                         schedule.alphas_cumprod_float64()))
    else:
        scheduler.set_timesteps(steps)
    denoiser, generator = MIXTURE.denoiser(schedule), torch.Generator().manual_seed(SEED)
    x = torch.randn(n, 2, generator=generator) * scheduler.init_noise_sigma
    for t in scheduler.timesteps:
        model_input = scheduler.scale_model_input(x, t)
        output = denoiser(model_input, torch.full((n,), int(t)), None)
        kwargs = {"generator": generator} if sampler in ("ddpm", "euler_ancestral") else {}
        if sampler == "ddim":
            kwargs = {"eta": options.get("eta", 0.0), "generator": generator}
        x = scheduler.step(output, t, x, **kwargs).prev_sample
    return max(MIXTURE.recovery_errors(x).values())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--points", type=int, default=4000)
    parser.add_argument("--schedule", choices=sorted(DIFFUSERS_SCHEDULE), default="linear")
    args = parser.parse_args()
    schedule = NoiseSchedule.create(args.schedule, 1000)
    fresh = max(MIXTURE.recovery_errors(MIXTURE.sample(args.points, torch.Generator().manual_seed(1))[0]).values())
    print(f"worst relative error, {args.points} points, {args.schedule} schedule (fresh true samples: {fresh:.3f})")
    print(f"{'sampler':<18}" + "".join(f"{f'{k} steps: ours (NFE) / diffusers':>36}" for k in STEPS))
    for name, sampler, options in RUNS:
        cells = []
        for steps in STEPS:
            error, calls = ours(schedule, args.points, sampler, steps, options)
            reference = theirs(schedule, args.schedule, args.points, sampler, steps, options)
            cells.append(f"{error:.3f} ({calls:>3}) / " + ("  -  " if reference is None else f"{reference:.3f}"))
        print(f"{name:<18}" + "".join(f"{cell:>36}" for cell in cells), flush=True)


if __name__ == "__main__":
    main()
