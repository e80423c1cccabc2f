"""Where attachment bytes live: a small `Storage` seam, the local store under the app's
`var/attachments/files/` (folders 0700, files 0600: runtime/data/private_files.py) by default, and
an S3-compatible store (runtime/attachments/s3.py) when SPECADMIN_S3_BUCKET is set.

A store keeps opaque blobs by key (a random hex name, never the user's file name); the records in
`specadmin_attachment` say which row, field and name a key belongs to, so a blob without a record
(a crash between storing and recording) is never served and is swept at start-up.
"""
from __future__ import annotations

import asyncio
import os
import shutil
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Protocol

from specadmin.runtime.data.private_files import make_private, private_dir


class Storage(Protocol):
    async def put(self, key: str, source: Path) -> None:
        """Take the file at `source` (moved or copied) as blob `key`."""

    async def read(self, key: str) -> bytes:
        """The blob's bytes; FileNotFoundError when missing."""

    async def delete(self, key: str) -> None:
        """Remove the blob (nothing when missing)."""

    def keys(self) -> AsyncIterator[str]:
        """Every stored key (for the start-up sweep)."""


def _check(key: str) -> str:
    if not key.isalnum():
        raise ValueError("bad storage key")
    return key


class LocalStorage:
    """Blobs as files `var/attachments/files/<key[:2]>/<key>` of the app."""

    def __init__(self, root: Path):
        self.root = private_dir(root)

    def path(self, key: str) -> Path:
        return self.root / _check(key)[:2] / key

    def _put(self, key: str, source: Path) -> None:
        target = self.path(key)
        private_dir(target.parent)
        shutil.move(str(source), target)
        make_private(target)

    async def put(self, key: str, source: Path) -> None:
        await asyncio.to_thread(self._put, key, source)

    async def read(self, key: str) -> bytes:
        return await asyncio.to_thread(self.path(key).read_bytes)

    async def delete(self, key: str) -> None:
        self.path(key).unlink(missing_ok=True)

    async def keys(self) -> AsyncIterator[str]:
        for folder in self.root.iterdir():
            if folder.is_dir() and len(folder.name) == 2:
                for name in os.listdir(folder):
                    yield name


def incoming_dir(app_dir: Path) -> Path:
    """Uploads on their way in (checked, then stored or encrypted): emptied at start-up."""
    return private_dir(Path(app_dir) / "var" / "attachments" / "incoming")


def storage_for(app_dir: Path) -> Storage:
    """The S3-compatible store when SPECADMIN_S3_BUCKET is set (runtime/attachments/s3.py), else the local one."""
    if os.environ.get("SPECADMIN_S3_BUCKET"):
        from specadmin.runtime.attachments.s3 import S3Storage

        return S3Storage.from_env()
    return LocalStorage(Path(app_dir) / "var" / "attachments" / "files")
