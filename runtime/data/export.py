"""What an export of a screen writes, decided once for every export route.

- `export_columns`: the screen's `export_columns` when declared (in that order), else its list
  columns, without the fields the user may not see. The generated `/api/<entity>/export`,
  `/api/<entity>/export.xlsx|csv` (in the request or in the background), the CLI, bulk-query
  results and statistics exports all take their header from here.
- `sorted_batches`: the rows in the order the list shows them (`sort`, else the screen's sort,
  else the entity's order_by; the id breaks ties), read in keyset batches so a large export
  never uses OFFSET. Rows whose sort value is empty come after the others.
- `row_cell` / `csv_chunks` / `write_batches`: an item as the export writes it (the label of a
  dict or ref first), through the one spreadsheet writer (runtime.sheets.writer).
"""
from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import TYPE_CHECKING, Any

from specadmin.runtime.sheets.writer import SheetWriter

if TYPE_CHECKING:
    from specadmin.runtime.app.context import AppContext
    from specadmin.specs.model import Screen

EXPORT_BATCH = 1000
SORT_KEY = "specadmin_sort"  # alias of the raw sort value carried on each row; no field is named so


def export_columns(ctx: AppContext, screen: Screen, visible: set[str] | None = None) -> list[dict[str, Any]]:
    """The columns (the screens' column dicts: name, label, type, ...) an export of `screen` writes."""
    spec = ctx.screens[screen.name]
    if not screen.export_columns:
        columns = list(spec["list"])
    else:
        known: dict[str, dict] = {}
        for section in ("filters", "form", "detail", "list"):  # the list's dict wins
            known.update({c["name"]: c for c in spec.get(section, [])})
        entity = ctx.app.entity(screen.entity)
        columns = []
        for name in screen.export_columns:
            column = known.get(name)
            if column is None and entity.has_field(name):
                f = entity.field(name)
                column = {"name": f.name, "label": f.label, "type": f.type}
                if f.type == "ref" and f.key:
                    column["key"] = f.key
            if column is not None:  # a path that is no field of the entity has no value in a row
                columns.append(column)
    if visible is not None:
        columns = [c for c in columns if c["name"].split(".")[0] in visible]
    return columns


def row_cell(item: dict[str, Any], column: dict[str, Any]) -> Any:
    """An item's value for a column as exports write it: the label of a dict or ref first (a business
    key is written as itself, so the export can be imported again)."""
    name = column["name"]
    if f"{name}_keys" in item and column.get("type") == "multi_ref":  # the targets' business keys (`by:`)
        return item[f"{name}_keys"]
    label = None if column.get("key") else item.get(f"{name}_label")
    return label if label is not None else item.get(name)


def row_values(item: dict[str, Any], columns: list[dict[str, Any]]) -> list[Any]:
    return [row_cell(item, c) for c in columns]


def sorted_batches(table, select: list, where: Any, column, ascending: bool,
                   convert: Callable[[list[dict]], Any], batch: int | None = None) -> AsyncIterator[list[dict]]:
    """Every row matching `where`, ordered by `column` (then the id, same direction), `batch` at a time.

    Keyset paging: after the last row (v, id) the next batch starts at column > v, or column = v and
    id > id (< for descending). Empty sort values cannot be compared, so they follow in a second pass
    ordered by id. `convert` turns raw rows into items (RowShape.convert)."""
    pk = table._meta.primary_key
    by_id = column._meta.name == pk._meta.name
    batch = batch or EXPORT_BATCH

    def query(*conditions):
        q = table.select(*select, column.as_alias(SORT_KEY)).limit(batch)
        if not by_id:
            q = q.order_by(column, ascending=ascending)
        q = q.order_by(pk, ascending=ascending)
        for c in (where, *conditions):
            if c is not None:
                q = q.where(c)
        return q

    def after_id(last_id):
        return pk > last_id if ascending else pk < last_id

    async def run() -> AsyncIterator[list[dict]]:
        last = None
        passes = [None] if by_id else ["values", "empty"]
        for phase in passes:
            last = None
            while True:
                if phase is None:
                    rows = await (query(after_id(last)) if last is not None else query())
                elif phase == "values":
                    if last is None:
                        rows = await query(column.is_not_null())
                    else:
                        v, i = last
                        beyond = column > v if ascending else column < v
                        rows = await query(column.is_not_null(), beyond | ((column == v) & after_id(i)))
                else:
                    rows = await (query(column.is_null(), after_id(last)) if last is not None
                                  else query(column.is_null()))
                if not rows:
                    break
                tail = rows[-1]
                last = (tail[SORT_KEY], tail["id"]) if phase == "values" else tail["id"]
                for r in rows:
                    r.pop(SORT_KEY, None)
                yield await convert(rows)
                if len(rows) < batch:
                    break

    return run()


async def write_batches(writer: SheetWriter, columns: list[dict], batches: AsyncIterator[list[dict]],
                        progress: Callable[[int], Any] | None = None) -> int:
    """Write every item of `batches` to `writer`; returns the count of data rows."""
    async for items in batches:
        writer.rows(row_values(item, columns) for item in items)
        if progress:
            progress(writer.count)
    return writer.count


async def csv_chunks(columns: list[dict], batches: AsyncIterator[list[dict]]) -> AsyncIterator[bytes]:
    """A csv export as a stream: the header (with the BOM) first, then one chunk per batch."""
    writer = SheetWriter(None, "csv", [c["label"] for c in columns])
    yield writer.drain()
    async for items in batches:
        writer.rows(row_values(item, columns) for item in items)
        yield writer.drain()
    writer.close()
