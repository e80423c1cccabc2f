"""Files at rest under an app's `var/`: folders 0700 and files 0600, readable by the service's user only.

Uploads, error workbooks, exports, keys and the SQLite file hold ID numbers, phones and keys, so
nothing under `var/` may be readable by other local users. Code that writes there makes its
folders with `private_dir` and its files with `open_private`; `tighten` repairs what an older
version (or a careless operator) left behind, at start-up.
"""
from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import IO, Any

DIR_MODE = 0o700
FILE_MODE = 0o600


def private_dir(path: Path | str) -> Path:
    """The folder, made or narrowed to 0700, and any parents it needed made 0700 too (mkdir -p
    would make them with the default mode); parents that already existed are left alone."""
    path = Path(path)
    missing = []
    folder = path
    while not folder.exists():
        missing.append(folder)
        folder = folder.parent
    for folder in reversed(missing):
        folder.mkdir(mode=DIR_MODE, exist_ok=True)
    if stat.S_IMODE(path.stat().st_mode) != DIR_MODE:
        path.chmod(DIR_MODE)
    return path


def open_private(path: Path | str, mode: str = "wb", **kwargs: Any) -> IO:
    """Open a file for writing that nobody but the owner can read, even for an instant:
    created 0600 (never created wider and narrowed afterwards), truncated unless appending."""
    path = Path(path)
    private_dir(path.parent)
    flags = os.O_WRONLY | os.O_CREAT | (os.O_APPEND if "a" in mode else os.O_TRUNC)
    if "x" in mode:
        flags |= os.O_EXCL
    fd = os.open(path, flags, FILE_MODE)
    os.fchmod(fd, FILE_MODE)  # an existing wider file is narrowed too
    return os.fdopen(fd, mode.replace("x", "w"), **kwargs)


def make_private(path: Path | str) -> None:
    """Narrow one existing file to 0600 (e.g. a file a library created, such as the SQLite database)."""
    path = Path(path)
    if path.exists() and stat.S_IMODE(path.stat().st_mode) != FILE_MODE:
        path.chmod(FILE_MODE)


def tighten(root: Path | str) -> None:
    """Every folder under `root` 0700 and every file 0600 (symlinks are left alone)."""
    root = Path(root)
    if not root.is_dir():
        return
    private_dir(root)
    for folder, dirs, files in os.walk(root):
        for name in dirs:
            p = Path(folder, name)
            if not p.is_symlink():
                p.chmod(DIR_MODE)
        for name in files:
            p = Path(folder, name)
            if not p.is_symlink():
                make_private(p)
