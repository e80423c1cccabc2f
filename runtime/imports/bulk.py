"""The bulk write route: one raw connection, one transaction, many rows per statement.

SQLite gets parameterised `executemany`; PostgreSQL gets `COPY` (asyncpg
copy_records_to_table). Statements are compiled from Piccolo query builders, values are
always parameters. Per-row ORM objects cost ~165 µs each; this route costs a few µs.
"""
from __future__ import annotations

import datetime as dt
import sqlite3
from collections.abc import Iterable
from typing import Any

from piccolo.table import Table

from specadmin.runtime.data.db import is_sqlite
from specadmin.specs.physical import ROW_VERSION


def _compiled(query, engine_type: str) -> str:
    sql, _ = query.querystrings[0].compile_string(engine_type=engine_type)
    # executemany cannot return rows; the ids are not needed here.
    return sql.rpartition(" RETURNING ")[0] or sql


def _placeholder_row(table: type[Table]) -> Table:
    """A row object with every column set, so the compiled INSERT names every column."""
    values = {c._meta.name: None for c in table._meta.columns if c is not table._meta.primary_key}
    row = table.__new__(table)
    Table.__init__(row, _ignore_missing=True, **values)
    return row


class BulkWriter:
    """Writes into one table and the batch table over a private connection and transaction."""

    def __init__(self, ctx, entity_name: str):
        self.ctx = ctx
        self.table = ctx.table(entity_name)
        self.sqlite = is_sqlite(ctx.engine)
        self.engine_type = "sqlite" if self.sqlite else "postgres"
        self.columns = [c._meta.db_column_name for c in self.table._meta.columns
                        if c is not self.table._meta.primary_key]
        self.conn: Any = None

    # -- connection ---------------------------------------------------------
    async def open(self) -> None:
        if self.sqlite:
            path = self.ctx.engine.connection_kwargs["database"]
            self.conn = sqlite3.connect(path, timeout=60, isolation_level=None, check_same_thread=False)
            self.conn.execute("PRAGMA busy_timeout = 60000")
            # 64 MB of page cache for this connection only: with a dozen indexes (random blind-index
            # keys among them) the 2 MB default makes every insert touch the disk.
            self.conn.execute("PRAGMA cache_size = -65536")
            self.conn.execute("BEGIN IMMEDIATE")
        else:
            import asyncpg

            self.conn = await asyncpg.connect(self.ctx.engine.config["dsn"])
            self.tx = self.conn.transaction()
            await self.tx.start()

    async def commit(self) -> None:
        if self.sqlite:
            self.conn.execute("COMMIT")
        else:
            await self.tx.commit()

    async def close(self, rollback: bool = False) -> None:
        if self.conn is None:
            return
        try:
            if rollback:
                if self.sqlite:
                    if self.conn.in_transaction:
                        self.conn.execute("ROLLBACK")
                else:
                    await self.tx.rollback()
        finally:
            if self.sqlite:
                self.conn.close()
            else:
                await self.conn.close()
            self.conn = None

    # -- statements ---------------------------------------------------------
    async def fetch(self, query) -> list[tuple]:
        sql, args = query.querystrings[0].compile_string(engine_type=self.engine_type)
        if self.sqlite:
            return self.conn.execute(sql, args).fetchall()
        return [tuple(r) for r in await self.conn.fetch(sql, *args)]

    async def has_rows(self) -> bool:
        """Whether the entity's table holds any row (seen from inside this transaction)."""
        table = self.table
        return bool(await self.fetch(table.select(table._meta.primary_key).limit(1)))

    async def insert_rows(self, rows: list[tuple], table: type[Table] | None = None,
                          columns: list[str] | None = None) -> None:
        """rows: tuples in `columns` order (default: every column but the primary key)."""
        table = table or self.table
        columns = columns or self.columns
        if not rows:
            return
        if self.sqlite:
            sql = _compiled(table.insert(_placeholder_row(table)), "sqlite")
            if columns != self._all_columns(table):
                # columns not given get their default, as COPY gives them on PostgreSQL (row version 1)
                positions = {name: i for i, name in enumerate(columns)}
                defaults = {c._meta.db_column_name: c.get_default_value() for c in table._meta.columns}
                rows = [tuple(r[positions[n]] if n in positions else defaults[n] for n in self._all_columns(table))
                        for r in rows]
            self.conn.executemany(sql, rows)
        else:
            await self.conn.copy_records_to_table(table._meta.tablename, records=rows, columns=columns)

    @staticmethod
    def _all_columns(table: type[Table]) -> list[str]:
        return [c._meta.db_column_name for c in table._meta.columns if c is not table._meta.primary_key]

    async def update_rows(self, updates: Iterable[tuple[int, dict[str, Any]]]) -> None:
        """One parameterised UPDATE per changed row, sent as executemany."""
        updates = list(updates)
        if not updates:
            return
        names = list(updates[0][1])
        pk = self.table._meta.primary_key
        version = self.table._meta.get_column_by_name(ROW_VERSION) if ROW_VERSION in self.columns else None
        bump = {version: version + 1} if version is not None else {}  # an upsert is a write: row version + 1
        sample = self.table.update({getattr(self.table, n): None for n in names} | bump, force=True).where(pk == 0)
        sql = _compiled(sample, self.engine_type)
        step = (1,) if bump else ()  # the bump's "+ 1" is a parameter too
        args = [tuple(values[n] for n in names) + step + (row_id,) for row_id, values in updates]
        if self.sqlite:
            self.conn.executemany(sql, args)
        else:
            await self.conn.executemany(sql, args)

    async def insert_one(self, table: type[Table], values: dict[str, Any]) -> int:
        query = table.insert(table(_ignore_missing=True, **values))
        sql, args = query.querystrings[0].compile_string(engine_type=self.engine_type)
        if self.sqlite:
            return self.conn.execute(sql, args).fetchone()[0]
        return await self.conn.fetchval(sql, *args)

    async def update_one(self, table: type[Table], row_id: int, values: dict[str, Any]) -> None:
        query = table.update({getattr(table, k): v for k, v in values.items()}, force=True).where(
            table._meta.primary_key == row_id)
        sql, args = query.querystrings[0].compile_string(engine_type=self.engine_type)
        if self.sqlite:
            self.conn.execute(sql, args)
        else:
            await self.conn.execute(sql, *args)


def key_text(value: Any) -> str:
    """One spelling of a key value whatever the driver returns (SQLite gives ISO text)."""
    if isinstance(value, (dt.datetime, dt.date)):
        return value.isoformat(sep=" ") if isinstance(value, dt.datetime) else value.isoformat()
    if isinstance(value, str) and len(value) >= 19 and value[10] == "T":
        return value.replace("T", " ", 1)
    return "" if value is None else str(value)
