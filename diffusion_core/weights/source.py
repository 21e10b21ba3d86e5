"""Where the app's weights come from: the shipped checkpoints/NAME, or a Hub repo at a revision.

`resolve_weights` never raises for a Hub failure: it answers with the folder in use
and a line saying why the Hub's weights were not taken. A Space names its repo and
revision in the environment (DIFFUSION_HUB_REPO, DIFFUSION_HUB_REVISION). A pull a
visitor asks for should pass token=False, so the Space's own token is never sent for it.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from .hub import HubError, HubUnreachable, Token, pull
from .pipeline import CHECKPOINTS_DIR

HUB_REPO_ENV = "DIFFUSION_HUB_REPO"
HUB_REVISION_ENV = "DIFFUSION_HUB_REVISION"


@dataclass(frozen=True)
class WeightsSource:
    """The folder the app should load, the line to show about it, and the Hub error if one occurred."""

    folder: Path
    message: str
    error: str | None = None
    unreachable: bool = False  # the Hub did not answer: a server loading several models stops asking it


def resolve_weights(
    name: str,
    repo_id: str | None = None,
    revision: str | None = None,
    *,
    fallback: Path | str | None = None,
    cache_dir: Path | str | None = None,
    token: Token = None,
) -> WeightsSource:
    """The folder to load for NAME: the Hub's at `revision` if it pulls and validates, else `fallback`.

    `fallback` is the folder in use (default: the shipped checkpoints/NAME); a Hub failure never
    raises here, it returns the fallback with a message saying why. token: as huggingface_hub's
    (None: HF_TOKEN or the login's; False: none at all).
    """
    current = Path(fallback) if fallback is not None else CHECKPOINTS_DIR / name
    shown = f"{current.parent.name}/{current.name}"  # where, without the server's own path
    if not repo_id:
        return WeightsSource(current, f"{name}: shipped weights ({shown})")
    try:
        pulled = pull(repo_id, name, revision=revision, cache_dir=cache_dir, token=token)
    except HubError as error:
        message = f"{name}: Hub weights not loaded, still using {shown}. Reason: {error}"
        return WeightsSource(current, message, str(error), unreachable=isinstance(error, HubUnreachable))
    note = " (cached copy; the Hub could not be reached)" if pulled.from_cache_only else ""
    return WeightsSource(pulled.folder, f"{name}: weights from {repo_id} at commit {pulled.commit[:12]}{note}",
                         unreachable=pulled.from_cache_only)


def weights_from_environment(
    name: str,
    environ: Mapping[str, str] = os.environ,
    *,
    fallback: Path | str | None = None,
    cache_dir: Path | str | None = None,
    token: Token = None,
) -> WeightsSource:
    """`resolve_weights` with the repo and revision a Space sets in DIFFUSION_HUB_REPO / DIFFUSION_HUB_REVISION."""
    repo_id = environ.get(HUB_REPO_ENV, "").strip() or None
    revision = environ.get(HUB_REVISION_ENV, "").strip() or None
    return resolve_weights(name, repo_id, revision, fallback=fallback, cache_dir=cache_dir, token=token)
