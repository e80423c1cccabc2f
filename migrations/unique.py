"""Unique indexes of generated migrations: composite `unique:` sets and sensitive fields' blind indexes.

Piccolo's create_index has no UNIQUE; this is its CreateIndex with UNIQUE and a name of its own
(`uq_<table>_<columns>`, so it never clashes with a plain index over the same columns). Identifiers
come from the spec (names matching `[a-z][a-z0-9_]*`, checked again here) and are quoted; there are
no values. Before a migration adds such an index over rows that exist already, `refuse_duplicates`
looks for rows sharing the values and refuses the migration, naming them, before anything changes.
"""
from __future__ import annotations

import re
from collections.abc import Sequence

from piccolo.query.functions.aggregate import Count
from piccolo.query.methods.create_index import CreateIndex
from piccolo.query.methods.drop_index import DropIndex
from piccolo.querystring import QueryString
from piccolo.table import Table, create_table_class

from specadmin.migrations.apply import DestructiveRefused

NAME = re.compile(r"^[a-z][a-z0-9_]*$")
SHOWN = 10  # duplicate groups named in a refusal


class DuplicateRows(DestructiveRefused):
    """Rows already break a unique index the migration adds: refused like a destructive migration."""


def index_name(table: type[Table], columns: Sequence[str]) -> str:
    names = [table._meta.tablename, *columns]
    if not all(NAME.match(n) for n in names):
        raise ValueError(f"not a spec name: {names}")
    return "_".join(["uq", *names])


class _CreateUnique(CreateIndex):
    @property
    def prefix(self) -> str:
        return "CREATE UNIQUE INDEX IF NOT EXISTS"

    def _ddl(self) -> list[str]:
        columns = ", ".join(f'"{c}"' for c in self.column_names)
        tablename = self.table._meta.get_formatted_tablename()
        return [f"{self.prefix} {index_name(self.table, self.column_names)} ON {tablename} ({columns})"]

    @property
    def postgres_ddl(self) -> Sequence[str]:
        return self._ddl()

    @property
    def sqlite_ddl(self) -> Sequence[str]:
        return self._ddl()


class _DropUnique(DropIndex):
    @property
    def default_querystrings(self) -> Sequence[QueryString]:
        return [QueryString(f"DROP INDEX IF EXISTS {index_name(self.table, self.column_names)}")]


async def create_unique_index(table: type[Table], columns: list[str]) -> None:
    await _CreateUnique(table=table, columns=columns, if_not_exists=True)


async def drop_unique_index(table: type[Table], columns: list[str]) -> None:
    await _DropUnique(table=table, columns=columns, if_exists=True)


async def duplicates(table: type[Table], columns: list[str], limit: int = SHOWN) -> list[dict]:
    """Groups of rows sharing every column's value (empty values never clash): values, count, first ids."""
    from piccolo.columns import Serial, Varchar

    probe = create_table_class(f"{table.__name__}Probe", class_kwargs={"tablename": table._meta.tablename,
                                                                       "db": table._meta.db},
                               class_members={"id": Serial(primary_key=True), **{c: Varchar() for c in columns}})
    cols = [getattr(probe, c) for c in columns]
    pk = probe._meta.primary_key
    table = probe
    query = (table.select(*cols, Count(alias="n")).where(*[c.is_not_null() for c in cols])
             .group_by(*cols).having(Count() > 1).limit(limit))
    groups = await query
    out = []
    for group in groups:
        ids = await table.select(pk).where(*[c == group[c._meta.name] for c in cols]).order_by(pk).limit(5)
        out.append({"values": [group[c._meta.name] for c in cols], "count": group["n"], "ids": [r["id"] for r in ids]})
    return out


async def refuse_duplicates(table: type[Table], columns: list[str]) -> None:
    found = await duplicates(table, columns)
    if found:
        lines = [f"  ({', '.join(map(str, g['values']))}): {g['count']} rows, ids {', '.join(map(str, g['ids']))}"
                 + (" ..." if g["count"] > len(g["ids"]) else "") for g in found]
        raise DuplicateRows(
            f"cannot add the unique index on {table._meta.tablename}({', '.join(columns)}): rows share values "
            f"(first {len(found)} groups shown; a blind index stands for a sensitive value)\n" + "\n".join(lines)
            + "\nfix or delete the duplicates, then run `specadmin migrate` again")
