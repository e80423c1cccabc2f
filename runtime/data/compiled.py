"""Piccolo INSERT statements compiled once to SQL text with parameter placeholders, for the bulk
write routes (imports: runtime/imports/bulk.py; rules: runtime/rules/common.py) that send many rows
through `executemany` or COPY instead of one ORM object per row. Values are never in the text."""
from __future__ import annotations

from piccolo.table import Table


def compiled(query, engine_type: str) -> str:
    """The SQL text of a Piccolo query's first statement, without RETURNING (executemany cannot
    return rows)."""
    sql, _ = query.querystrings[0].compile_string(engine_type=engine_type)
    return sql.rpartition(" RETURNING ")[0] or sql


def placeholder_row(table: type[Table]) -> Table:
    """A row object with every column but the primary key set, so the compiled INSERT names every column."""
    values = {c._meta.name: None for c in table._meta.columns if c is not table._meta.primary_key}
    row = table.__new__(table)
    Table.__init__(row, _ignore_missing=True, **values)
    return row
