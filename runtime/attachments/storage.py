"""Where attachment bytes live: a small `Storage` seam with the local store under the app's
`var/attachments/` (folders 0700, files 0600: runtime/data/private_files.py).

A store keeps opaque blobs by key (a random hex name, never the user's file name); the records in
`specadmin_attachment` say which row, field and name a key belongs to, so a blob without a record
(a crash between storing and recording) is never served and is swept at start-up. An S3-compatible
store would implement the same four methods; it is not built yet (see specs/REFERENCE.md).
"""
from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Protocol

from specadmin.runtime.data.private_files import make_private, private_dir


class Storage(Protocol):
    def put(self, key: str, source: Path) -> None:
        """Take the file at `source` (moved or copied) as blob `key`."""

    def read(self, key: str) -> bytes:
        """The blob's bytes; FileNotFoundError when missing."""

    def delete(self, key: str) -> None:
        """Remove the blob (nothing when missing)."""

    def keys(self) -> Iterator[str]:
        """Every stored key (for the start-up sweep)."""


class LocalStorage:
    """Blobs as files `var/attachments/<key[:2]>/<key>` of the app."""

    def __init__(self, root: Path):
        self.root = private_dir(root)

    def path(self, key: str) -> Path:
        if not key.isalnum():
            raise ValueError("bad storage key")
        return self.root / key[:2] / key

    def put(self, key: str, source: Path) -> None:
        target = self.path(key)
        private_dir(target.parent)
        shutil.move(str(source), target)
        make_private(target)

    def read(self, key: str) -> bytes:
        return self.path(key).read_bytes()

    def delete(self, key: str) -> None:
        self.path(key).unlink(missing_ok=True)

    def keys(self) -> Iterator[str]:
        for folder in self.root.iterdir():
            if folder.is_dir() and len(folder.name) == 2:
                for name in os.listdir(folder):
                    yield name


def incoming_dir(app_dir: Path) -> Path:
    """Uploads on their way in (checked, then stored or encrypted): emptied at start-up."""
    return private_dir(Path(app_dir) / "var" / "attachments" / "incoming")


def storage_for(app_dir: Path) -> Storage:
    return LocalStorage(Path(app_dir) / "var" / "attachments" / "files")
