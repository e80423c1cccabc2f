"""Database engines: SQLite under the app's var/ by default, PostgreSQL when DATABASE_URL is set.

Piccolo's SQLite engine opens a new connection (and thread) per query; under 200
concurrent requests that makes each query ~9x slower. SerializedSQLiteEngine keeps one
connection per process and queues queries on it instead.

A busy database (SQLite's one writer at a time, a PostgreSQL lock or deadlock) is waited for up
to `busy_seconds()` (SQLite's busy timeout, PostgreSQL's lock_timeout); what is still busy after
that is `is_busy`, answered 503 (runtime/app/errors.py).
"""
from __future__ import annotations

import asyncio
import os
import sqlite3
from typing import Any, Iterable
from urllib.parse import unquote, urlparse

import aiosqlite
from piccolo.engine.base import Engine
from piccolo.engine.postgres import PostgresEngine
from piccolo.engine.sqlite import SQLiteEngine, SQLiteTransaction, TransactionType, dict_factory
from piccolo.table import Table

BUSY_TIMEOUT = 30  # seconds a statement waits for another connection's lock (SPECADMIN_DB_BUSY_SECONDS)
SQLITE_BUSY, SQLITE_LOCKED = 5, 6


def _daemon_connect(kwargs: dict[str, Any]):
    """aiosqlite.connect with a daemon worker thread. aiosqlite's thread is not a daemon: a
    connection nobody closed (a query after the engine stopped, a transaction whose task was
    dropped with its event loop) would keep the process from exiting, after its work was done.
    SQLite's journal survives an unclosed connection."""
    connecting = aiosqlite.connect(**kwargs)
    connecting._thread.daemon = True
    return connecting


class SerializedSQLiteEngine(SQLiteEngine):
    """One shared aiosqlite connection per process, used by one query at a time."""

    def __init__(self, path: str, busy: float = BUSY_TIMEOUT, **kwargs: Any):
        # sqlite3's `timeout` is SQLite's busy timeout: how long a statement waits for the write lock.
        super().__init__(path=path, timeout=busy, **kwargs)
        self._shared: aiosqlite.Connection | None = None
        self._lock: asyncio.Lock | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    async def _connection(self) -> aiosqlite.Connection:
        loop = asyncio.get_running_loop()
        if self._shared is None or self._loop is not loop:
            self._shared = await _daemon_connect(self.connection_kwargs)
            self._shared.row_factory = dict_factory  # type: ignore[assignment]
            await self._shared.execute("PRAGMA foreign_keys = 1")
            await self._shared.execute("PRAGMA journal_mode = WAL")
            await self._shared.execute("PRAGMA synchronous = NORMAL")
            self._lock = asyncio.Lock()
            self._loop = loop
        return self._shared

    async def get_connection(self) -> aiosqlite.Connection:
        """A transaction's own connection (Piccolo's SQLiteTransaction asks the engine for one)."""
        connection = await _daemon_connect(self.connection_kwargs)
        connection.row_factory = dict_factory  # type: ignore[assignment]
        await connection.execute("PRAGMA foreign_keys = 1")
        return connection

    def transaction(self, transaction_type: TransactionType = TransactionType.immediate,
                    allow_nested: bool = True) -> SQLiteTransaction:
        """Write transactions take the write lock first (BEGIN IMMEDIATE): a deferred one that read
        before another connection committed a write could not upgrade and would fail at once,
        without waiting for the busy timeout."""
        return super().transaction(transaction_type=transaction_type, allow_nested=allow_nested)

    async def _run_in_new_connection(self, query: str, args=None, query_type: str = "generic", table=None):
        """A statement outside any transaction (Piccolo runs those on the transaction's own connection,
        `_run_in_existing_connection`), in one trip to the connection's worker thread: execute and
        fetch together. The shared connection is in autocommit mode (Piccolo's `isolation_level=None`):
        SQLite commits each write as its statement ends, and a read leaves nothing to commit. Only a
        statement that left a transaction open (a raw `BEGIN`) is committed, as every statement was
        before."""
        connection = await self._connection()
        assert self._lock is not None
        async with self._lock:
            rows = await connection.execute_fetchall(query, args or [])
            if connection.in_transaction:
                await connection.commit()
            return rows

    async def close(self) -> None:
        if self._shared is not None:
            await self._shared.close()
            self._shared = None


def sqlite_path_of(url: str) -> str:
    return unquote(urlparse(url).path) if url.startswith("sqlite") else url


def busy_seconds() -> float:
    """How long a statement waits for a lock before the database counts as busy."""
    try:
        value = float(os.environ.get("SPECADMIN_DB_BUSY_SECONDS") or BUSY_TIMEOUT)
    except ValueError:
        value = BUSY_TIMEOUT
    return min(max(value, 0.1), 600.0)


def postgres_settings() -> dict[str, str]:
    """Per-connection settings of every PostgreSQL connection (the pool's and the importer's)."""
    return {"lock_timeout": str(int(busy_seconds() * 1000))}


def make_engine(database_url: str | None, default_sqlite_path: str) -> Engine:
    if not database_url:
        return SerializedSQLiteEngine(default_sqlite_path, busy=busy_seconds())
    if database_url.startswith("sqlite:"):
        return SerializedSQLiteEngine(urlparse(database_url).path, busy=busy_seconds())
    if database_url.startswith(("postgres://", "postgresql://")):
        return PostgresEngine(config={"dsn": database_url, "server_settings": postgres_settings()})
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


def is_busy(exc: BaseException) -> bool:
    """The database was still busy after waiting (not a fault of the request nor of the data)."""
    if isinstance(exc, sqlite3.OperationalError):
        code = getattr(exc, "sqlite_errorcode", None)
        if code is not None:
            return code & 0xFF in (SQLITE_BUSY, SQLITE_LOCKED)
        return "locked" in str(exc) or "busy" in str(exc)
    from asyncpg.exceptions import DeadlockDetectedError, LockNotAvailableError, TooManyConnectionsError

    return isinstance(exc, (DeadlockDetectedError, LockNotAvailableError, TooManyConnectionsError))


sqlite3.register_adapter(bool, int)
