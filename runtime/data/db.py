"""Database engines: SQLite under the app's var/ by default, PostgreSQL when DATABASE_URL is set.

Piccolo's SQLite engine opens a new connection (and thread) per query; under 200
concurrent requests that makes each query ~9x slower. SerializedSQLiteEngine keeps one
connection per process and queues queries on it instead.
"""
from __future__ import annotations

import asyncio
import sqlite3
from typing import Any, Iterable
from urllib.parse import unquote, urlparse

import aiosqlite
from piccolo.engine.base import Engine
from piccolo.engine.postgres import PostgresEngine
from piccolo.engine.sqlite import SQLiteEngine, TransactionType, dict_factory
from piccolo.table import Table


class SerializedSQLiteEngine(SQLiteEngine):
    """One shared aiosqlite connection per process, used by one query at a time."""

    def __init__(self, path: str, **kwargs: Any):
        super().__init__(path=path, timeout=30, **kwargs)
        self._shared: aiosqlite.Connection | None = None
        self._lock: asyncio.Lock | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    async def _connection(self) -> aiosqlite.Connection:
        loop = asyncio.get_running_loop()
        if self._shared is None or self._loop is not loop:
            self._shared = await aiosqlite.connect(**self.connection_kwargs)
            self._shared.row_factory = dict_factory  # type: ignore[assignment]
            await self._shared.execute("PRAGMA foreign_keys = 1")
            await self._shared.execute("PRAGMA journal_mode = WAL")
            await self._shared.execute("PRAGMA synchronous = NORMAL")
            await self._shared.execute("PRAGMA busy_timeout = 30000")
            self._lock = asyncio.Lock()
            self._loop = loop
        return self._shared

    async def get_connection(self) -> aiosqlite.Connection:
        connection = await super().get_connection()
        await connection.execute("PRAGMA busy_timeout = 30000")
        return connection

    async def _run_in_new_connection(self, query: str, args=None, query_type: str = "generic", table=None):
        connection = await self._connection()
        assert self._lock is not None
        async with self._lock:
            async with connection.execute(query, args or []) as cursor:
                rows = await cursor.fetchall()
            await connection.commit()
            return rows

    async def close(self) -> None:
        if self._shared is not None:
            await self._shared.close()
            self._shared = None


def sqlite_path_of(url: str) -> str:
    return unquote(urlparse(url).path) if url.startswith("sqlite") else url


def make_engine(database_url: str | None, default_sqlite_path: str) -> Engine:
    if not database_url:
        return SerializedSQLiteEngine(default_sqlite_path)
    if database_url.startswith("sqlite:"):
        return SerializedSQLiteEngine(urlparse(database_url).path)
    if database_url.startswith(("postgres://", "postgresql://")):
        return PostgresEngine(config={"dsn": database_url})
    raise ValueError(f"unsupported DATABASE_URL scheme: {database_url.split(':', 1)[0]}")


def bind_tables(tables: Iterable[type[Table]], engine: Engine) -> None:
    """Point generated tables (and piccolo's own) at the engine chosen at run time."""
    for table in tables:
        table._meta._db = engine


async def start(engine: Engine) -> None:
    if isinstance(engine, PostgresEngine):
        await engine.start_connection_pool(min_size=2, max_size=20)


async def stop(engine: Engine) -> None:
    if isinstance(engine, PostgresEngine):
        await engine.close_connection_pool()
    elif isinstance(engine, SerializedSQLiteEngine):
        await engine.close()


def is_sqlite(engine: Engine) -> bool:
    return engine.engine_type == "sqlite"


def write_transaction(engine: Engine):
    """A transaction that reads a row and then writes it. SQLite: BEGIN IMMEDIATE takes the write
    lock first (waiting up to the busy timeout), so writers queue instead of a deferred reader failing
    with "database is locked" when its snapshot went stale; PostgreSQL: the usual READ COMMITTED, the
    writer's compare-and-set (`WHERE version = :read`) catches a concurrent change."""
    if is_sqlite(engine):
        return engine.transaction(transaction_type=TransactionType.immediate)
    return engine.transaction()


sqlite3.register_adapter(bool, int)
