"""Sync checkpoint folders with a Hugging Face Hub model repo: push, pull at a pinned revision, fall back.

A repo holds one model per subfolder, `NAME/config.json`, `NAME/model.safetensors`, `NAME/README.md`
(plus the card's `NAME/samples.png`), and a root README.md listing them, so `checkpoints/` maps onto
it folder by folder. Everything goes through huggingface_hub's client: its token lookup (`HF_TOKEN`
or `hf auth login`; `token=False` sends none, as a Space should for a visitor's pull), its endpoint
(`HF_ENDPOINT`), its cache (`HF_HUB_CACHE`) and its offline switch (`HF_HUB_OFFLINE`).
A pulled model's sizes are checked in the Hub's listing before anything is downloaded; the files
are checked against the Hub's hashes, loaded with the same strict loader as a local checkpoint
and sampled for one step before anything uses them; only safetensors weights are ever fetched.
Every request has a deadline, so a silent Hub fails with a message instead of hanging.
"""

from __future__ import annotations

import json
import shutil
import threading
from collections.abc import Callable
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

from .atomic import staged_folder
from .cards import SAMPLE_IMAGE_NAME, RepoModel, figures_text, repo_card
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
from .hub_checks import (
    HubError,
    HubUnreachable,
    check_listing,
    check_name,
    check_repo_id,
    check_revision,
    check_sizes,
    verify_download,
)
from .hub_guides import guide_paths, guide_uploads, is_guide_name
from .limits import shortened, shown
from .pipeline import CHECKPOINTS_DIR, Pipeline, smoke_test

PULL_FILES = (CONFIG_NAME, WEIGHTS_NAME, CARD_NAME)
PUSH_FILES = (*PULL_FILES, SAMPLE_IMAGE_NAME)  # the card links the picture beside it
TIMEOUT_S = 5.0  # metadata requests (listing, create repo or branch)
DOWNLOAD_TIMEOUT_S = 120.0  # one model's files, at most 66 MB: 0.6 MB/s at worst
PUSH_TIMEOUT_S = 300.0  # one commit with its uploads
Token = str | bool | None  # huggingface_hub's: a token, None to look one up, False to send none


class _NoAnswer(TimeoutError):
    """A Hub call that did not return within the deadline `_within` gave it."""

    def __init__(self, seconds: float):
        super().__init__(f"no answer within {seconds:g} s")
        self.seconds = seconds


_TRANSPORT_ERRORS = (httpx2.TransportError, OfflineModeIsEnabled, _NoAnswer)


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


def _within(seconds: float, call: Callable, *args, **kwargs):
    """`call(*args, **kwargs)`, or _NoAnswer once `seconds` pass without it returning.

    huggingface_hub gives create_repo, create_branch and create_commit no timeout (its HTTP
    client waits forever) and retries a stalled download, so the deadline is kept here, in a
    daemon thread: one the interpreter does not wait for at exit (a `run_as_future` executor's
    thread it would). An overrun call is abandoned, not stopped; its thread ends when the
    Hub answers or drops the connection.
    """
    outcome: dict = {}

    def run() -> None:
        try:
            outcome["value"] = call(*args, **kwargs)
        except BaseException as error:  # noqa: BLE001 - handed to the caller's thread below
            outcome["error"] = error

    worker = threading.Thread(target=run, name=f"hub-{getattr(call, '__name__', 'call')}", daemon=True)
    worker.start()
    worker.join(seconds)
    if worker.is_alive():
        raise _NoAnswer(seconds)
    if "error" in outcome:
        raise outcome["error"]
    return outcome["value"]


def _explain(error: Exception, repo_id: str, revision: str | None, endpoint: str) -> str:
    """One sentence naming what failed, for any error the client raises."""
    at = shortened(f"{repo_id}@{revision or 'main'}")
    if isinstance(error, OfflineModeIsEnabled):
        return f"offline mode is on (HF_HUB_OFFLINE=1), so {at} cannot be fetched from {endpoint}"
    if isinstance(error, _NoAnswer):
        return f"the Hub at {endpoint} did not answer within {error.seconds:g} s"
    if isinstance(error, httpx2.TimeoutException):
        return f"the Hub at {endpoint} did not answer within {TIMEOUT_S:g} s ({type(error).__name__})"
    if isinstance(error, httpx2.TransportError):
        return f"cannot reach the Hub at {endpoint} ({type(error).__name__}: {shortened(str(error))})"
    if isinstance(error, RevisionNotFoundError):
        return f"revision {shown(revision)} does not exist in {shortened(repo_id)}; give a branch, a tag or a full commit SHA"
    if isinstance(error, RepositoryNotFoundError):
        return (f"repository {shown(repo_id)} was not found at {endpoint} "
                "(or it is private: set HF_TOKEN or run `hf auth login`)")
    if isinstance(error, HfHubHTTPError):
        status = error.response.status_code if error.response is not None else "?"
        if status in (401, 403):
            return f"the Hub refused access to {shortened(repo_id)} (HTTP {status}): set HF_TOKEN to a token with write access"
        if status == 412:
            return f"{at} moved while this push was being prepared (another commit landed); push again"
        return f"the Hub at {endpoint} answered HTTP {status} for {at}"
    return f"{type(error).__name__}: {shortened(str(error))}"


def _model_info(api: HfApi, repo_id: str, revision: str | None, files_metadata: bool = False):
    """The Hub's listing of `repo_id` at `revision`; OfflineModeIsEnabled without asking when HF_HUB_OFFLINE is set."""
    if constants.is_offline_mode():
        raise OfflineModeIsEnabled("HF_HUB_OFFLINE is set")
    return api.model_info(repo_id, revision=revision, files_metadata=files_metadata, timeout=TIMEOUT_S)


def _model_names(paths) -> set[str]:
    """The model folders of a repo listing: the NAME of every NAME/config.json that is not a guide's."""
    return {p.split("/")[0] for p in paths if p.count("/") == 1 and p.endswith(f"/{CONFIG_NAME}")
            and not is_guide_name(p.split("/")[0])}


def _load_and_smoke_test(folder: Path) -> None:
    """Load `folder` strictly and sample one step from it on the CPU; CheckpointError if either fails."""
    model, config = load_model(folder)
    smoke_test(Pipeline(model, config, "cpu"))


# ---- push ----------------------------------------------------------------------------------------


def _figures(folder: Path) -> str:
    """The headline quality figures of `folder`/eval.json as one short phrase; 'not evaluated' without it."""
    try:
        return figures_text(json.loads((folder / EVAL_NAME).read_text()))
    except (OSError, ValueError):
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


def _root_card(folders: list[Path], listed: set[str], repo_id: str) -> bytes:
    """The repo's README.md: every model folder `listed` at the revision plus those pushed now."""
    pushed = {folder.name: RepoModel(folder.name, load_config(folder).dataset, _figures(folder)) for folder in folders}
    return repo_card([pushed.get(name, RepoModel(name)) for name in sorted(listed | set(pushed))], repo_id).encode()


def _push(folders: list[Path], repo_id: str, revision: str | None, private: bool, token: Token) -> PushResult:
    """One commit with every file of `folders` and the refreshed root card, on top of the revision it was built from."""
    check_repo_id(repo_id)
    check_revision(revision)
    guides = []
    for folder in folders:
        check_name(folder.name)
        _load_and_smoke_test(folder)  # never publish a checkpoint a pull would refuse
        guides += guide_uploads(folder)  # its guide travels with it, checked the same way
    api = HfApi(token=token)
    summary, description = commit_message(folders)
    operations = [
        CommitOperationAdd(path_in_repo=f"{folder.name}/{file}", path_or_fileobj=str(folder / file))
        for folder in folders
        for file in PUSH_FILES
        if (folder / file).is_file()
    ] + [CommitOperationAdd(path_in_repo=path, path_or_fileobj=str(local)) for path, local in guides]
    try:
        _within(TIMEOUT_S, api.create_repo, repo_id, private=private, exist_ok=True)
        if revision not in (None, constants.DEFAULT_REVISION):
            _within(TIMEOUT_S, api.create_branch, repo_id, branch=revision, exist_ok=True)
        listing = _model_info(api, repo_id, revision)
        card = _root_card(folders, _model_names(s.rfilename for s in listing.siblings or []), repo_id)
        operations.append(CommitOperationAdd(path_in_repo=CARD_NAME, path_or_fileobj=card))
        info = _within(
            PUSH_TIMEOUT_S, api.create_commit, repo_id, operations, commit_message=summary,
            commit_description=description, revision=revision, parent_commit=listing.sha,
        )
    except (*_TRANSPORT_ERRORS, HfHubHTTPError) as error:
        cause = _explain(error, repo_id, revision, api.endpoint)
        if isinstance(error, _NoAnswer):
            cause += "; the commit may still land, so look at the repo's history before pushing again"
        raise HubError(f"push to {shortened(repo_id)} failed: {cause}") from error
    names = tuple(folder.name for folder in folders)
    return PushResult(repo_id, names, revision or constants.DEFAULT_REVISION, info.oid, info.commit_url)


def push_checkpoint(
    folder: Path | str, repo_id: str, *, revision: str | None = None, private: bool = False, token: Token = None
) -> PushResult:
    """Upload one checkpoint folder to `repo_id`/NAME and refresh the root card, in one commit.

    Creates the repo (and branch) if missing.
    """
    return _push([Path(folder)], repo_id, revision, private, token)


def push_all(
    checkpoints_dir: Path | str,
    repo_id: str,
    *,
    revision: str | None = None,
    private: bool = False,
    token: Token = None,
) -> PushResult:
    """Upload every checkpoint folder in `checkpoints_dir` (one subfolder each) and the root card, in one commit."""
    root = Path(checkpoints_dir)
    folders = list_checkpoints(root)
    if not folders:
        raise HubError(f"{root} holds no checkpoint folder (a folder with {CONFIG_NAME}); nothing to push")
    return _push(folders, repo_id, revision, private, token)


# ---- pull ----------------------------------------------------------------------------------------


def _pull_from_cache(repo_id: str, name: str, revision: str | None, cache_dir, token, cause: str) -> PulledCheckpoint:
    """The cached copy of NAME at `revision`, the Hub having failed with `cause`; HubUnreachable without one."""
    patterns = [f"{name}/{file}" for file in PULL_FILES] + guide_paths(name)
    at = shortened(f"{repo_id}@{revision or 'main'}")
    try:
        snapshot = Path(
            snapshot_download(
                repo_id, revision=revision, allow_patterns=patterns, cache_dir=cache_dir, token=token,
                local_files_only=True,
            )
        )
    except (LocalEntryNotFoundError, OSError, ValueError) as error:
        raise HubUnreachable(f"{cause}, and the cache holds no copy of {at} ({name})") from error
    folder = snapshot / name
    if not (folder / CONFIG_NAME).is_file() or not (folder / WEIGHTS_NAME).is_file():
        raise HubUnreachable(f"{cause}, and the cache holds no copy of {name} in {at}")
    return PulledCheckpoint(folder, repo_id, snapshot.name, from_cache_only=True)


def pull(
    repo_id: str,
    name: str,
    *,
    revision: str | None = None,
    cache_dir: Path | str | None = None,
    token: Token = None,
) -> PulledCheckpoint:
    """Fetch NAME/{config.json, model.safetensors, README.md} at `revision` into the Hub cache and validate it.

    Online: resolve the revision to a commit, refuse pickled-only, incomplete or oversized models
    from the listing, download (within DOWNLOAD_TIMEOUT_S), check every file against the Hub's
    hash. Offline (HF_HUB_OFFLINE=1) or when the Hub cannot be reached: the cached copy of that
    revision, or a HubError. Either way the model is loaded strictly and sampled for one step.
    token=False sends no token (a Space pulling for a visitor).
    """
    check_repo_id(repo_id)
    check_name(name)
    check_revision(revision)
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
        wanted = {f"{name}/{f}" for f in PULL_FILES} | set(guide_paths(name))  # the model and its guide
        siblings = {s.rfilename: s for s in info.siblings or [] if s.rfilename in wanted}
        check_listing(repo_id, name, info.sha, {s.rfilename for s in info.siblings or []})
        check_sizes(repo_id, info.sha, siblings)
        try:  # by the name asked for, so the cache records branch -> commit for offline use
            snapshot = Path(_within(
                DOWNLOAD_TIMEOUT_S, snapshot_download, repo_id, revision=revision, allow_patterns=list(siblings),
                cache_dir=cache_dir, token=token, etag_timeout=TIMEOUT_S,
            ))
        except (*_TRANSPORT_ERRORS, HfHubHTTPError, LocalEntryNotFoundError) as error:
            raise HubError(f"download of {name} failed: {_explain(error, repo_id, revision, api.endpoint)}") from error
        except OSError as error:  # the client's size check: the body ended early
            raise HubError(f"download of {name} from {repo_id}@{info.sha[:12]} was incomplete: {error}") from error
        if snapshot.name != info.sha:
            at = shortened(f"{repo_id}@{revision}")
            raise HubError(f"{at} moved from {info.sha[:12]} to {snapshot.name[:12]} during the pull; retry")
        verify_download(snapshot, siblings, repo_id, info.sha)
        pulled = PulledCheckpoint(snapshot / name, repo_id, info.sha, from_cache_only=False)
    try:
        _load_and_smoke_test(pulled.folder)
    except CheckpointError as error:
        raise HubError(f"{name} from {repo_id}@{pulled.commit[:12]} is not a valid checkpoint: {error}") from error
    return pulled


def list_models(
    repo_id: str, *, revision: str | None = None, cache_dir: Path | str | None = None, token: Token = None
) -> tuple[str, ...]:
    """The model names (subfolders holding config.json) in `repo_id` at `revision`; from the cache when offline."""
    check_repo_id(repo_id)
    check_revision(revision)
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
            at = shortened(f"{repo_id}@{revision or 'main'}")
            raise HubError(f"{cause}, and the cache has no listing of {at}") from cache_error
    return tuple(sorted(_model_names(paths)))


def install_pulled(pulled_folder: Path | str, into_dir: Path | str = CHECKPOINTS_DIR) -> Path:
    """Copy a pulled checkpoint to `into_dir`/NAME, replacing that folder atomically.

    The pulled folder is loaded strictly and sampled for one step first; the copy is built and
    loaded again in a temporary sibling folder, so a failure leaves the existing folder
    untouched. The old folder is replaced as a whole: its training state belonged to other weights.
    """
    source = Path(pulled_folder)
    _load_and_smoke_test(source)
    target = Path(into_dir) / check_name(source.name)
    with staged_folder(target) as staging:
        for file in PULL_FILES:
            if (source / file).is_file():
                shutil.copyfile(source / file, staging / file)  # follows the cache's symlinks to the blobs
        load_model(staging)
    return target
