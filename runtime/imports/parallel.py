"""Convert and encrypt chunks in forked worker processes while the main process writes.

The CPU half of an import (rows.RowWork: coercion, validation, SM4 + HMAC-SM3) and the write
half (duplicate keys, executemany / COPY) overlap: workers get chunks of raw cells and send
back insert-ready rows, in file order, with at most `workers + 1` chunks in flight so memory
stays flat. Workers are forked (they inherit the compiled RowWork: nothing to pickle but the
cells) and exit on their own if the importing process dies (SIGKILL leaves no orphan holding
inherited database sockets). Opt-in (see workers_for); small files always run inline.
"""
from __future__ import annotations

import asyncio
import collections
import itertools
import multiprocessing
import os
import threading
import time
from collections.abc import AsyncIterator, Iterable
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

from specadmin.runtime.imports.rows import Chunk, RowWork

MIN_BYTES = 4 << 20  # below ~30,000 rows the fork costs more than the overlap wins
_WORK: dict[int, RowWork] = {}
_ids = itertools.count()


def workers_for(path: Path) -> int:
    """Worker processes for this file: SPECADMIN_IMPORT_WORKERS (default 0: inline).

    Off by default: on the 2-core shared server it was measured slower than inline (50,000
    rows on SQLite under load 6-8: 2,890 rows/s with one worker vs 5,659 inline) -- pickling
    the rows both ways costs more than the overlap wins when the cores are busy anyway.
    Files under MIN_BYTES always run inline."""
    configured = int(os.environ.get("SPECADMIN_IMPORT_WORKERS") or 0)
    if configured <= 0 or "fork" not in multiprocessing.get_all_start_methods():
        return 0
    if os.path.getsize(path) < MIN_BYTES and not os.environ.get("SPECADMIN_IMPORT_WORKERS_ALWAYS"):
        return 0
    return configured


async def inline(work: RowWork, chunks: Iterable[list]) -> AsyncIterator[Chunk]:
    for numbered in chunks:
        chunk = work(numbered)
        chunk.source = numbered
        yield chunk


def _watch_parent(parent: int) -> None:
    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(0.5)
        os._exit(0)  # the importer is gone (e.g. SIGKILL): its transaction died with it

    threading.Thread(target=watch, daemon=True).start()


def _convert(key: int, numbered: list[tuple[int, list[Any]]]) -> Chunk:
    return _WORK[key](numbered)


class Pool:
    def __init__(self, work: RowWork, workers: int):
        self.key = next(_ids)
        _WORK[self.key] = work  # set before the first submit forks the workers
        self.depth = workers + 1
        self.executor = ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("fork"),
                                            initializer=_watch_parent, initargs=(os.getpid(),))

    async def map(self, chunks: Iterable[list]) -> AsyncIterator[Chunk]:
        pending: collections.deque = collections.deque()

        async def done() -> Chunk:
            numbered, future = pending.popleft()
            chunk = await future
            chunk.source = numbered  # kept here: the cells are not sent back from the worker
            return chunk

        for numbered in chunks:
            pending.append((numbered, asyncio.wrap_future(self.executor.submit(_convert, self.key, numbered))))
            if len(pending) > self.depth:
                yield await done()
        while pending:
            yield await done()

    def close(self) -> None:
        # No wait: after an error a worker may still be busy with a chunk nobody needs; the
        # executor's own thread reaps the workers once they have read their stop sentinel.
        self.executor.shutdown(wait=False, cancel_futures=True)
        _WORK.pop(self.key, None)
