"""The keys a file has had so far, for its in-file duplicate check, in bounded memory.

One 64-bit hash per row (a false match needs a 64-bit collision), in a Python set while the file
is small; a set costs ~80 bytes a row, so past MEMORY_ROWS the hashes move into a table on the
import's own connection (the attached staging database on SQLite, a temporary table on
PostgreSQL; both go with the connection) and each later chunk is checked there with one query.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from piccolo.columns import BigInt
from piccolo.table import Table, create_table_class

from specadmin.runtime.imports.bulk import STAGE, _compiled, _ddl

if TYPE_CHECKING:
    from specadmin.runtime.imports.bulk import BulkWriter

MEMORY_ROWS = 200_000  # ~16 MB of set; beyond it the hashes live in the database

_TABLES: dict[tuple, type[Table]] = {}  # built once per (schema, engine): Piccolo keeps every Table class


def _seen_table(schema: str, db) -> type[Table]:
    key = (schema, id(db))
    if key not in _TABLES:
        _TABLES[key] = create_table_class("ImportSeenKey", class_kwargs={"tablename": "import_seen_key",
                                                                         "schema": schema, "db": db},
                                          class_members={"digest": BigInt(primary_key=True)})
    return _TABLES[key]


class SeenKeys:
    def __init__(self, writer: BulkWriter):
        self.writer = writer
        self.memory: set[int] = set()
        self.table: type[Table] | None = None  # set once the hashes moved to the database

    async def repeats(self, keys: list[tuple]) -> list[bool]:
        """For each key in file order: True when an earlier row of the file had it."""
        digests = [hash(k) for k in keys]
        if not digests:
            return []
        if self.table is None:
            memory, out = self.memory, []
            for d in digests:
                out.append(d in memory)
                memory.add(d)
            if len(memory) > MEMORY_ROWS:
                await self._spill()
            return out
        table = self.table
        stored = {r[0] for r in await self.writer.fetch(table.select(table.digest).where(
            table.digest.is_in(list(set(digests)))))}
        out, new = [], set()
        for d in digests:
            out.append(d in stored or d in new)
            new.add(d)
        await self._store(list(new - stored))
        return out

    async def _spill(self) -> None:
        writer = self.writer
        # PostgreSQL: a table of the schema pg_temp is the session's temporary table.
        self.table = _seen_table(STAGE if writer.sqlite else "pg_temp", writer.table._meta.db)
        for ddl in _ddl(self.table):
            if writer.sqlite:
                writer.conn.execute(ddl)
            elif ddl.startswith("CREATE TABLE"):  # not Piccolo's CREATE SCHEMA: pg_temp is no schema to create
                await writer.conn.execute(ddl)
        await self._store(list(self.memory))
        self.memory = set()

    async def _store(self, digests: list[int]) -> None:
        if not digests:
            return
        if self.writer.sqlite:
            row = self.table.__new__(self.table)
            Table.__init__(row, _ignore_missing=True, digest=0)
            sql = _compiled(self.table.insert(row), "sqlite")
            self.writer.conn.executemany(sql, [(d,) for d in digests])
        else:
            await self.writer.conn.copy_records_to_table(self.table._meta.tablename, schema_name="pg_temp",
                                                         records=[(d,) for d in digests], columns=["digest"])
