"""diffusion_core.weights.hub against tests/fake_hub.py: the real huggingface_hub client, pointed at 127.0.0.1."""

import argparse
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from hub_helpers import COMMAND, FAKE_TOKEN, REPO, make_checkpoint, pulled_folder
from huggingface_hub import CommitOperationAdd, HfApi, constants

from diffusion_core.schedules import NoiseSchedule
from diffusion_core.weights import hub
from diffusion_core.weights import source as weights_source
from diffusion_core.weights.checkpoint import CheckpointConfig, CheckpointError, load_model, save_checkpoint
from diffusion_core.weights.hub_cli import (
    add_push_to_hub_argument,
    push_trained,
    register_hub_commands,
    run_pull,
    run_push,
)
from diffusion_core.weights.pipeline import Pipeline


def samples(folder):
    model, config = load_model(folder)
    return Pipeline(model, config, "cpu").generate(64, sampler="ddim", steps=5, label="upper", guidance=1.0, seed=7)


def weights(folder):
    """The tensors the strict loader reads from a folder, to compare two checkpoints exactly."""
    return load_model(folder)[0].state_dict()


def same_weights(a, b):
    wa, wb = weights(a), weights(b)
    return wa.keys() == wb.keys() and all(torch.equal(wa[k], wb[k]) for k in wa)


def test_push_then_pull_into_an_empty_cache_gives_bit_identical_samples(fake_hub, tmp_path):
    local = make_checkpoint(tmp_path / "ckpt" / "moons")
    pushed = hub.push_checkpoint(local, REPO)
    pulled = hub.pull(REPO, "moons", cache_dir=tmp_path / "cache")
    assert pulled.commit == pushed.commit and not pulled.from_cache_only
    assert pulled.folder.is_relative_to(tmp_path / "cache")
    assert sorted(p.name for p in pulled.folder.iterdir()) == ["README.md", "config.json", "model.safetensors"]
    assert (pulled.folder / "model.safetensors").read_bytes() == (local / "model.safetensors").read_bytes()
    assert torch.equal(samples(pulled.folder), samples(local))


def test_push_uploads_the_card_and_picture_but_never_the_training_state(fake_hub, tmp_path):
    local = make_checkpoint(tmp_path / "moons")
    (local / "samples.png").write_bytes(b"\x89PNG fake")
    (local / "training_state.safetensors").write_bytes(b"optimizer state")
    commit = hub.push_checkpoint(local, REPO).commit
    assert sorted(fake_hub.repos[REPO].commits[commit]) == [  # README.md: the root card, refreshed by every push
        ".gitattributes", "README.md", "moons/README.md", "moons/config.json", "moons/model.safetensors",
        "moons/samples.png",
    ]


def test_push_commit_message_names_the_model_its_figures_and_the_training_command(fake_hub, tmp_path):
    commit = hub.push_checkpoint(make_checkpoint(tmp_path / "moons"), REPO).commit
    message = fake_hub.repos[REPO].messages[commit]
    assert message.startswith("Upload moons: SW DDPM 1.123, SW DDIM-50 1.456, conformity@w=3 >= 99.5%")
    assert COMMAND in message


def test_push_creates_a_missing_repo_private_when_asked_and_sends_the_token(fake_hub, tmp_path):
    hub.push_checkpoint(make_checkpoint(tmp_path / "moons"), REPO, private=True)
    assert fake_hub.repos[REPO].private
    assert f"Bearer {FAKE_TOKEN}" in fake_hub.authorizations


def test_push_all_uploads_every_checkpoint_in_one_commit(fake_hub, tmp_path):
    make_checkpoint(tmp_path / "ckpts" / "moons", seed=0)
    make_checkpoint(tmp_path / "ckpts" / "circles", seed=1, figures=False)
    result = hub.push_all(tmp_path / "ckpts", REPO)
    assert result.names == ("circles", "moons")
    files = fake_hub.repos[REPO].commits[result.commit]
    assert {"circles/model.safetensors", "moons/model.safetensors"} <= set(files)
    assert "circles: not evaluated" in fake_hub.repos[REPO].messages[result.commit]
    assert hub.list_models(REPO) == ("circles", "moons")
    card = files["README.md"].decode()  # the repo's own card, listing both models with their figures
    # No library_name: "pytorch" is not one of the Hub's libraries (test_weights_cards.py checks the metadata).
    assert card.startswith("---\nlicense: mit\ntags:\n- diffusion") and "library_name" not in card
    assert "| [moons](moons/README.md) | moons | SW DDPM 1.123" in card and "| [circles](circles/README.md)" in card
    assert f"pull --repo-id {REPO} --revision SHA" in card


def test_push_refuses_a_checkpoint_the_strict_loader_refuses_before_any_request(fake_hub, tmp_path):
    local = make_checkpoint(tmp_path / "moons")
    (local / "model.safetensors").write_bytes(b"not safetensors")
    with pytest.raises(CheckpointError, match="not a readable safetensors file"):
        hub.push_checkpoint(local, REPO)
    assert fake_hub.requests == []


def test_pinning_a_commit_returns_the_old_weights_after_a_newer_push(fake_hub, tmp_path):
    old = hub.push_checkpoint(make_checkpoint(tmp_path / "v1" / "moons", seed=0), REPO).commit
    hub.push_checkpoint(make_checkpoint(tmp_path / "v2" / "moons", seed=1), REPO)
    pinned = pulled_folder(REPO, "moons", revision=old, cache_dir=tmp_path / "cache")
    latest = pulled_folder(REPO, "moons", cache_dir=tmp_path / "cache")
    assert same_weights(pinned, tmp_path / "v1" / "moons")
    assert same_weights(latest, tmp_path / "v2" / "moons")
    assert not same_weights(pinned, latest)


def test_pushing_to_a_branch_leaves_main_untouched(fake_hub, tmp_path):
    main = hub.push_checkpoint(make_checkpoint(tmp_path / "v1" / "moons", seed=0), REPO).commit
    branch = hub.push_checkpoint(make_checkpoint(tmp_path / "v2" / "moons", seed=1), REPO, revision="experiment")
    assert branch.revision == "experiment" and fake_hub.repos[REPO].branches == {"main": main, "experiment": branch.commit}
    on_branch = pulled_folder(REPO, "moons", revision="experiment", cache_dir=tmp_path / "cache")
    assert same_weights(on_branch, tmp_path / "v2" / "moons")


def test_offline_mode_pulls_from_a_warm_cache_without_any_request(fake_hub, tmp_path, monkeypatch):
    local = make_checkpoint(tmp_path / "moons")
    hub.push_checkpoint(local, REPO)
    pulled_folder(REPO, "moons", cache_dir=tmp_path / "cache")
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    before = len(fake_hub.requests)
    pulled = hub.pull(REPO, "moons", cache_dir=tmp_path / "cache")
    assert pulled.from_cache_only and len(fake_hub.requests) == before
    assert same_weights(pulled.folder, local)
    assert hub.list_models(REPO, cache_dir=tmp_path / "cache") == ("moons",)


def test_offline_mode_with_a_cold_cache_fails_clearly(fake_hub, tmp_path, monkeypatch):
    hub.push_checkpoint(make_checkpoint(tmp_path / "moons"), REPO)
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    with pytest.raises(hub.HubError, match=r"offline mode is on \(HF_HUB_OFFLINE=1\).*cache holds no copy"):
        pulled_folder(REPO, "moons", cache_dir=tmp_path / "empty-cache")
    assert fake_hub.requests[-1].startswith("POST /api/models/alice/toy-diffusion/commit")


def test_a_server_that_is_down_fails_within_a_second_with_a_clear_message(fake_hub, tmp_path):
    fake_hub.stop()
    start = time.perf_counter()
    with pytest.raises(hub.HubError, match=r"cannot reach the Hub at http://127\.0\.0\.1:\d+ \(ConnectError"):
        pulled_folder(REPO, "moons", cache_dir=tmp_path / "cache")
    assert time.perf_counter() - start < 1.0


def test_a_silent_server_times_out_instead_of_hanging(fake_hub, tmp_path, monkeypatch):
    monkeypatch.setattr(hub, "TIMEOUT_S", 0.5)
    fake_hub.fault = "hang"
    start = time.perf_counter()
    with pytest.raises(hub.HubError, match="did not answer within 0.5 s"):
        pulled_folder(REPO, "moons", cache_dir=tmp_path / "cache")
    assert time.perf_counter() - start < 3.0


def test_when_the_hub_is_down_a_warm_cache_still_answers_and_says_so(fake_hub, tmp_path):
    local = make_checkpoint(tmp_path / "moons")
    hub.push_checkpoint(local, REPO)
    pulled_folder(REPO, "moons", cache_dir=tmp_path / "cache")
    fake_hub.stop()
    source = weights_source.resolve_weights("moons", REPO, cache_dir=tmp_path / "cache")
    assert source.error is None and "cached copy; the Hub could not be reached" in source.message
    assert same_weights(source.folder, local)


FAULTS = {
    "404": r"answered HTTP 404",
    "500": r"answered HTTP 500.*cache holds no copy",
    "truncate": r"was incomplete: Consistency check failed",
    "corrupt": r"does not match the Hub's checksum",
}


@pytest.mark.parametrize("fault", FAULTS)
def test_each_server_fault_leaves_the_app_on_its_current_weights_with_the_reason(fault, fake_hub, tmp_path):
    hub.push_checkpoint(make_checkpoint(tmp_path / "new" / "moons", seed=1), REPO)
    current = make_checkpoint(tmp_path / "current" / "moons", seed=0)
    fake_hub.fault = fault
    source = weights_source.resolve_weights("moons", REPO, fallback=current, cache_dir=tmp_path / "cache")
    assert source.folder == current
    assert "Hub weights not loaded, still using" in source.message
    assert source.error is not None and re.search(FAULTS[fault], source.error), source.error


def test_a_corrupted_download_is_dropped_from_the_cache_so_a_retry_gets_the_right_file(fake_hub, tmp_path):
    local = make_checkpoint(tmp_path / "moons")
    hub.push_checkpoint(local, REPO)
    fake_hub.fault = "corrupt"
    with pytest.raises(hub.HubError, match="corrupted or truncated in transit"):
        pulled_folder(REPO, "moons", cache_dir=tmp_path / "cache")
    fake_hub.fault = None
    pulled = pulled_folder(REPO, "moons", cache_dir=tmp_path / "cache")
    assert (pulled / "model.safetensors").read_bytes() == (local / "model.safetensors").read_bytes()


def test_unknown_repo_unknown_revision_and_missing_model_each_name_the_problem(fake_hub, tmp_path):
    hub.push_checkpoint(make_checkpoint(tmp_path / "moons"), REPO)
    cache = tmp_path / "cache"
    with pytest.raises(hub.HubError, match="repository 'alice/nothing-here' was not found"):
        pulled_folder("alice/nothing-here", "moons", cache_dir=cache)
    with pytest.raises(hub.HubError, match="revision 'v9' does not exist in alice/toy-diffusion"):
        pulled_folder(REPO, "moons", revision="v9", cache_dir=cache)
    with pytest.raises(hub.HubError, match=r"no complete checkpoint 'circles': missing circles/config\.json"):
        pulled_folder(REPO, "circles", cache_dir=cache)


def test_a_model_with_a_bad_config_is_refused_by_the_strict_loader(fake_hub, tmp_path):
    local = make_checkpoint(tmp_path / "moons")
    config = json.loads((local / "config.json").read_text())
    config["model"]["hidden"] = 32  # weights no longer fit
    (local / "config.json").write_text(json.dumps(config))
    HfApi().create_repo(REPO)
    HfApi().upload_folder(repo_id=REPO, folder_path=tmp_path, path_in_repo="", allow_patterns=["moons/*"])
    with pytest.raises(hub.HubError, match="is not a valid checkpoint: .*shape mismatch"):
        pulled_folder(REPO, "moons", cache_dir=tmp_path / "cache")


def test_a_repo_offering_only_pickled_weights_is_refused_and_nothing_pickled_is_downloaded(fake_hub, tmp_path):
    local = make_checkpoint(tmp_path / "moons")
    api = HfApi()
    api.create_repo(REPO)
    api.create_commit(REPO, [
        CommitOperationAdd("moons/config.json", str(local / "config.json")),
        CommitOperationAdd("moons/pytorch_model.bin", b"pickled bytes"),
    ], commit_message="pickled weights")
    with pytest.raises(hub.HubError, match=r"only pickled weights for 'moons' \(moons/pytorch_model\.bin\).*arbitrary code"):
        pulled_folder(REPO, "moons", cache_dir=tmp_path / "cache")
    assert not any("resolve" in request for request in fake_hub.requests)


def test_bad_repo_ids_and_names_are_refused_before_any_request(fake_hub):
    with pytest.raises(hub.HubError, match=r"repo id 'no-slash' is not of the form USER/REPO"):
        pulled_folder("no-slash", "moons")
    with pytest.raises(hub.HubError, match=r"model name '\.\./etc' must be one folder name"):
        pulled_folder(REPO, "../etc")
    assert fake_hub.requests == []


def test_install_pulled_replaces_the_folder_and_drops_the_old_training_state(fake_hub, tmp_path):
    hub.push_checkpoint(make_checkpoint(tmp_path / "new" / "moons", seed=1), REPO)
    existing = make_checkpoint(tmp_path / "checkpoints" / "moons", seed=0)
    (existing / "training_state.json").write_text("{}")
    target = hub.install_pulled(pulled_folder(REPO, "moons", cache_dir=tmp_path / "cache"), tmp_path / "checkpoints")
    assert target == existing and not (target / "training_state.json").exists()
    assert not any((target / name).is_symlink() for name in hub.PULL_FILES)
    assert same_weights(target, tmp_path / "new" / "moons")
    assert sorted(p.name for p in (tmp_path / "checkpoints").iterdir()) == ["moons"]


def test_install_pulled_that_fails_midway_leaves_the_existing_folder_untouched(fake_hub, tmp_path, monkeypatch):
    hub.push_checkpoint(make_checkpoint(tmp_path / "new" / "moons", seed=1), REPO)
    existing = make_checkpoint(tmp_path / "checkpoints" / "moons", seed=0)
    before = {p.name: p.read_bytes() for p in existing.iterdir()}
    pulled = pulled_folder(REPO, "moons", cache_dir=tmp_path / "cache")
    real_copy = hub.shutil.copyfile

    def copy_then_fail(source, destination):
        if source.name == "model.safetensors":
            raise OSError("disk full")
        return real_copy(source, destination)

    monkeypatch.setattr(hub.shutil, "copyfile", copy_then_fail)
    with pytest.raises(OSError, match="disk full"):
        hub.install_pulled(pulled, tmp_path / "checkpoints")
    assert {p.name: p.read_bytes() for p in existing.iterdir()} == before
    assert sorted(p.name for p in (tmp_path / "checkpoints").iterdir()) == ["moons"]


def test_resolve_weights_without_a_repo_is_the_shipped_folder(tmp_path):
    source = weights_source.resolve_weights("moons", fallback=tmp_path / "moons")
    assert source.folder == tmp_path / "moons" and source.error is None and "shipped weights" in source.message


def test_a_space_pulls_the_repo_and_revision_named_by_its_environment(fake_hub, tmp_path):
    old = hub.push_checkpoint(make_checkpoint(tmp_path / "v1" / "moons", seed=0), REPO).commit
    hub.push_checkpoint(make_checkpoint(tmp_path / "v2" / "moons", seed=1), REPO)
    environ = {weights_source.HUB_REPO_ENV: REPO, weights_source.HUB_REVISION_ENV: old}
    source = weights_source.weights_from_environment("moons", environ)
    assert source.error is None and f"at commit {old[:12]}" in source.message
    assert source.folder.is_relative_to(tmp_path / "default-cache")
    assert same_weights(source.folder, tmp_path / "v1" / "moons")
    assert weights_source.weights_from_environment("moons", {}).message.startswith("moons: shipped weights")


def cli(*argv):
    parser = argparse.ArgumentParser()
    commands = parser.add_subparsers(dest="command", required=True)
    register_hub_commands(commands)
    train = commands.add_parser("train")
    add_push_to_hub_argument(train)
    return parser.parse_args(list(argv))


def test_cli_push_and_pull_round_trip_without_ever_printing_the_token(fake_hub, tmp_path, capsys, caplog):
    make_checkpoint(tmp_path / "checkpoints" / "moons")
    assert run_push(cli("push", "moons", "--repo-id", REPO, "--root", str(tmp_path / "checkpoints"))) == 0
    into = tmp_path / "installed"
    assert run_pull(cli("pull", "--repo-id", REPO, "--into", str(into), "--cache-dir", str(tmp_path / "cache"))) == 0
    assert same_weights(into / "moons", tmp_path / "checkpoints" / "moons")
    out = capsys.readouterr()
    assert "pushed moons to alice/toy-diffusion@main: commit" in out.out and "pulled moons from" in out.out
    assert FAKE_TOKEN not in out.out + out.err + caplog.text


def test_cli_reports_a_hub_failure_on_stderr_with_exit_status_1(fake_hub, tmp_path, capsys):
    fake_hub.stop()
    assert run_pull(cli("pull", "--repo-id", REPO, "--name", "moons", "--cache-dir", str(tmp_path / "c"))) == 1
    assert "error: cannot reach the Hub" in capsys.readouterr().err
    assert run_push(cli("push", "nothing", "--repo-id", REPO, "--root", str(tmp_path))) == 2


def test_train_push_to_hub_pushes_the_trained_folder_only_when_asked(fake_hub, tmp_path):
    folder = make_checkpoint(tmp_path / "moons")
    assert push_trained(folder, cli("train")) == 0 and fake_hub.requests == []
    assert push_trained(folder, cli("train", "--push-to-hub", REPO, "--hub-revision", "dev")) == 0
    assert "moons/model.safetensors" in fake_hub.repos[REPO].commits[fake_hub.repos[REPO].branches["dev"]]


def test_a_fresh_process_finds_the_hub_through_hf_endpoint_alone(fake_hub, tmp_path):
    local = make_checkpoint(tmp_path / "moons")
    commit = hub.push_checkpoint(local, REPO).commit
    script = (
        "import sys; from diffusion_core.weights.hub import pull; "
        f"print(pull({REPO!r}, 'moons', revision={commit!r}).folder)"
    )
    env = {**os.environ, "HF_ENDPOINT": fake_hub.url, "HF_HUB_OFFLINE": "0", "HF_HOME": str(tmp_path / "home"),
           "HF_HUB_DISABLE_XET": "1", "HF_HUB_DISABLE_PROGRESS_BARS": "1"}
    done = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=120,
                          cwd=Path(__file__).resolve().parent.parent)
    assert done.returncode == 0, done.stderr
    folder = Path(done.stdout.strip())
    assert folder.is_relative_to(tmp_path / "home") and same_weights(folder, local)


def test_an_emnist_unet_checkpoint_travels_with_its_figures_in_the_commit_message(fake_hub, tmp_path):
    from diffusion_core.data.emnist import BYCLASS_NAMES
    from diffusion_core.models import UNetConfig

    torch.manual_seed(0)
    config = CheckpointConfig(
        UNetConfig(channels=(8, 32), head_dim=8, cond_dim=16, time_dim=8), NoiseSchedule.create("linear", 20).config(),
        BYCLASS_NAMES, "emnist", (-1.0, 1.0), {"command": COMMAND}, architecture="UNet",
    )
    figures = {"settings": {"guidance": 3.0}, "sweep": {"3": {"conformity": 0.912}},
               "frechet": {"DDIM eta=0, 50 steps": 1.234}}
    folder = save_checkpoint(tmp_path / "emnist", config, config.build_model().state_dict(),
                             extra_files={"eval.json": json.dumps(figures).encode()})
    result = hub.push_checkpoint(folder, REPO)
    assert "emnist: conformity@w=3 91.2%, Fréchet DDIM-50 1.23" in fake_hub.repos[REPO].messages[result.commit]
    pulled = hub.pull(REPO, "emnist", cache_dir=tmp_path / "cache")
    assert same_weights(pulled.folder, folder) and load_model(pulled.folder)[1].sample_shape == (1, 28, 28)


# ---- bounds: sizes from the listing, deadlines, no token for a visitor, the root card ---------------


@pytest.mark.parametrize("file, limit", [("model.safetensors", 64 * 2**20), ("config.json", 2**20), ("README.md", 2**20)])
def test_a_file_larger_than_its_limit_in_the_listing_is_refused_before_any_download(fake_hub, tmp_path, file, limit):
    local = make_checkpoint(tmp_path / "moons")
    files = {f"moons/{name}": (local / name).read_bytes() for name in hub.PULL_FILES}
    files[f"moons/{file}"] = b"\0" * (limit + 1)
    fake_hub.create_repo(REPO)
    fake_hub.commit(REPO, "main", files, "an oversized file")
    with pytest.raises(hub.HubError, match=rf"moons/{re.escape(file)} is {limit + 1:,} bytes, more than the {limit:,} "
                                           "bytes allowed; it was not downloaded"):
        pulled_folder(REPO, "moons", cache_dir=tmp_path / "cache")
    assert not any("/resolve/" in request for request in fake_hub.requests)


def test_token_false_sends_no_authorization_through_pull_list_models_and_resolve_weights(fake_hub, tmp_path):
    hub.push_checkpoint(make_checkpoint(tmp_path / "moons"), REPO)
    cache = tmp_path / "cache"
    calls = [
        lambda token: hub.pull(REPO, "moons", cache_dir=cache, token=token),
        lambda token: hub.list_models(REPO, token=token),
        lambda token: weights_source.resolve_weights("moons", REPO, cache_dir=cache, token=token),
        lambda token: weights_source.weights_from_environment(
            "moons", {weights_source.HUB_REPO_ENV: REPO}, cache_dir=cache, token=token),
    ]
    for call in calls:
        fake_hub.authorizations.clear()
        call(None)  # HF_TOKEN is set: the token goes out, so the check below can fail
        assert f"Bearer {FAKE_TOKEN}" in fake_hub.authorizations
        fake_hub.authorizations.clear()
        call(False)
        assert fake_hub.authorizations and set(fake_hub.authorizations) == {None}


def test_a_silent_hub_fails_a_push_within_its_deadline(fake_hub, tmp_path, monkeypatch):
    monkeypatch.setattr(hub, "TIMEOUT_S", 0.5)
    local = make_checkpoint(tmp_path / "moons")
    fake_hub.fault = "hang"
    start = time.perf_counter()
    with pytest.raises(hub.HubError, match=r"push to alice/toy-diffusion failed: the Hub at .* did not answer within 0\.5 s"):
        hub.push_checkpoint(local, REPO)
    assert time.perf_counter() - start < 3.0


def test_a_commit_the_hub_never_answers_fails_within_the_push_deadline_and_says_it_may_land(fake_hub, tmp_path,
                                                                                          monkeypatch):
    monkeypatch.setattr(hub, "PUSH_TIMEOUT_S", 0.5)
    local = make_checkpoint(tmp_path / "moons")
    fake_hub.fault = "hang-commit"
    start = time.perf_counter()
    with pytest.raises(hub.HubError, match=r"did not answer within 0\.5 s; the commit may still land"):
        hub.push_checkpoint(local, REPO)
    assert time.perf_counter() - start < 3.0


def test_a_download_the_hub_never_answers_fails_within_the_download_deadline(fake_hub, tmp_path, monkeypatch):
    hub.push_checkpoint(make_checkpoint(tmp_path / "moons"), REPO)
    monkeypatch.setattr(hub, "DOWNLOAD_TIMEOUT_S", 0.5)
    fake_hub.fault = "hang-download"
    start = time.perf_counter()
    with pytest.raises(hub.HubError, match=r"download of moons failed: the Hub at .* did not answer within 0\.5 s"):
        pulled_folder(REPO, "moons", cache_dir=tmp_path / "cache")
    assert time.perf_counter() - start < 3.0


def test_pushing_one_model_refreshes_the_root_card_with_every_model_in_the_repo_in_the_same_commit(fake_hub, tmp_path):
    make_checkpoint(tmp_path / "first" / "circles", seed=1)
    hub.push_all(tmp_path / "first", REPO)
    result = hub.push_checkpoint(make_checkpoint(tmp_path / "second" / "moons"), REPO)
    files = fake_hub.repos[REPO].commits[result.commit]
    card = files["README.md"].decode()
    assert "| [moons](moons/README.md) | moons | SW DDPM 1.123, SW DDIM-50 1.456, conformity@w=3 >= 99.5% |" in card
    assert "| [circles](circles/README.md) | see its card | see its card |" in card  # listed by the Hub, not pushed
    assert card.startswith("---\nlicense: mit\n")
    assert fake_hub.repos[REPO].branches["main"] == result.commit and "moons/model.safetensors" in files  # one commit


def test_a_push_whose_branch_moves_while_it_is_prepared_is_refused_not_merged(fake_hub, tmp_path, monkeypatch):
    hub.push_checkpoint(make_checkpoint(tmp_path / "v1" / "moons"), REPO)
    real_card = hub._root_card

    def card_then_someone_else_commits(*args):
        fake_hub.commit(REPO, "main", {"circles/config.json": b"{}"}, "a concurrent push")
        return real_card(*args)

    monkeypatch.setattr(hub, "_root_card", card_then_someone_else_commits)
    with pytest.raises(hub.HubError, match=r"alice/toy-diffusion@main moved while this push was being prepared"):
        hub.push_checkpoint(make_checkpoint(tmp_path / "v2" / "moons", seed=1), REPO)


def overflowing_checkpoint(folder):
    """A checkpoint whose weights are finite but whose first sampling step overflows to NaN."""
    local = make_checkpoint(folder)
    model, config = load_model(local)
    weights = {k: v.clone() for k, v in model.state_dict().items()}
    weights["input.weight"].fill_(3e38)
    weights["output.weight"].fill_(3e38)
    return save_checkpoint(local, config, weights)


def test_a_model_that_loads_but_samples_nan_is_never_pushed_pulled_or_installed(fake_hub, tmp_path):
    bad = overflowing_checkpoint(tmp_path / "bad" / "moons")
    with pytest.raises(CheckpointError, match="non-finite"):
        hub.push_checkpoint(bad, REPO)
    assert fake_hub.requests == []
    HfApi().create_repo(REPO)
    HfApi().upload_folder(repo_id=REPO, folder_path=tmp_path / "bad", path_in_repo="", allow_patterns=["moons/*"])
    with pytest.raises(hub.HubError, match=r"is not a valid checkpoint: one DDIM step .* gives non-finite"):
        pulled_folder(REPO, "moons", cache_dir=tmp_path / "cache")
    existing = make_checkpoint(tmp_path / "checkpoints" / "moons")
    before = (existing / "model.safetensors").read_bytes()
    with pytest.raises(CheckpointError, match="non-finite"):
        hub.install_pulled(bad, tmp_path / "checkpoints")
    assert (existing / "model.safetensors").read_bytes() == before
    assert sorted(p.name for p in (tmp_path / "checkpoints").iterdir()) == ["moons"]
