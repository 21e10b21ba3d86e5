"""Writes that a crash can never leave half done: one file, or a whole folder swapped in.

Both write next to their target and finish with `os.replace`, which is atomic on one
file system, so a reader sees either the old content or the new, never a mix.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path


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


def replace_folder(staging: Path, folder: Path) -> None:
    """Swap a fully written sibling folder `staging` in as `folder`, readable as the umask allows.

    Two renames on one file system: `folder` is always either the old or the new one.
    """
    _make_readable(staging)
    if not folder.exists():
        os.replace(staging, folder)
        return
    old = Path(tempfile.mkdtemp(prefix=f".{folder.name}.old-", dir=folder.parent))
    os.replace(folder, old / folder.name)
    os.replace(staging, folder)
    shutil.rmtree(old, ignore_errors=True)


def write_file_atomically(path: Path, content: bytes) -> None:
    """Replace one file in a checkpoint folder without ever leaving it half written."""
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    with os.fdopen(handle, "wb") as stream:
        stream.write(content)
    os.chmod(temporary, 0o666 & ~_umask())
    os.replace(temporary, path)
