"""Where server-side sessions live: a table in the app's own database by default, Litestar's
RedisStore when REDIS_URL is set. The browser holds only a random session id; what the session
says (who, when) stays on the server, so ending a session (logout) really ends it. In the database
the session is read together with its owner's row (revocation.owner_columns): one statement for
the session and every check that follows.
"""
from __future__ import annotations

import datetime as dt
import os
import random
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from litestar.stores.base import Store
from piccolo.columns import Bytea, Timestamp, Varchar
from piccolo.table import Table

from specadmin.runtime.data.prepared import Prepared
from specadmin.runtime.data.unique import is_unique_violation

if TYPE_CHECKING:
    from specadmin.runtime.app.context import AppContext

TABLE = "sys_session"
PURGE_ONE_IN = 200  # each write purges expired rows with this probability: no job needed


def session_table() -> type[Table]:
    """The store's table, one class per app (bound to that app's database)."""

    class SessionRecord(Table, tablename=TABLE):
        key = Varchar(length=100, unique=True)
        data = Bytea()
        expires_at = Timestamp(null=True, default=None, index=True)

    return SessionRecord


def _now() -> dt.datetime:
    return dt.datetime.now().replace(microsecond=0)


def _expiry(expires_in: int | dt.timedelta | None) -> dt.datetime | None:
    if expires_in is None:
        return None
    seconds = expires_in.total_seconds() if isinstance(expires_in, dt.timedelta) else expires_in
    return _now() + dt.timedelta(seconds=seconds)


class DatabaseStore(Store):
    """A Litestar `Store` over one table of the app's database (SQLite or PostgreSQL), shared by
    every worker process."""

    def __init__(self, table: type[Table], owner_columns: Callable[[Any], list] | None = None):
        """`owner_columns(user_id)`: what to read about a session's owner in the same statement
        (`get_with_owner`), as select columns given the owner's id as a value."""
        self.table = table
        # every request reads its session: the statements compiled once (runtime/data/prepared.py)
        self._read = Prepared(table, lambda key: table.select(table.data, table.expires_at).where(table.key == key), 1)
        self._read_owned = None if owner_columns is None else Prepared(table, lambda key, owner: table.select(
            table.data, table.expires_at, *owner_columns(owner)).where(table.key == key), 2)

    async def set(self, key: str, value: str | bytes, expires_in: int | dt.timedelta | None = None) -> None:
        data = value.encode() if isinstance(value, str) else value
        t = self.table
        expires_at = _expiry(expires_in)
        try:
            async with t._meta.db.transaction():
                await t.delete().where(t.key == key)
                await t.insert(t(key=key, data=data, expires_at=expires_at))
        except Exception as exc:
            # Two requests of one session writing at once (PostgreSQL): both deleted, the other inserted first.
            if not is_unique_violation(exc):
                raise
            await t.update({t.data: data, t.expires_at: expires_at}).where(t.key == key)
        if random.randrange(PURGE_ONE_IN) == 0:
            await t.delete().where(t.expires_at < _now())

    async def get(self, key: str, renew_for: int | dt.timedelta | None = None) -> bytes | None:
        row = await self._live(key, await self._read(key), renew_for)
        return None if row is None else bytes(row["data"])

    @property
    def reads_owner(self) -> bool:
        """Whether `get_with_owner` reads anything (the store was given `owner_columns`)."""
        return self._read_owned is not None

    async def get_with_owner(self, key: str, owner: int, renew_for: int | dt.timedelta | None = None
                             ) -> tuple[bytes, dict[str, Any]] | None:
        """The session's data and what `owner_columns` reads about the user `owner`, in one statement
        (None as `get`). The caller checks that the session is `owner`'s."""
        if self._read_owned is None:
            raise LookupError("this store reads no owner columns")
        row = await self._live(key, await self._read_owned(key, owner), renew_for)
        if row is None:
            return None
        return bytes(row.pop("data")), {k: v for k, v in row.items() if k != "expires_at"}

    async def _live(self, key: str, rows: list[dict], renew_for: int | dt.timedelta | None) -> dict | None:
        """The session's row unless it has expired (then deleted); its expiry renewed if asked."""
        if not rows:
            return None
        t = self.table
        expires_at = rows[0]["expires_at"]
        if expires_at is not None and expires_at <= _now():
            await t.delete().where(t.key == key)
            return None
        if renew_for is not None and expires_at is not None:
            await t.update({t.expires_at: _expiry(renew_for)}).where(t.key == key)
        return rows[0]

    async def delete(self, key: str) -> None:
        await self.table.delete().where(self.table.key == key)

    async def delete_all(self) -> None:
        await self.table.delete(force=True)

    async def exists(self, key: str) -> bool:
        return await self.get(key) is not None

    async def expires_in(self, key: str) -> int | None:
        t = self.table
        rows = await t.select(t.expires_at).where(t.key == key)
        if not rows or rows[0]["expires_at"] is None:
            return None
        return max(0, int((rows[0]["expires_at"] - _now()).total_seconds()))


def make_store(ctx: "AppContext") -> Store:
    """Redis (shared by every worker and machine) when REDIS_URL is set, else the app's database."""
    url = os.environ.get("REDIS_URL")
    if url:
        from litestar.stores.redis import RedisStore

        return RedisStore.with_client(url=url, namespace=f"specadmin:{ctx.app.name}:sessions")
    from specadmin.runtime.identity.revocation import owner_columns

    return DatabaseStore(ctx.runtime_table(TABLE), lambda owner: owner_columns(ctx, owner))
