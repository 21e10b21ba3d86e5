"""Sync checkpoint folders with a Hugging Face Hub model repo: push, pull at a pinned revision, fall back.

A repo holds one model per subfolder, `NAME/config.json`, `NAME/model.safetensors`, `NAME/README.md`
(plus the card's `NAME/samples.png`), so `checkpoints/` maps onto it folder by folder. Everything
goes through huggingface_hub's client: its token lookup (`HF_TOKEN` or `hf auth login`), its
endpoint (`HF_ENDPOINT`), its cache (`HF_HUB_CACHE`) and its offline switch (`HF_HUB_OFFLINE`).
A pulled model is checked against the Hub's blob hashes and loaded with the same strict loader
as a local checkpoint before anything uses it; only safetensors weights are ever fetched.
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import httpx2
from huggingface_hub import CommitOperationAdd, HfApi, constants, get_cached_repo_tree, snapshot_download
from huggingface_hub.errors import (
    CachedRepoTreeNotFoundError,
    HfHubHTTPError,
    LocalEntryNotFoundError,
    OfflineModeIsEnabled,
    RepositoryNotFoundError,
    RevisionNotFoundError,
)

from .atomic import replace_folder
from .cards import SAMPLE_IMAGE_NAME, repo_card
from .checkpoint import (
    CARD_NAME,
    CONFIG_NAME,
    EVAL_NAME,
    WEIGHTS_NAME,
    CheckpointError,
    list_checkpoints,
    load_config,
    load_model,
)
from .pipeline import CHECKPOINTS_DIR

PULL_FILES = (CONFIG_NAME, WEIGHTS_NAME, CARD_NAME)
PUSH_FILES = (*PULL_FILES, SAMPLE_IMAGE_NAME)  # the card links the picture beside it
PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".ckpt", ".pkl", ".pickle")
TIMEOUT_S = 5.0  # metadata requests; a down or silent Hub fails within this, never hangs
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,95}")
_REPO_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,95}/[A-Za-z0-9][A-Za-z0-9._-]{0,95}")
_TRANSPORT_ERRORS = (httpx2.TransportError, OfflineModeIsEnabled)


class HubError(CheckpointError):
    """The Hub could not provide (or take) a checkpoint; the message says why and what to do."""


@dataclass(frozen=True)
class PushResult:
    """One commit on the Hub: which models went into it and where it can be seen."""

    repo_id: str
    names: tuple[str, ...]
    revision: str
    commit: str
    url: str


@dataclass(frozen=True)
class PulledCheckpoint:
    """A validated checkpoint folder in the Hub cache and the commit it came from."""

    folder: Path
    repo_id: str
    commit: str
    from_cache_only: bool  # True when the Hub was unreachable or offline and the cache answered


def check_repo_id(repo_id: str) -> str:
    """`repo_id` if it is USER/REPO, else a HubError naming it."""
    if not isinstance(repo_id, str) or not _REPO_ID.fullmatch(repo_id) or ".." in repo_id:
        raise HubError(f"repo id {repo_id!r} is not of the form USER/REPO (letters, digits, '.', '_', '-')")
    return repo_id


def check_name(name: str) -> str:
    """`name` if it is one safe folder name (a model's subfolder in the repo), else a HubError naming it."""
    if not isinstance(name, str) or not _NAME.fullmatch(name) or ".." in name:
        raise HubError(f"model name {name!r} must be one folder name (letters, digits, '.', '_', '-')")
    return name


def _check_revision(revision: str | None) -> str | None:
    if revision is not None and (not isinstance(revision, str) or not revision.strip() or ".." in revision):
        raise HubError(f"revision {revision!r} must be a branch, a tag or a commit SHA")
    return revision


def _explain(error: Exception, repo_id: str, revision: str | None, endpoint: str) -> str:
    """One sentence naming what failed, for any error the client raises."""
    at = f"{repo_id}@{revision or 'main'}"
    if isinstance(error, OfflineModeIsEnabled):
        return f"offline mode is on (HF_HUB_OFFLINE=1), so {at} cannot be fetched from {endpoint}"
    if isinstance(error, httpx2.TimeoutException):
        return f"the Hub at {endpoint} did not answer within {TIMEOUT_S:g} s ({type(error).__name__})"
    if isinstance(error, httpx2.TransportError):
        return f"cannot reach the Hub at {endpoint} ({type(error).__name__}: {error})"
    if isinstance(error, RevisionNotFoundError):
        return f"revision {revision!r} does not exist in {repo_id}; give a branch, a tag or a full commit SHA"
    if isinstance(error, RepositoryNotFoundError):
        return (f"repository {repo_id!r} was not found at {endpoint} "
                "(or it is private: set HF_TOKEN or run `hf auth login`)")
    if isinstance(error, HfHubHTTPError):
        status = error.response.status_code if error.response is not None else "?"
        if status in (401, 403):
            return f"the Hub refused access to {repo_id} (HTTP {status}): set HF_TOKEN to a token with write access"
        return f"the Hub at {endpoint} answered HTTP {status} for {at}"
    return f"{type(error).__name__}: {error}"


# ---- push ----------------------------------------------------------------------------------------


def _figures(folder: Path) -> str:
    """The quality figures from eval.json as one short phrase; 'not evaluated' without it."""
    try:
        report = json.loads((folder / EVAL_NAME).read_text())
        if "sweep" in report:  # an EMNIST model (diffusion_core.emnist_evaluation)
            w = f"{report['settings']['guidance']:g}"
            frechet = report["frechet"].get("DDIM eta=0, 50 steps", float("nan"))
            return f"conformity@w={w} {100 * report['sweep'][w]['conformity']:.1f}%, Fréchet DDIM-50 {frechet:.2f}"
        worst = 100 * min(report["conformity"]["3"])
        return f"SW DDPM {report['sw_ddpm']:.3f}, SW DDIM-50 {report['sw_ddim']:.3f}, conformity@w=3 >= {worst:.1f}%"
    except (OSError, ValueError, KeyError, TypeError):
        return "not evaluated"


def commit_message(folders: list[Path]) -> tuple[str, str]:
    """(summary, description): the models, their quality figures and the commands that trained them."""
    names = [folder.name for folder in folders]
    if len(folders) == 1:
        summary = f"Upload {names[0]}: {_figures(folders[0])}"
    else:
        summary = f"Upload {len(names)} models: {', '.join(names)}"
    lines = []
    for folder in folders:
        command = load_config(folder).training.get("command", "(unknown)")
        lines += [f"{folder.name}: {_figures(folder)}", f"trained with: {command}", ""]
    return summary, "\n".join(lines).strip()


def _push(
    folders: list[Path], repo_id: str, revision: str | None, private: bool, token: str | None, root_card: bool = False
) -> PushResult:
    check_repo_id(repo_id)
    _check_revision(revision)
    for folder in folders:
        check_name(folder.name)
        load_model(folder)  # never publish a checkpoint the strict loader would refuse
    api = HfApi(token=token)
    summary, description = commit_message(folders)
    operations = [
        CommitOperationAdd(path_in_repo=f"{folder.name}/{file}", path_or_fileobj=str(folder / file))
        for folder in folders
        for file in PUSH_FILES
        if (folder / file).is_file()
    ]
    if root_card:
        models = [(folder.name, load_config(folder).dataset, _figures(folder)) for folder in folders]
        card = repo_card(models, repo_id).encode()
        operations.append(CommitOperationAdd(path_in_repo=CARD_NAME, path_or_fileobj=card))
    try:
        api.create_repo(repo_id, private=private, exist_ok=True)
        if revision not in (None, constants.DEFAULT_REVISION):
            api.create_branch(repo_id, branch=revision, exist_ok=True)
        info = api.create_commit(
            repo_id, operations, commit_message=summary, commit_description=description, revision=revision
        )
    except (*_TRANSPORT_ERRORS, HfHubHTTPError) as error:
        raise HubError(f"push to {repo_id} failed: {_explain(error, repo_id, revision, api.endpoint)}") from error
    names = tuple(folder.name for folder in folders)
    return PushResult(repo_id, names, revision or constants.DEFAULT_REVISION, info.oid, info.commit_url)


def push_checkpoint(
    folder: Path | str, repo_id: str, *, revision: str | None = None, private: bool = False, token: str | None = None
) -> PushResult:
    """Upload one checkpoint folder to `repo_id`/NAME in one commit; create the repo (and branch) if missing."""
    return _push([Path(folder)], repo_id, revision, private, token)


def push_all(
    checkpoints_dir: Path | str,
    repo_id: str,
    *,
    revision: str | None = None,
    private: bool = False,
    token: str | None = None,
) -> PushResult:
    """Upload every checkpoint folder in `checkpoints_dir` (one subfolder each) and a root card, in one commit."""
    root = Path(checkpoints_dir)
    folders = list_checkpoints(root)
    if not folders:
        raise HubError(f"{root} holds no checkpoint folder (a folder with {CONFIG_NAME}); nothing to push")
    return _push(folders, repo_id, revision, private, token, root_card=True)


# ---- pull ----------------------------------------------------------------------------------------


def _check_listing(repo_id: str, name: str, commit: str, paths: set[str]) -> None:
    """Refuse a repo whose NAME/ lacks the checkpoint files, naming pickled weights when that is all it has."""
    missing = [file for file in (CONFIG_NAME, WEIGHTS_NAME) if f"{name}/{file}" not in paths]
    pickled = sorted(p for p in paths if p.startswith(f"{name}/") and p.endswith(PICKLE_SUFFIXES))
    if WEIGHTS_NAME in missing and pickled:
        raise HubError(
            f"{repo_id}@{commit[:12]} offers only pickled weights for {name!r} ({', '.join(pickled)}); they are "
            f"refused because unpickling can run arbitrary code. Only {WEIGHTS_NAME} (safetensors) is loaded."
        )
    if missing:
        found = sorted(p for p in paths if p.startswith(f"{name}/")) or ["nothing"]
        raise HubError(
            f"{repo_id}@{commit[:12]} has no complete checkpoint {name!r}: missing "
            f"{', '.join(f'{name}/{m}' for m in missing)} (found {', '.join(found)})"
        )


def _file_hash_matches(path: Path, sibling) -> bool:
    """Compare a downloaded file with the Hub's record: sha256 for LFS/Xet files, the git blob id otherwise."""
    content = path.read_bytes()
    if sibling.lfs is not None:
        return hashlib.sha256(content).hexdigest() == sibling.lfs.sha256
    if sibling.blob_id is None:
        return sibling.size is None or sibling.size == len(content)
    return hashlib.sha1(b"blob %d\0" % len(content) + content).hexdigest() == sibling.blob_id


def _verify_download(snapshot: Path, siblings: Mapping[str, object], repo_id: str, commit: str) -> None:
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


def _pull_from_cache(repo_id: str, name: str, revision: str | None, cache_dir, token, cause: str) -> PulledCheckpoint:
    patterns = [f"{name}/{file}" for file in PULL_FILES]
    try:
        snapshot = Path(
            snapshot_download(
                repo_id, revision=revision, allow_patterns=patterns, cache_dir=cache_dir, token=token,
                local_files_only=True,
            )
        )
    except (LocalEntryNotFoundError, OSError, ValueError) as error:
        raise HubError(f"{cause}, and the cache holds no copy of {repo_id}@{revision or 'main'} ({name})") from error
    folder = snapshot / name
    if not (folder / CONFIG_NAME).is_file() or not (folder / WEIGHTS_NAME).is_file():
        raise HubError(f"{cause}, and the cache holds no copy of {name} in {repo_id}@{revision or 'main'}")
    return PulledCheckpoint(folder, repo_id, snapshot.name, from_cache_only=True)


def _model_info(api: HfApi, repo_id: str, revision: str | None, files_metadata: bool = False):
    """The Hub's listing of `repo_id` at `revision`; OfflineModeIsEnabled without asking when HF_HUB_OFFLINE is set."""
    if constants.is_offline_mode():
        raise OfflineModeIsEnabled("HF_HUB_OFFLINE is set")
    return api.model_info(repo_id, revision=revision, files_metadata=files_metadata, timeout=TIMEOUT_S)


def pull(
    repo_id: str,
    name: str,
    *,
    revision: str | None = None,
    cache_dir: Path | str | None = None,
    token: str | None = None,
) -> PulledCheckpoint:
    """Fetch NAME/{config.json, model.safetensors, README.md} at `revision` into the Hub cache and validate it.

    Online: resolve the revision to a commit, refuse pickled-only or incomplete models, download,
    check every file against the Hub's hash, load it strictly. Offline (HF_HUB_OFFLINE=1) or when the
    Hub cannot be reached: the cached copy of that revision, loaded strictly, or a HubError.
    """
    check_repo_id(repo_id)
    check_name(name)
    _check_revision(revision)
    api = HfApi(token=token)
    try:
        info = _model_info(api, repo_id, revision, files_metadata=True)
    except _TRANSPORT_ERRORS as error:
        pulled = _pull_from_cache(repo_id, name, revision, cache_dir, token, _explain(error, repo_id, revision, api.endpoint))
    except HfHubHTTPError as error:
        cause = _explain(error, repo_id, revision, api.endpoint)
        if isinstance(error, RepositoryNotFoundError) or error.response is None or error.response.status_code < 500:
            raise HubError(cause) from error
        pulled = _pull_from_cache(repo_id, name, revision, cache_dir, token, cause)
    else:
        siblings = {s.rfilename: s for s in info.siblings or [] if s.rfilename in {f"{name}/{f}" for f in PULL_FILES}}
        _check_listing(repo_id, name, info.sha, {s.rfilename for s in info.siblings or []})
        try:  # by the name asked for, so the cache records branch -> commit for offline use
            snapshot = Path(snapshot_download(
                repo_id, revision=revision, allow_patterns=list(siblings), cache_dir=cache_dir, token=token,
                etag_timeout=TIMEOUT_S,
            ))
        except (*_TRANSPORT_ERRORS, HfHubHTTPError, LocalEntryNotFoundError) as error:
            raise HubError(f"download of {name} failed: {_explain(error, repo_id, revision, api.endpoint)}") from error
        except OSError as error:  # the client's size check: the body ended early
            raise HubError(f"download of {name} from {repo_id}@{info.sha[:12]} was incomplete: {error}") from error
        if snapshot.name != info.sha:
            raise HubError(f"{repo_id}@{revision} moved from {info.sha[:12]} to {snapshot.name[:12]} during the pull; retry")
        _verify_download(snapshot, siblings, repo_id, info.sha)
        pulled = PulledCheckpoint(snapshot / name, repo_id, info.sha, from_cache_only=False)
    try:
        load_model(pulled.folder)
    except CheckpointError as error:
        raise HubError(f"{name} from {repo_id}@{pulled.commit[:12]} is not a valid checkpoint: {error}") from error
    return pulled


def list_models(
    repo_id: str, *, revision: str | None = None, cache_dir: Path | str | None = None, token: str | None = None
) -> tuple[str, ...]:
    """The model names (subfolders holding config.json) in `repo_id` at `revision`; from the cache when offline."""
    check_repo_id(repo_id)
    _check_revision(revision)
    api = HfApi(token=token)
    try:
        paths = [s.rfilename for s in _model_info(api, repo_id, revision).siblings or []]
    except (*_TRANSPORT_ERRORS, HfHubHTTPError) as error:
        cause = _explain(error, repo_id, revision, api.endpoint)
        if isinstance(error, HfHubHTTPError) and (error.response is None or error.response.status_code < 500):
            raise HubError(cause) from error
        try:
            paths = [f.path for f in get_cached_repo_tree(repo_id, revision=revision, cache_dir=cache_dir)]
        except CachedRepoTreeNotFoundError as cache_error:
            raise HubError(f"{cause}, and the cache has no listing of {repo_id}@{revision or 'main'}") from cache_error
    return tuple(sorted(p.split("/")[0] for p in paths if p.count("/") == 1 and p.endswith(f"/{CONFIG_NAME}")))


def install_pulled(pulled_folder: Path | str, into_dir: Path | str = CHECKPOINTS_DIR) -> Path:
    """Copy a pulled checkpoint to `into_dir`/NAME, replacing that folder atomically.

    The copy is built and loaded strictly in a temporary sibling folder first, so a failure leaves
    the existing folder untouched. The old folder is replaced as a whole: its training state
    belonged to other weights.
    """
    source = Path(pulled_folder)
    load_model(source)
    target = Path(into_dir) / check_name(source.name)
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.pull-", dir=target.parent))
    try:
        for file in PULL_FILES:
            if (source / file).is_file():
                shutil.copyfile(source / file, staging / file)  # follows the cache's symlinks to the blobs
        load_model(staging)
        replace_folder(staging, target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return target
