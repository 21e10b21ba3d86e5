import json

import pytest

import train_toy
from diffusion_core.weights.checkpoint import load_model

pytestmark = pytest.mark.usefixtures("single_thread")

TINY = ["--steps", "6", "--batch-size", "64", "--hidden", "16", "--layers", "1", "--timesteps", "50", "--quiet"]


def test_help_explains_every_training_option(capsys):
    with pytest.raises(SystemExit) as exit:
        train_toy.main(["train", "--help"])
    assert exit.value.code == 0
    printed = capsys.readouterr().out
    for option in ("--steps", "--schedule", "--prediction", "--out", "--resume", "--force", "--p-uncond", "--ema-decay",
                   "--activation"):
        assert option in printed


def test_train_writes_a_loadable_checkpoint_with_card_and_training_state(tmp_path):
    out = tmp_path / "moons"
    assert train_toy.main(["train", "moons", "--out", str(out), *TINY]) == 0
    names = {p.name for p in out.iterdir()}
    assert {"config.json", "model.safetensors", "README.md", "training_state.safetensors"} <= names
    config = json.loads((out / "config.json").read_text())
    assert config["training"]["steps"] == 6 and config["training"]["command"].startswith("python train_toy.py train")
    model, _ = load_model(out)
    assert model.config.hidden == 16
    assert (out / "README.md").read_text().startswith("---\nlicense: mit\n")


def test_resume_continues_to_the_new_step_count(tmp_path, capsys):
    out = tmp_path / "moons"
    train_toy.main(["train", "moons", "--out", str(out), *TINY])
    assert train_toy.main(["train", "moons", "--out", str(out), "--resume", *TINY, "--steps", "9"]) == 0
    assert "resuming" in capsys.readouterr().out
    meta = json.loads((out / "training_state.json").read_text())
    assert meta["step"] == 9 and len(meta["losses"]) == 9
    commands = json.loads((out / "config.json").read_text())["training"]["command"].splitlines()
    assert len(commands) == 2 and "--resume" not in commands[0] and "--resume" in commands[1]
    assert "\n".join(commands) in (out / "README.md").read_text()


def test_resuming_at_the_step_reached_ends_a_longer_schedule_there(tmp_path, capsys):
    # Resuming with --steps equal to the step reached (a longer run stopped after a save) trains
    # nothing more; the config and card record that step count and the closing command.
    out = tmp_path / "moons"
    train_toy.main(["train", "moons", "--out", str(out), *TINY])
    weights = (out / "model.safetensors").read_bytes()
    assert train_toy.main(["train", "moons", "--out", str(out), "--resume", *TINY]) == 0
    assert json.loads((out / "training_state.json").read_text())["step"] == 6
    assert (out / "model.safetensors").read_bytes() == weights
    training = json.loads((out / "config.json").read_text())["training"]
    assert training["steps"] == 6 and len(training["command"].splitlines()) == 2
    assert train_toy.main(["train", "moons", "--out", str(out), "--resume", *TINY, "--steps", "5"]) == 2
    assert "is at step 6, past --steps 5" in capsys.readouterr().err


def test_resume_from_continues_a_run_kept_elsewhere_and_saves_to_out(tmp_path, capsys):
    run, out = tmp_path / "runs" / "moons", tmp_path / "checkpoints" / "moons"
    train_toy.main(["train", "moons", "--out", str(run), *TINY])
    kept = {p.name: p.read_bytes() for p in run.iterdir()}
    assert train_toy.main(["train", "moons", "--out", str(out), "--resume-from", str(run), *TINY, "--steps", "9"]) == 0
    assert f"resuming {run} from step 6, saving to {out}" in capsys.readouterr().out
    assert json.loads((out / "training_state.json").read_text())["step"] == 9
    commands = json.loads((out / "config.json").read_text())["training"]["command"].splitlines()
    assert len(commands) == 2 and "--resume-from" in commands[1]
    assert {p.name: p.read_bytes() for p in run.iterdir()} == kept  # the run it came from is left as it was


def test_resume_from_refuses_a_missing_run_or_another_architecture_and_keeps_out(tmp_path, capsys):
    run, out = tmp_path / "run", tmp_path / "out"
    assert train_toy.main(["train", "moons", "--out", str(out), "--resume-from", str(run), *TINY]) == 2
    assert f"--resume-from: {run} has no checkpoint to resume from" in capsys.readouterr().err
    train_toy.main(["train", "moons", "--out", str(run), *TINY])
    train_toy.main(["train", "moons", "--out", str(out), *TINY, "--hidden", "24"])
    before = (out / "model.safetensors").read_bytes()
    assert train_toy.main(["train", "moons", "--out", str(out), "--resume-from", str(run), *TINY]) == 2
    assert "different architecture (hidden 24 -> 16); pass --force" in capsys.readouterr().err
    assert train_toy.main(["train", "moons", "--out", str(out), "--resume-from", str(run), *TINY, "--hidden", "24",
                           "--force"]) == 2
    assert f"--resume-from: {run} has a different architecture (hidden 16 -> 24)" in capsys.readouterr().err
    assert (out / "model.safetensors").read_bytes() == before


def test_resume_from_writes_over_another_checkpoint_only_with_force_and_only_a_run_trained_alike(tmp_path, capsys):
    run, out = tmp_path / "run", tmp_path / "out"
    train_toy.main(["train", "moons", "--out", str(run), *TINY])
    train_toy.main(["train", "moons", "--out", str(out), *TINY])
    before = (out / "model.safetensors").read_bytes()
    assert train_toy.main(["train", "moons", "--out", str(out), "--resume-from", str(run), *TINY, "--steps", "8"]) == 2
    assert f"{out} holds a checkpoint of its own; pass --force" in capsys.readouterr().err
    assert (out / "model.safetensors").read_bytes() == before
    assert train_toy.main(["train", "moons", "--out", str(out), "--resume-from", str(run), *TINY, "--steps", "8",
                           "--min-snr-gamma", "5", "--force"]) == 2
    assert "was trained with other settings (min_snr_gamma 0.0 -> 5.0); pass the same options" in capsys.readouterr().err
    assert train_toy.main(["train", "circles", "--out", str(out), "--resume-from", str(run), *TINY, "--force"]) == 2
    assert f"{run} was trained on moons, not circles" in capsys.readouterr().err
    assert train_toy.main(["train", "moons", "--out", str(out), "--resume", "--resume-from", str(run), *TINY]) == 2
    assert "pass one of them" in capsys.readouterr().err
    assert (out / "model.safetensors").read_bytes() == before
    assert train_toy.main(["train", "moons", "--out", str(out), "--resume-from", str(run), *TINY, "--steps", "8",
                           "--force"]) == 0
    assert json.loads((out / "training_state.json").read_text())["step"] == 8


def test_init_from_starts_a_fresh_schedule_from_the_saved_weights_and_keeps_the_lineage(tmp_path):
    import torch

    base, tuned = tmp_path / "base", tmp_path / "tuned"
    assert train_toy.main(["train", "moons", "--out", str(base), *TINY]) == 0
    base_weights = {k: v.clone() for k, v in load_model(base)[0].state_dict().items()}
    # Zero steps would save the initial network: it must be the base's weights, not a fresh draw.
    assert train_toy.main(["train", "moons", "--out", str(tuned), "--init-from", str(base), *TINY,
                           "--steps", "1", "--lr", "1e-12", "--seed", "3", "--ema-decay", "0"]) == 0
    tuned_weights = load_model(tuned)[0].state_dict()
    assert all(torch.allclose(tuned_weights[k], v, atol=1e-6) for k, v in base_weights.items())
    training = json.loads((tuned / "config.json").read_text())["training"]
    assert training["steps"] == 1 and training["seed"] == 3  # a schedule of its own, not the base's
    assert training["init_from"] == {"folder": str(base), "steps": 6,
                                     "seconds": json.loads((base / "config.json").read_text())["training"]["seconds"]}
    commands = training["command"].splitlines()
    assert len(commands) == 2 and "--init-from" not in commands[0] and "--init-from" in commands[1]
    card = (tuned / "README.md").read_text()
    assert f"started from the weights then in `{base}`, after 6 steps" in card and commands[0] in card
    # Copying the finished run elsewhere with --resume-from keeps where it started.
    final = tmp_path / "final"
    assert train_toy.main(["train", "moons", "--out", str(final), "--resume-from", str(tuned), *TINY,
                           "--steps", "1", "--lr", "1e-12", "--seed", "3", "--ema-decay", "0"]) == 0
    assert json.loads((final / "config.json").read_text())["training"]["init_from"]["steps"] == 6
    assert "started from the weights then in" in (final / "README.md").read_text()


def test_init_from_refuses_its_own_folder_a_missing_one_another_network_or_a_resume(tmp_path, capsys):
    base = tmp_path / "base"
    train_toy.main(["train", "moons", "--out", str(base), *TINY])
    before = (base / "model.safetensors").read_bytes()
    assert train_toy.main(["train", "moons", "--out", str(base), "--init-from", str(base), *TINY]) == 2
    assert f"would write over {base}, the weights it starts from" in capsys.readouterr().err
    out = tmp_path / "out"
    assert train_toy.main(["train", "moons", "--out", str(out), "--init-from", str(tmp_path / "no"), *TINY]) == 2
    assert "has no checkpoint to start from" in capsys.readouterr().err
    assert train_toy.main(["train", "moons", "--out", str(out), "--init-from", str(base), *TINY, "--hidden", "24"]) == 2
    assert "has a different architecture (hidden 16 -> 24)" in capsys.readouterr().err
    assert train_toy.main(["train", "circles", "--out", str(out), "--init-from", str(base), *TINY]) == 2
    assert "was trained on moons, not circles" in capsys.readouterr().err
    assert train_toy.main(["train", "moons", "--out", str(base), "--resume", "--init-from", str(base), *TINY]) == 2
    assert "pass one of them" in capsys.readouterr().err
    (base / "model.safetensors").write_bytes(b"not safetensors")
    assert train_toy.main(["train", "moons", "--out", str(out), "--init-from", str(base), *TINY]) == 2
    assert capsys.readouterr().err.startswith("error: --init-from: ")
    assert not out.exists() and before != b""


def test_a_different_architecture_is_refused_without_force(tmp_path, capsys):
    out = tmp_path / "moons"
    train_toy.main(["train", "moons", "--out", str(out), *TINY])
    before = (out / "model.safetensors").read_bytes()
    assert train_toy.main(["train", "moons", "--out", str(out), *TINY, "--hidden", "24"]) == 2
    assert "different architecture (hidden 16 -> 24)" in capsys.readouterr().err
    assert (out / "model.safetensors").read_bytes() == before
    assert train_toy.main(["train", "moons", "--out", str(out), *TINY, "--hidden", "24", "--force"]) == 0
    assert load_model(out)[0].config.hidden == 24


def test_bad_input_exits_with_status_2_and_a_one_line_message(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit:
        train_toy.main(["train", "spiral"])
    assert exit.value.code == 2 and "invalid choice: 'spiral'" in capsys.readouterr().err
    assert train_toy.main(["eval", str(tmp_path / "nope")]) == 2
    assert capsys.readouterr().err.startswith(f"error: no checkpoint '{tmp_path / 'nope'}'")
    assert train_toy.main(["train", "moons", "--out", str(tmp_path / "new"), "--resume"]) == 2
    assert "has no checkpoint to resume from" in capsys.readouterr().err
    assert train_toy.main(["train", "moons", "--out", str(tmp_path / "x"), *TINY, "--p-uncond", "2"]) == 2
    assert "p_uncond must be in [0, 1], got 2.0" in capsys.readouterr().err
    assert train_toy.main(["train", "moons", "--out", str(tmp_path / "x"), *TINY, "--class-balance", "1"]) == 2
    assert "--class-balance applies to EMNIST" in capsys.readouterr().err
    assert not (tmp_path / "x").exists()


def test_eval_prints_the_figures_and_updates_the_card(tmp_path, capsys):
    out = tmp_path / "moons"
    train_toy.main(["train", "moons", "--out", str(out), *TINY])
    train_toy.main(["eval", str(out), "--n-samples", "300", "--n-conformity", "50"])
    printed = capsys.readouterr().out
    assert "SW ratio, DDPM all steps, 300 points" in printed and "w=3:" in printed
    assert (out / "samples.png").read_bytes()[:4] == b"\x89PNG"
    assert "## Quality" in (out / "README.md").read_text() and "SW ratio" in (out / "README.md").read_text()


def test_training_twice_with_the_same_seed_writes_identical_weights(tmp_path):
    for name in ("a", "b"):
        assert train_toy.main(["train", "circles", "--out", str(tmp_path / name), *TINY, "--seed", "3"]) == 0
    assert (tmp_path / "a" / "model.safetensors").read_bytes() == (tmp_path / "b" / "model.safetensors").read_bytes()
