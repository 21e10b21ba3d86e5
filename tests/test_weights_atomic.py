"""diffusion_core.weights.atomic: a save killed (SIGKILL, in a child process) at any moment leaves the old
checkpoint or the new one, and the next listing of the folder finishes or undoes what it left."""

import signal
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from diffusion_core.models import MLPConfig
from diffusion_core.schedules import NoiseSchedule
from diffusion_core.weights import atomic
from diffusion_core.weights.checkpoint import CheckpointConfig, list_checkpoints, load_model, save_checkpoint
from diffusion_core.weights.pipeline import resolve_checkpoint

pytestmark = pytest.mark.usefixtures("single_thread")
ROOT = Path(__file__).resolve().parent.parent

# The child saves zeros over the checkpoint; `kill` replaces one step of the save with SIGKILL to itself.
CHILD = """
import os, signal, sys
from pathlib import Path
import torch
from diffusion_core.models import MLPConfig
from diffusion_core.schedules import NoiseSchedule
from diffusion_core.weights import atomic, checkpoint

folder, moment = Path(sys.argv[1]), sys.argv[2]
config = checkpoint.CheckpointConfig(
    MLPConfig(hidden=16, num_layers=1), NoiseSchedule.create("linear", 20).config(), ("a", "b"), "moons"
)
weights = {k: torch.zeros_like(v) for k, v in config.build_model().state_dict().items()}

def kill(*args, **kwargs):
    os.kill(os.getpid(), signal.SIGKILL)

if moment == "between-renames":  # the first os.replace moved NAME aside; die before the second
    real, calls = os.replace, []
    def replace(source, target):
        calls.append(source)
        if len(calls) == 2:
            kill()
        return real(source, target)
    os.replace = replace
elif moment == "mid-write":  # half the weights written into the staging folder
    def half(tensors, path, metadata=None):
        Path(path).write_bytes(b"half a safetensors file")
        kill()
    checkpoint.save_file = half
elif moment == "before-cleanup":  # both renames done, the old folder not yet removed
    atomic.shutil.rmtree = kill
checkpoint.save_checkpoint(folder, config, weights)
"""


def config():
    return CheckpointConfig(
        MLPConfig(hidden=16, num_layers=1), NoiseSchedule.create("linear", 20).config(), ("a", "b"), "moons"
    )


@pytest.fixture
def old(tmp_path):
    """checkpoints/ck holding random (seed 0) weights; the child saves zeros over it."""
    torch.manual_seed(0)
    model = config().build_model()
    for p in model.parameters():
        torch.nn.init.normal_(p, std=0.2)
    return save_checkpoint(tmp_path / "checkpoints" / "ck", config(), model.state_dict())


def killed_save(folder: Path, moment: str) -> list[str]:
    """Run a save of zeros over `folder` in a child killed at `moment`; the names then in folder's parent."""
    done = subprocess.run([sys.executable, "-c", CHILD, str(folder), moment], cwd=ROOT, capture_output=True,
                          text=True, timeout=120, check=False)
    assert done.returncode == -signal.SIGKILL, done.stderr
    return sorted(p.name for p in folder.parent.iterdir())


def weights(folder):
    return load_model(folder)[0].state_dict()


def all_zero(folder) -> bool:
    return all((v == 0).all() for v in weights(folder).values())


def test_a_kill_between_the_two_renames_is_undone_from_the_old_folder_at_the_next_listing(old):
    before = {k: v.clone() for k, v in weights(old).items()}
    left = killed_save(old, "between-renames")
    assert "ck" not in left  # the window is real: no checkpoint folder at all
    assert any(name.startswith(".ck.old-") for name in left) and any(name.startswith(".ck.tmp-") for name in left)
    assert list_checkpoints(old.parent) == [old]
    assert sorted(p.name for p in old.parent.iterdir()) == ["ck"]
    assert all(torch.equal(before[k], v) for k, v in weights(old).items())


def test_resolving_a_name_recovers_the_folder_first(old):
    killed_save(old, "between-renames")
    assert resolve_checkpoint("ck", old.parent) == old and not all_zero(old)


def test_a_kill_mid_write_leaves_the_old_checkpoint_and_its_staging_debris_is_removed(old):
    left = killed_save(old, "mid-write")
    assert "ck" in left and any(name.startswith(".ck.tmp-") for name in left)
    assert list_checkpoints(old.parent) == [old]
    assert sorted(p.name for p in old.parent.iterdir()) == ["ck"]
    assert not all_zero(old)


def test_a_kill_after_the_swap_keeps_the_new_checkpoint_and_drops_the_old_copy(old):
    left = killed_save(old, "before-cleanup")
    assert "ck" in left and any(name.startswith(".ck.old-") for name in left)
    assert list_checkpoints(old.parent) == [old]
    assert sorted(p.name for p in old.parent.iterdir()) == ["ck"]
    assert all_zero(old)


def test_recovery_leaves_a_save_in_progress_alone(old):
    with atomic.staged_folder(old) as staging:
        (staging / "partial").write_bytes(b"being written")
        atomic.recover_interrupted_swaps(old.parent)  # the writer's lock marks the folder as alive
        assert staging.is_dir() and list_checkpoints(old.parent) == [old]
    assert sorted(p.name for p in old.iterdir()) == ["partial"]
    assert sorted(p.name for p in old.parent.iterdir()) == ["ck"]


def test_a_save_that_raises_leaves_the_old_folder_and_no_debris(old):
    before = (old / "model.safetensors").read_bytes()
    with pytest.raises(RuntimeError, match="disk full"), atomic.staged_folder(old) as staging:
        (staging / "model.safetensors").write_bytes(b"half")
        raise RuntimeError("disk full")
    assert (old / "model.safetensors").read_bytes() == before
    assert sorted(p.name for p in old.parent.iterdir()) == ["ck"]
