"""bench/gpu_check.py runs where no GPU is (CI, this machine): each of its parts on the CPU at a tiny
size, so the script a GPU session runs once cannot have rotted since it was last run there."""

import math
import sys

from bench import gpu_check


def test_without_a_gpu_it_says_so_and_checks_nothing(monkeypatch, capsys):
    monkeypatch.setattr(gpu_check, "gpu", lambda: None)
    monkeypatch.setattr(sys, "argv", ["gpu_check"])
    gpu_check.main()
    out = capsys.readouterr().out
    assert "no GPU here" in out and "1. the same seed" not in out


def test_the_same_seed_gives_the_same_samples_for_every_sampler_and_case(capsys):
    worst = gpu_check.same_samples("cpu", points=32, characters=2, steps=2)
    lines = [line for line in capsys.readouterr().out.splitlines() if line.startswith("   ")]
    assert len(lines) == 5 * len(gpu_check.SAMPLERS)  # five cases (plain, CFG, steered twice, learned Σ)
    assert worst == 0.0  # one device, one seed: bit for bit


def test_training_steps_run_for_both_networks():
    losses = gpu_check.training_steps("cpu", steps=5, batch_size=8)
    assert set(losses) == {"moons", "emnist"}
    assert all(math.isfinite(loss) and loss > 0 for loss in losses.values())


def test_a_served_run_goes_through_the_apps_own_path():
    cases = (("moons DDIM-5, 64 points", ("moons", "ddim", 5, 0.0, "unconditional", 0.0, 64)),
             ("EMNIST DDIM-2, 2 characters, w = 3", ("emnist", "ddim", 2, 0.0, "A", 3.0, 2)))
    finals = gpu_check.served_run("cpu", cases)
    # Every step of a short run is a keyframe; the samples have the shape asked for.
    assert [(f.summary["frames_sent"], f.summary["sample_shape"]) for f in finals] == [(5, [64, 2]), (2, [2, 1, 28, 28])]
