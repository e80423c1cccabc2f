"""The import's duplicate probe: which of a chunk's keys the table already holds, one index seek per key.

SQLite compares the key as one row value, `(k1, k2, k3) IN (SELECT ...)`, against the chunk's keys
staged in a table of the attached staging database; PostgreSQL looks each key of typed arrays
(`unnest`) up in a LATERAL subquery. Either walks the keys and seeks each in the index on the
key's columns (specs/physical.py import_key_indexes). Narrowing each key column with its own
IN list instead let SQLite pick one column's index and read the cross product of the lists: 2.08 s
for a 2,000-key probe of a 1M-row table that held none of them (issue 14); measured on the
bench's 1M scan rows, 5,000 new keys took 1,110 ms that way and take 12 ms this way (PostgreSQL
without statistics yet: a sequential scan of 1,451 ms, now 19 ms).

Statements come from Piccolo query builders; the only SQL text written here joins identifiers and
column types taken from the schema. Values are always parameters.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from piccolo.columns.combination import WhereRaw
from piccolo.querystring import QueryString
from piccolo.table import Table

from specadmin.runtime.imports.bulk import _compiled, _ddl, _placeholder_row, _staged_copy

if TYPE_CHECKING:
    from specadmin.runtime.imports.bulk import BulkWriter


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
            found += await self.writer.fetch(self.query(present, group))
        return found

    def query(self, present: tuple[int, ...], keys: list[tuple]) -> QueryString:
        """The SELECT of the stored rows matching `keys` on the key columns numbered `present`."""
        table = self.table
        names = [self.cols[i] for i in present]
        keys = [tuple(k[i] for i in present) for k in keys]
        select = table.select(table._meta.primary_key, *[getattr(table, c) for c in self.cols])
        full = [getattr(table, n)._meta.get_full_name(with_alias=False) for n in names]
        if self.writer.sqlite:
            return select.where(WhereRaw(f"({', '.join(full)}) IN ({{}})", self._staged(names, keys))).querystrings[0]
        # PostgreSQL: one index lookup per key, forced: OFFSET 0 keeps the planner from flattening the
        # LATERAL into a join it may plan from statistics older than the rows (after a bulk load,
        # `(k) IN (SELECT * FROM unnest(...))` imported 1,940 rows/s into 1M rows; this 14,047).
        on = " AND ".join(f'{c} = "k"."c{i}"' for i, c in enumerate(full))
        inner = select.where(WhereRaw(on)).querystrings[0]
        casts = ", ".join("{}::" + getattr(table, n).column_type + "[]" for n in names)
        aliases = ", ".join(f"c{i}" for i in range(len(names)))
        sql = f'SELECT "t".* FROM unnest({casts}) AS "k"({aliases}) CROSS JOIN LATERAL ({{}} OFFSET 0) AS "t"'
        return QueryString(sql, *[list(column) for column in zip(*keys)], inner)

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
        conn.executemany(_compiled(staged.insert(_placeholder_row(staged)), "sqlite"),
                         [tuple(None if p is None else key[p] for p in positions) for key in keys])
        return staged.select(*[getattr(staged, n) for n in names]).querystrings[0]
