"""The import's duplicate probe: which of a chunk's keys the table already holds, one index seek per key.

SQLite compares the key as one row value, `(k1, k2, k3) IN (SELECT ...)`, against the chunk's keys
staged in a table of the attached staging database; PostgreSQL looks each key, copied into a
temporary table of the import's connection, up in a LATERAL subquery. Either walks the keys and seeks each in the index on the
key's columns (specs/physical.py import_key_indexes). Narrowing each key column with its own
IN list instead let SQLite pick one column's index and read the cross product of the lists: 2.08 s
for a 2,000-key probe of a 1M-row table that held none of them (issue 14); measured on the
bench's 1M scan rows, 5,000 new keys took 1,110 ms that way and take 12 ms this way (PostgreSQL
without statistics yet: a sequential scan of 1,451 ms, now 19 ms).

Statements come from Piccolo query builders and a few reviewed constant templates whose placeholders
take Piccolo's own column and table names; values are always parameters.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from piccolo.columns.combination import WhereRaw
from piccolo.querystring import QueryString
from piccolo.table import Table

from specadmin.runtime.data.compiled import compiled, placeholder_row
from specadmin.runtime.imports.bulk import _ddl, _staged_copy

if TYPE_CHECKING:
    from specadmin.runtime.imports.bulk import BulkWriter


def _name(table: type[Table], column: str, engine: str) -> QueryString:
    """A column's qualified name as Piccolo writes it."""
    return getattr(table, column).get_select_string(engine, with_alias=False)


def _listed(names: list[QueryString]) -> QueryString:
    """`a, b, c`: column names for a row value."""
    out = names[0]
    for name in names[1:]:
        out = QueryString("{}, {}", out, name)
    return out


def _all_equal(pairs: list[tuple[QueryString, QueryString]]):
    """`a = x AND b = y ...` of two tables' columns."""
    out = None
    for left, right in pairs:
        part = WhereRaw("{} = {}", left, right)
        out = part if out is None else out & part
    return out


class KeyProbe:
    """Finds stored rows by the import key's columns (`cols`, physical names) over `writer`'s connection."""

    def __init__(self, writer: BulkWriter, cols: list[str]):
        self.writer, self.cols = writer, cols
        self.table = writer.table
        self.keys: type[Table] | None = None  # SQLite: the staging table of the probed keys

    async def find(self, keys: list[tuple]) -> list[tuple]:
        """Stored rows as (id, *key columns) whose key equals one of `keys` on every part that key has:
        a part that is None does not narrow (a stored NULL or '' may match it; the caller compares
        the key texts). A key without its first part matches nothing."""
        groups: dict[tuple[int, ...], list[tuple]] = {}
        for key in keys:
            present = tuple(i for i, v in enumerate(key) if v is not None)
            if present and present[0] == 0:
                groups.setdefault(present, []).append(key)
        found: list[tuple] = []
        for present, group in groups.items():
            found += await self.writer.fetch(await self.query(present, group))
        return found

    async def query(self, present: tuple[int, ...], keys: list[tuple]) -> QueryString:
        """The SELECT of the stored rows matching `keys` on the key columns numbered `present`."""
        table = self.table
        names = [self.cols[i] for i in present]
        keys = [tuple(k[i] for i in present) for k in keys]
        select = table.select(table._meta.primary_key, *[getattr(table, c) for c in self.cols])
        engine = self.writer.engine_type
        if self.writer.sqlite:
            return select.where(WhereRaw("({}) IN ({})", _listed([_name(table, n, engine) for n in names]),
                                         self._staged(names, keys))).querystrings[0]
        # PostgreSQL: one index lookup per key, forced: OFFSET 0 keeps the planner from flattening the
        # LATERAL into a join it may plan from statistics older than the rows (after a bulk load,
        # `(k) IN (SELECT ...)` imported 1,940 rows/s into 1M rows; this 14,047).
        staged = await self._staged_pg(names, keys)
        inner = select.where(_all_equal([(_name(table, n, engine), _name(staged, n, engine)) for n in names]))
        return QueryString('SELECT t.* FROM {} CROSS JOIN LATERAL ({} OFFSET 0) AS t',
                           QueryString(staged._meta.get_formatted_tablename()), inner.querystrings[0])

    async def _staged_pg(self, names: list[str], keys: list[tuple[Any, ...]]) -> type[Table]:
        """PostgreSQL: `keys` copied into a temporary table of the import's connection (gone with it)."""
        conn = self.writer.conn
        if self.keys is None:
            self.keys = _staged_copy(self.table, self.cols, f"{self.table._meta.tablename}_keys", schema="pg_temp")
            for ddl in _ddl(self.keys):
                if ddl.startswith("CREATE TABLE"):  # not Piccolo's CREATE SCHEMA: pg_temp is no schema to create
                    await conn.execute(ddl)
        sql, args = self.keys.delete(force=True).querystrings[0].compile_string(engine_type="postgres")
        await conn.execute(sql, *args)
        await conn.copy_records_to_table(self.keys._meta.tablename, schema_name="pg_temp", records=keys,
                                         columns=names)
        return self.keys

    def _staged(self, names: list[str], keys: list[tuple[Any, ...]]) -> QueryString:
        """SQLite: a SELECT of `keys` (values of the columns `names`) from the staging database."""
        conn = self.writer.conn
        if self.keys is None:
            self.keys = _staged_copy(self.table, self.cols, f"{self.table._meta.tablename}_keys")
            for ddl in _ddl(self.keys):
                conn.execute(ddl)
        staged = self.keys
        sql, args = staged.delete(force=True).querystrings[0].compile_string(engine_type="sqlite")
        conn.execute(sql, args)
        positions = [names.index(c) if c in names else None for c in self.cols]
        conn.executemany(compiled(staged.insert(placeholder_row(staged)), "sqlite"),
                         [tuple(None if p is None else key[p] for p in positions) for key in keys])
        return staged.select(*[getattr(staged, n) for n in names]).querystrings[0]
