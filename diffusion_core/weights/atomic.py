"""Writes that a crash can never leave half done: one file, or a whole folder swapped in.

Both write next to their target and finish with `os.replace`, which is atomic on one
file system, so a reader sees either the old content or the new, never a mix.

A folder is swapped in with two renames (NAME -> .NAME.old-*/NAME, then .NAME.tmp-* -> NAME).
A process killed between them leaves no NAME; `recover_interrupted_swaps` puts the old folder
back at the next listing. To tell a dead writer's debris from a live writer's folders, a writer
holds an exclusive `flock` on its .tmp-* and .old-* folders; the kernel drops the lock when the
process dies, however it dies.
"""

from __future__ import annotations

import fcntl
import os
import re
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

# The sibling folders a swap of NAME makes: `.NAME.tmp-XXXX` (being written), `.NAME.old-XXXX` (the old NAME).
_SWAP_DEBRIS = re.compile(r"\.(?P<name>.+)\.(?P<kind>tmp|old)-[A-Za-z0-9_]+")


def _umask() -> int:
    """The process's umask (reading it means setting it, so it is set straight back)."""
    umask = os.umask(0)
    os.umask(umask)
    return umask


def _make_readable(folder: Path) -> None:
    """Give the temporary folder and its files the umask's usual modes (mkdtemp makes them private)."""
    umask = _umask()
    os.chmod(folder, 0o777 & ~umask)
    for path in folder.iterdir():
        os.chmod(path, 0o666 & ~umask)


def _lock(folder: Path, wait: bool = True) -> int | None:
    """An open descriptor of `folder` holding its exclusive lock; None if another holds it and `wait` is False."""
    descriptor = os.open(folder, os.O_RDONLY)
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
    except BlockingIOError:
        os.close(descriptor)
        return None
    return descriptor


@contextmanager
def staged_folder(folder: Path) -> Iterator[Path]:
    """An empty, locked sibling `.NAME.tmp-*` to write `folder`'s new content into.

    When the block ends normally the staging folder is swapped in as `folder`; when it
    raises, the staging folder is removed and `folder` is left as it was.
    """
    folder.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{folder.name}.tmp-", dir=folder.parent))
    descriptor = _lock(staging)
    try:
        yield staging
        replace_folder(staging, folder)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    finally:
        os.close(descriptor)


def replace_folder(staging: Path, folder: Path) -> None:
    """Swap a fully written sibling folder `staging` in as `folder`, readable as the umask allows.

    Two renames on one file system; a kill between them leaves `.NAME.old-*/NAME`, which
    `recover_interrupted_swaps` restores.
    """
    _make_readable(staging)
    if not folder.exists():
        os.replace(staging, folder)
        return
    old = Path(tempfile.mkdtemp(prefix=f".{folder.name}.old-", dir=folder.parent))
    descriptor = _lock(old)
    try:
        os.replace(folder, old / folder.name)
        try:
            os.replace(staging, folder)
        except BaseException:
            os.replace(old / folder.name, folder)
            raise
        shutil.rmtree(old, ignore_errors=True)
    finally:
        os.close(descriptor)


def is_swap_debris(name: str) -> bool:
    """Whether a folder name is a save's staging (`.NAME.tmp-*`) or old copy (`.NAME.old-*`)."""
    return _SWAP_DEBRIS.fullmatch(name) is not None


def recover_interrupted_swaps(root: Path | str) -> None:
    """Finish what killed writers left in `root`: restore `.NAME.old-*/NAME` where NAME is missing, delete the rest.

    A `.NAME.tmp-*` folder may be incomplete, so it is never swapped in: it is deleted. Folders
    a live writer holds are left alone. Called by `checkpoint.list_checkpoints` and
    `pipeline.resolve_checkpoint`, so a root is repaired before anything is offered or loaded
    from it. Best effort: an entry that cannot be read or removed (say, a read-only root) is skipped.
    """
    root = Path(root)
    if not root.is_dir():
        return
    debris = []
    for entry in root.iterdir():
        if is_swap_debris(entry.name):
            try:
                debris.append((entry.stat().st_mtime, entry))
            except OSError:  # gone already: its writer finished
                continue
    for _, entry in sorted(debris, reverse=True):  # the newest old folder of a name is the one restored
        try:
            descriptor = _lock(entry, wait=False)
        except OSError:
            continue
        if descriptor is None:  # a live writer's
            continue
        try:
            match = _SWAP_DEBRIS.fullmatch(entry.name)
            name, kept = match["name"], entry / match["name"]
            if match["kind"] == "old" and not (root / name).exists() and kept.is_dir():
                os.replace(kept, root / name)
            shutil.rmtree(entry)
        except OSError:
            pass
        finally:
            os.close(descriptor)


def write_file_atomically(path: Path, content: bytes) -> None:
    """Replace one file in a checkpoint folder without ever leaving it half written."""
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    with os.fdopen(handle, "wb") as stream:
        stream.write(content)
    os.chmod(temporary, 0o666 & ~_umask())
    os.replace(temporary, path)
