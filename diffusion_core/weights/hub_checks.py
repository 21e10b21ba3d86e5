"""What the Hub must show before the wing takes anything from it, and the names it may ask for.

Repo ids, model names and revisions are checked before any request; a repo's listing must
hold a complete, safetensors-only checkpoint whose files are within the size limits before
anything is downloaded; a download must match the Hub's hashes before it is used.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path

from huggingface_hub.utils.sha import git_hash, sha_fileobj

from .checkpoint import CARD_NAME, CONFIG_NAME, WEIGHTS_NAME, CheckpointError
from .limits import MAX_TEXT_BYTES, MAX_WEIGHTS_BYTES, shortened, shown

MAX_PULL_BYTES = {CONFIG_NAME: MAX_TEXT_BYTES, WEIGHTS_NAME: MAX_WEIGHTS_BYTES, CARD_NAME: MAX_TEXT_BYTES}
PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".ckpt", ".pkl", ".pickle")
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,95}")
_REPO_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,95}/[A-Za-z0-9][A-Za-z0-9._-]{0,95}")
# A branch, a tag (refs/pr/N too) or a commit SHA: git's ref characters without the odd ones, at most 255.
_REVISION = re.compile(r"[A-Za-z0-9_][A-Za-z0-9._+/-]{0,254}")


class HubError(CheckpointError):
    """The Hub could not provide (or take) a checkpoint; the message says why and what to do."""


class HubUnreachable(HubError):
    """The Hub did not answer (no connection, a timeout, a server error) and the cache had no copy."""


def check_repo_id(repo_id: str) -> str:
    """`repo_id` if it is USER/REPO, else a HubError naming it."""
    if not isinstance(repo_id, str) or not _REPO_ID.fullmatch(repo_id) or ".." in repo_id:
        raise HubError(f"repo id {shown(repo_id)} is not of the form USER/REPO (letters, digits, '.', '_', '-')")
    return repo_id


def check_name(name: str) -> str:
    """`name` if it is one safe folder name (a model's subfolder in the repo), else a HubError naming it."""
    if not isinstance(name, str) or not _NAME.fullmatch(name) or ".." in name:
        raise HubError(f"model name {shown(name)} must be one folder name (letters, digits, '.', '_', '-')")
    return name


def check_revision(revision: str | None) -> str | None:
    """`revision` if it is None or a plausible branch, tag or commit SHA, else a HubError naming it."""
    if revision is not None and (
        not isinstance(revision, str) or not _REVISION.fullmatch(revision) or ".." in revision or "//" in revision
        or revision.endswith(("/", ".lock"))
    ):
        raise HubError(
            f"revision {shown(revision)} must be a branch, a tag or a commit SHA: at most 255 letters, digits "
            "and '.', '_', '-', '+', '/' (no '..', no control characters)"
        )
    return revision


def check_listing(repo_id: str, name: str, commit: str, paths: set[str]) -> None:
    """Refuse a repo whose NAME/ lacks the checkpoint files, naming pickled weights when that is all it has."""
    missing = [file for file in (CONFIG_NAME, WEIGHTS_NAME) if f"{name}/{file}" not in paths]
    pickled = sorted(p for p in paths if p.startswith(f"{name}/") and p.endswith(PICKLE_SUFFIXES))
    if WEIGHTS_NAME in missing and pickled:
        raise HubError(
            f"{repo_id}@{commit[:12]} offers only pickled weights for {name!r} ({shortened(', '.join(pickled))}); they "
            f"are refused because unpickling can run arbitrary code. Only {WEIGHTS_NAME} (safetensors) is loaded."
        )
    if missing:
        found = sorted(p for p in paths if p.startswith(f"{name}/")) or ["nothing"]
        raise HubError(
            f"{repo_id}@{commit[:12]} has no complete checkpoint {name!r}: missing "
            f"{', '.join(f'{name}/{m}' for m in missing)} (found {shortened(', '.join(found))})"
        )


def check_sizes(repo_id: str, commit: str, siblings: Mapping[str, object]) -> None:
    """Refuse, before any download, a file the Hub's listing says is larger than MAX_PULL_BYTES allows."""
    for path, sibling in siblings.items():
        size = sibling.size if sibling.size is not None else getattr(sibling.lfs, "size", None)
        limit = MAX_PULL_BYTES[path.split("/")[-1]]
        if size is not None and size > limit:
            raise HubError(
                f"{repo_id}@{commit[:12]}: {path} is {size:,} bytes, more than the {limit:,} bytes allowed; "
                "it was not downloaded"
            )


def _file_hash_matches(path: Path, sibling) -> bool:
    """Compare a downloaded file with the Hub's record: sha256 for LFS/Xet files, the git blob id otherwise."""
    if sibling.lfs is not None:
        with path.open("rb") as stream:
            return sha_fileobj(stream).hex() == sibling.lfs.sha256
    if sibling.blob_id is None:
        return sibling.size is None or sibling.size == path.stat().st_size
    return git_hash(path.read_bytes()) == sibling.blob_id


def verify_download(snapshot: Path, siblings: Mapping[str, object], repo_id: str, commit: str) -> None:
    """Raise HubError if a file differs from the Hub's hash, after dropping it from the cache so a retry refetches."""
    bad = [
        relative for relative, sibling in siblings.items()
        if (snapshot / relative).is_file() and not _file_hash_matches(snapshot / relative, sibling)
    ]
    for relative in bad:
        path = snapshot / relative
        blob = path.resolve()
        path.unlink()
        if blob != path:
            blob.unlink(missing_ok=True)
    if bad:
        raise HubError(
            f"{', '.join(bad)} downloaded from {repo_id}@{commit[:12]} does not match the Hub's checksum "
            "(corrupted or truncated in transit); discarded from the cache, nothing was replaced"
        )
