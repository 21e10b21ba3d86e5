"""diffusion_core.weights.hub_checks: the names and revisions the wing asks the Hub for, and the hashes a
download must match (checked against hashlib, an independent reference)."""

import hashlib

import pytest
from hub_helpers import REPO, pulled_folder
from huggingface_hub.hf_api import BlobLfsInfo, RepoSibling

from diffusion_core.weights import hub_checks
from diffusion_core.weights.hub_checks import (
    HubError,
    check_name,
    check_repo_id,
    check_revision,
    verify_download,
)

SHA = "0123456789abcdef0123456789abcdef01234567"


@pytest.mark.parametrize("revision", [None, "main", "v1.0", "experiment_2", "refs/pr/1", "release/2024-01+build", SHA])
def test_branches_tags_and_commit_shas_pass(revision):
    assert check_revision(revision) == revision


@pytest.mark.parametrize("revision", [
    "main\r\nX-Injected: 1", "main\n", "a\tb", "a\x00b", "with space", "", "../main", "a//b", "a/", "-rf", "/abs",
    "heads.lock", "x" * 256, 42,
])
def test_revisions_with_control_characters_odd_signs_or_over_255_characters_are_refused(revision):
    with pytest.raises(HubError, match="must be a branch, a tag or a commit SHA: at most 255"):
        check_revision(revision)


def test_a_crlf_revision_is_refused_before_any_request(fake_hub):
    with pytest.raises(HubError, match=r"revision 'main\\r\\nX-Injected: 1' must be a branch"):
        pulled_folder(REPO, "moons", revision="main\r\nX-Injected: 1")
    assert fake_hub.requests == []


@pytest.mark.parametrize("check, what", [(check_repo_id, "repo id"), (check_name, "model name"),
                                         (check_revision, "revision")])
def test_a_megabyte_value_is_cut_to_100_characters_in_the_message(check, what):
    value = "a" * 2**20
    with pytest.raises(HubError) as error:
        check(value)
    message = str(error.value)
    assert message.startswith(f"{what} '{'a' * 99}... (1048578 characters)") and len(message) < 300


def sibling(path: str, content: bytes, lfs: bool) -> RepoSibling:
    """The Hub's record of a file: a git blob id for a regular file, the sha256 for an LFS one."""
    if lfs:
        info = BlobLfsInfo(size=len(content), sha256=hashlib.sha256(content).hexdigest(), pointer_size=134)
        return RepoSibling(rfilename=path, size=len(content), lfs=info)
    blob = hashlib.sha1(b"blob %d\0" % len(content) + content).hexdigest()
    return RepoSibling(rfilename=path, size=len(content), blob_id=blob)


@pytest.mark.parametrize("lfs", [False, True], ids=["git-blob", "lfs-sha256"])
def test_a_download_matching_the_hubs_hash_passes_and_one_changed_byte_is_refused_and_discarded(tmp_path, lfs):
    content = bytes(range(256)) * 40
    (tmp_path / "moons").mkdir()
    path = tmp_path / "moons" / "model.safetensors"
    path.write_bytes(content)
    record = {"moons/model.safetensors": sibling("moons/model.safetensors", content, lfs)}
    verify_download(tmp_path, record, REPO, SHA)
    path.write_bytes(content[:100] + bytes([content[100] ^ 1]) + content[101:])
    with pytest.raises(HubError, match=r"moons/model\.safetensors downloaded from alice/toy-diffusion@0123456789ab "
                                       "does not match the Hub's checksum"):
        verify_download(tmp_path, record, REPO, SHA)
    assert not path.exists()  # dropped, so a retry fetches it again


def test_the_size_limits_cover_every_file_a_pull_fetches():
    from diffusion_core.weights.hub import PULL_FILES

    assert set(hub_checks.MAX_PULL_BYTES) == set(PULL_FILES)
