"""Statistics screens: grouped counts and sums over a period, inside the user's data scope."""
from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any

from litestar import Request, get
from piccolo.query.functions.aggregate import Avg, Count, Max, Min, Sum
from piccolo.query.functions.base import Function
from piccolo.querystring import QueryString

from .errors import BadRequest, Denied, NotFound
from .queries import filter_conditions
from .rows import RowShape, json_value
from .scope import scopes_condition
from .where import combine_and

if TYPE_CHECKING:
    from .context import AppContext

MAX_GROUPS = 20000


class DateOf(Function):
    """`date(x)`: the calendar day of a timestamp, in SQLite and PostgreSQL alike."""

    function_name = "date"


AGGREGATES = {"count": Count, "sum": Sum, "avg": Avg, "min": Min, "max": Max}


class StatsService:
    def __init__(self, ctx: "AppContext"):
        self.ctx = ctx

    async def run(self, request: Request, screen_name: str, date_from: dt.date | None, date_to: dt.date | None,
                  filters: dict[str, Any] | None = None) -> dict[str, Any]:
        ctx = self.ctx
        try:
            screen = ctx.app.screen(screen_name)
        except KeyError:
            raise NotFound(f"没有名为 {screen_name} 的统计") from None
        if screen.stat is None:
            raise NotFound(f"{screen.label} 不是统计页面")
        principal = request.user
        grant = principal.grant(screen.name)
        if not grant or "list" not in grant.actions:
            raise Denied()
        stat = screen.stat
        entity = ctx.app.entity(screen.entity)
        table = ctx.table(entity.name)
        today = dt.date.today()
        date_to = date_to or today
        date_from = date_from or date_to - dt.timedelta(days=stat.default_days - 1)
        if date_from > date_to:
            raise BadRequest("开始日期不能晚于结束日期")
        parts = [scopes_condition(ctx, entity.name, grant.scopes, principal)]
        if stat.period:
            column = getattr(table, stat.period)
            start, end = date_from, date_to + dt.timedelta(days=1)
            if entity.field(stat.period).type == "datetime":
                start, end = dt.datetime.combine(start, dt.time.min), dt.datetime.combine(end, dt.time.min)
            parts += [column >= start, column < end]
        parts += filter_conditions(ctx, entity, table, {k: v for k, v in (filters or {}).items() if k in screen.filters})
        where = combine_and(parts)
        select: list[Any] = []
        group: list[Any] = []
        names: list[str] = []
        for g in stat.group_by:
            if g.startswith("date("):
                select.append(DateOf(getattr(table, g[5:-1]), alias="day"))
                group.append(QueryString("date({})", getattr(table, g[5:-1])))
                names.append("day")
            else:
                select.append(getattr(table, g))
                group.append(getattr(table, g))
                names.append(g)
        for m in stat.measures:
            agg = AGGREGATES[m.agg]
            select.append(agg(alias=m.name) if m.agg == "count" else agg(getattr(table, m.field), alias=m.name))
        query = table.select(*select).group_by(*group)
        if where is not None:
            query = query.where(where)
        rows = await query.limit(MAX_GROUPS + 1)
        if len(rows) > MAX_GROUPS:
            raise BadRequest(f"统计结果超过 {MAX_GROUPS} 行，请缩小查询范围")
        items = await self._decorate(entity, screen, rows, names)
        items.sort(key=lambda r: tuple(str(r.get(n) or "") for n in names))
        return {"items": items, "total": len(items), "date_from": date_from.isoformat(), "date_to": date_to.isoformat()}

    async def _decorate(self, entity, screen, rows: list[dict], names: list[str]) -> list[dict]:
        """Add the declared columns (paths through the first group key) to each group row."""
        ctx = self.ctx
        stat = screen.stat
        out = [{k: json_value(v) for k, v in r.items()} for r in rows]
        key_name = names[0]
        key_field = entity.field(key_name) if entity.has_field(key_name) else None
        if key_field and key_field.type == "ref" and stat.columns:
            shape = RowShape(ctx, ctx.app.entity(key_field.to), None)
            target = ctx.table(key_field.to)
            key_col = getattr(target, key_field.key) if key_field.key else target._meta.primary_key
            keys = sorted({r[key_name] for r in rows if r.get(key_name) is not None})
            found = {}
            if keys:
                raw = await target.select(*shape.columns).where(key_col.is_in(keys))
                for item in await shape.convert(raw, False):
                    found[item[key_field.key or "id"]] = item
            for r in out:
                hit = found.get(r[key_name], {})
                for col in stat.columns:
                    sub = col.split(".", 1)[1] if "." in col else col
                    r[col] = hit.get(sub)
                    if f"{sub}_label" in hit:
                        r[f"{col}_label"] = hit[f"{sub}_label"]
                if hit:
                    r[f"{key_name}_label"] = hit.get(ctx.app.entity(key_field.to).display)
        return out


@get("/api/stats/{screen:str}", tags=["统计"], summary="统计查询")
async def stats_endpoint(request: Request, screen: str, date_from: dt.date | None = None,
                         date_to: dt.date | None = None) -> dict[str, Any]:
    filters = {k: v for k, v in request.query_params.items() if k not in ("date_from", "date_to")}
    return await request.app.state.stats.run(request, screen, date_from, date_to, filters)


STATS_HANDLERS = [stats_endpoint]
