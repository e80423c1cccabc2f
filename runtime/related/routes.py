"""Related lists on detail pages (screen key `related:`), e.g. the seven days of a “扫码”预警, charted
with reference lines from the shown row's own fields (`chart.lines`, e.g. the threshold crossed).

The child rows are reached only through a parent row the user may read on that screen (the
parent is fetched with the screen's grant and scope first), so they need no grant of their own.
"""
from __future__ import annotations

import json
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any

from litestar import Request, get

from specadmin.runtime.errors import NotFound
from specadmin.runtime.data.rows import RowShape
from specadmin.runtime.data.where import matches

if TYPE_CHECKING:
    from specadmin.specs.model import Related

    from specadmin.runtime.app.context import AppContext

MAX_RELATED_ROWS = 1000


async def related_rows(ctx: "AppContext", rel: "Related", parent_id: int) -> dict[str, Any]:
    """{name, label, columns: [{name, label}], items, truncated, chart (JSON for charts.js or None)}."""
    entity = ctx.app.entity(rel.entity)
    table = ctx.table(rel.entity)
    shape = RowShape(ctx, entity, set(rel.columns))
    sort = rel.sort or entity.order_by
    order_col = getattr(table, sort.lstrip("-")) if sort and entity.has_field(sort.lstrip("-")) else table._meta.primary_key
    rows = await (table.select(*shape.columns).where(getattr(table, rel.via) == parent_id)
                  .order_by(order_col, ascending=not (sort or "").startswith("-")).limit(MAX_RELATED_ROWS + 1))
    items = await shape.convert(rows[:MAX_RELATED_ROWS], False)
    columns = [{"name": c, "label": entity.field(c).label, "type": entity.field(c).type} for c in rel.columns]
    chart = None
    if rel.chart is not None and items:
        chart = json.dumps(_chart(rel, entity, items, await _lines(ctx, rel, parent_id)), ensure_ascii=False)
    return {"name": rel.name, "label": rel.label, "columns": columns, "items": items,
            "truncated": len(rows) > MAX_RELATED_ROWS, "chart": chart}


def _chart(rel: "Related", entity, items: list[dict], lines: list[dict]) -> dict[str, Any]:
    x = rel.chart.x or rel.columns[0]
    series = rel.chart.series or tuple(c for c in rel.columns if c != x)[:1]
    return {
        "kind": rel.chart.type,
        "x": [str(i.get(f"{x}_label") or i.get(x) or "") for i in items],
        "series": [{"name": s, "label": entity.field(s).label, "data": [i.get(s) or 0 for i in items]} for s in series],
        "lines": lines,
    }


async def _lines(ctx: "AppContext", rel: "Related", parent_id: int) -> list[dict[str, Any]]:
    """The chart's reference lines: `[{label, value}]` from the parent row's fields, each whose
    `when` the parent row matches and whose value is set (e.g. the threshold an alert crossed)."""
    if not rel.chart.lines:
        return []
    parent = ctx.app.entity(ctx.app.entity(rel.entity).field(rel.via).to)
    wanted = {line.field for line in rel.chart.lines} | {k for line in rel.chart.lines for k in where_fields(line.when)}
    shape = RowShape(ctx, parent, wanted)
    raw = await ctx.table(parent.name).select(*shape.columns).where(ctx.table(parent.name)._meta.primary_key == parent_id)
    if not raw:
        return []
    row = (await shape.convert(raw, False))[0]
    out = []
    for line in rel.chart.lines:
        value = _number(row.get(line.field))
        if value is not None and matches(row, line.when):
            out.append({"label": line.label, "value": value})
    return out


def _number(value: Any) -> int | float | None:
    """A numeric field as read (decimals arrive as text) for the chart; None when unset."""
    if value is None or isinstance(value, bool):
        return None
    try:
        number = Decimal(str(value))
    except InvalidOperation:
        return None
    return int(number) if number == number.to_integral_value() else float(number)


def where_fields(clause: Any) -> set[str]:
    """The fields a where clause reads (through `or` / `and`)."""
    out: set[str] = set()
    for key, cond in (clause or {}).items():
        if key in ("or", "and"):
            for part in cond:
                out |= where_fields(part)
        else:
            out.add(key)
    return out


async def related_for(request: Request, screen_name: str, row_id: int, *, read_checked: bool = False) -> list[dict[str, Any]]:
    """Every related list of the screen for a row the user may read there (404 otherwise);
    `read_checked`: the caller has just read the row through the screen's grant and scope."""
    ctx = request.app.state.ctx
    try:
        screen = ctx.app.screen(screen_name)
    except KeyError:
        raise NotFound(f"没有名为 {screen_name} 的页面") from None
    # The row must be readable on this screen first, whether or not the screen has related lists.
    if not read_checked:
        await request.app.state.services[screen.entity].get(request, row_id, screen=screen_name)
    return [await related_rows(ctx, rel, row_id) for rel in screen.related]


@get("/api/related/{screen:str}/{row_id:int}", tags=["详情"], summary="详情页的关联明细")
async def related_endpoint(request: Request, screen: str, row_id: int) -> dict[str, Any]:
    lists = await related_for(request, screen, row_id)
    return {"related": [{k: v for k, v in r.items() if k != "chart"} for r in lists]}


RELATED_HANDLERS = [related_endpoint]
