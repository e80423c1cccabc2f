"""The keys a file has had so far, for its in-file duplicate check, in bounded memory.

One 64-bit hash per row (a false match needs a 64-bit collision), in a Python set while the file
is small; a set costs ~80 bytes a row, so past MEMORY_ROWS the hashes move into a table on the
import's own connection (the attached staging database on SQLite, a temporary table on
PostgreSQL; both go with the connection) and each later chunk is checked there with one query.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from piccolo.columns import BigInt
from piccolo.columns.combination import WhereRaw
from piccolo.table import Table, create_table_class

from specadmin.runtime.data.compiled import compiled
from specadmin.runtime.imports.bulk import STAGE, _ddl

if TYPE_CHECKING:
    from specadmin.runtime.imports.bulk import BulkWriter

MEMORY_ROWS = 200_000  # ~16 MB of set; beyond it the hashes live in the database

_TABLES: dict[tuple, type[Table]] = {}  # built once per (name, schema, engine): Piccolo keeps every Table class


def _digest_table(name: str, schema: str, db) -> type[Table]:
    key = (name, schema, id(db))
    if key not in _TABLES:
        _TABLES[key] = create_table_class("".join(p.capitalize() for p in name.split("_")),
                                          class_kwargs={"tablename": name, "schema": schema, "db": db},
                                          class_members={"digest": BigInt(primary_key=True)})
    return _TABLES[key]


def _insert_sql(table: type[Table]) -> str:
    row = table.__new__(table)
    Table.__init__(row, _ignore_missing=True, digest=0)
    return compiled(table.insert(row), "sqlite")


class SeenKeys:
    def __init__(self, writer: BulkWriter):
        self.writer = writer
        self.memory: set[int] = set()
        self.table: type[Table] | None = None  # set once the hashes moved to the database
        self.sql: dict[str, Any] = {}  # SQLite: the statements of a chunk, compiled once

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
        stored = await self._stored(set(digests))
        out, new = [], set()
        for d in digests:
            out.append(d in stored or d in new)
            new.add(d)
        await self._store(list(new - stored))
        return out

    async def _stored(self, digests: set[int]) -> set[int]:
        """Those of `digests` the table holds. The values go in as one array (PostgreSQL) or through
        a staged chunk table (SQLite): a 5,000-value IN list built by Piccolo cost ~15 µs a key."""
        if self.writer.sqlite:
            conn, sql = self.writer.conn, self.sql
            conn.execute(*sql["clear"])
            conn.executemany(sql["insert_chunk"], [(d,) for d in digests])
            return {r[0] for r in conn.execute(*sql["stored"])}
        table = self.table
        query = table.select(table.digest).where(WhereRaw(
            "{} = ANY({}::BIGINT[])", table.digest.get_select_string("postgres", with_alias=False), list(digests)))
        return {r[0] for r in await self.writer.fetch(query)}

    async def _spill(self) -> None:
        writer = self.writer
        db = writer.table._meta.db
        # PostgreSQL: a table of the schema pg_temp is the session's temporary table.
        self.table = _digest_table("import_seen_key", STAGE if writer.sqlite else "pg_temp", db)
        if writer.sqlite:
            table = self.table
            chunk = _digest_table("import_seen_chunk", STAGE, db)
            for ddl in _ddl(table) + _ddl(chunk):
                writer.conn.execute(ddl)
            stored = table.select(table.digest).where(table.digest.is_in(chunk.select(chunk.digest)))
            self.sql = {"clear": chunk.delete(force=True).querystrings[0].compile_string(engine_type="sqlite"),
                        "insert_chunk": _insert_sql(chunk), "insert": _insert_sql(table),
                        "stored": stored.querystrings[0].compile_string(engine_type="sqlite")}
        else:
            for ddl in _ddl(self.table):
                if ddl.startswith("CREATE TABLE"):  # not Piccolo's CREATE SCHEMA: pg_temp is no schema to create
                    await writer.conn.execute(ddl)
        await self._store(list(self.memory))
        self.memory = set()

    async def _store(self, digests: list[int]) -> None:
        if not digests:
            return
        if self.writer.sqlite:
            self.writer.conn.executemany(self.sql["insert"], [(d,) for d in digests])
        else:
            await self.writer.conn.copy_records_to_table(self.table._meta.tablename, schema_name="pg_temp",
                                                         records=[(d,) for d in digests], columns=["digest"])
