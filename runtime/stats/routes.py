"""Statistics screens: grouped measures over a period, inside the user's data scope.

`StatsService.run` checks the grant, builds the rows' condition (scope, period, filters) and
hands it to `stats_query.StatQuery` (grouping, measures, sort, paging and totals in SQL).
Endpoints: `GET /api/stats/<screen>` (JSON), `GET /api/stats/<screen>/chart` (the chart's bars over
every counted row, runtime/stats/chart.py), exports in runtime/stats/export.py, big-screen
feeds in runtime/stats/bigscreen.py; their query parameters are read by runtime/stats/params.py.
"""
from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any

from litestar import Request, get

from specadmin.runtime.errors import BadRequest, Denied, NotFound
from specadmin.runtime.data.queries import filter_conditions, screen_where
from specadmin.runtime.data.rows import RowShape, json_value
from specadmin.runtime.data.values import DATE_RANGE_PROBLEM, date_in_range
from specadmin.runtime.security.levels import level_condition
from specadmin.runtime.security.scope import scopes_condition
from specadmin.runtime.stats.params import stat_params
from specadmin.runtime.stats.query import MAX_GROUPS, StatQuery, scope_for
from specadmin.runtime.data.where import combine_and

if TYPE_CHECKING:
    from specadmin.runtime.app.context import AppContext

__all__ = ["STATS_HANDLERS", "StatsService"]


class StatsService:
    def __init__(self, ctx: AppContext):
        self.ctx = ctx

    def screen(self, principal, screen_name: str, action: str = "list"):
        """The stat screen and the user's grant on it (404 unknown, 403 without `action`)."""
        try:
            screen = self.ctx.app.screen(screen_name)
        except KeyError:
            raise NotFound(f"没有名为 {screen_name} 的统计") from None
        if screen.stat is None:
            raise NotFound(f"{screen.label} 不是统计页面")
        grant = principal.grant(screen.name) if principal is not None else None
        if not grant or "list" not in grant.actions or action not in grant.actions:
            raise Denied()
        return screen, grant

    def period(self, screen, date_from: dt.date | None, date_to: dt.date | None) -> tuple[dt.date, dt.date]:
        for name, value in (("date_from", date_from), ("date_to", date_to)):
            if value is not None and not date_in_range(value):  # the period is widened by days below
                raise BadRequest(f"参数 {name} 超出范围：{DATE_RANGE_PROBLEM}")
        date_to = date_to or dt.date.today()
        date_from = date_from or date_to - dt.timedelta(days=screen.stat.default_days - 1)
        if date_from > date_to:
            raise BadRequest("开始日期不能晚于结束日期")
        return date_from, date_to

    def query(self, request: Request, screen_name: str, date_from: dt.date | None, date_to: dt.date | None,
              filters: dict[str, Any] | None = None, action: str = "list",
              level: str | None = None) -> tuple[StatQuery, dt.date, dt.date]:
        """The statistic over the rows the user may count (scope, period, filters), and the period."""
        ctx, principal = self.ctx, request.user
        screen, grant = self.screen(principal, screen_name, action)
        stat, entity = screen.stat, ctx.app.entity(screen.entity)
        table = ctx.table(entity.name)
        date_from, date_to = self.period(screen, date_from, date_to)
        parts = [scopes_condition(ctx, entity.name, grant.scopes, principal), screen_where(table, screen),
                 level_condition(ctx, entity.name, [screen], level, principal)]  # 本级 / 下级 narrow it
        if stat.period:
            column = getattr(table, stat.period)
            start, end = date_from, date_to + dt.timedelta(days=1)
            if entity.field(stat.period).type == "datetime":
                start, end = dt.datetime.combine(start, dt.time.min), dt.datetime.combine(end, dt.time.min)
            parts += [column >= start, column < end]
        parts += filter_conditions(ctx, entity, table, {k: v for k, v in (filters or {}).items() if k in screen.filters})
        return StatQuery(ctx, screen, combine_and(parts), scope_for(ctx, grant, principal)), date_from, date_to

    async def chart(self, request: Request, screen_name: str, date_from: dt.date | None, date_to: dt.date | None,
                    filters: dict[str, Any] | None = None, level: str | None = None) -> dict[str, Any] | None:
        """The statistic's chart over every counted row (runtime/stats/chart.py); None when nothing is counted."""
        from specadmin.runtime.stats.chart import chart_data

        query, date_from, date_to = self.query(request, screen_name, date_from, date_to, filters, level=level)
        return await chart_data(self, screen_name, query, date_from, date_to)

    async def run(self, request: Request, screen_name: str, date_from: dt.date | None, date_to: dt.date | None,
                  filters: dict[str, Any] | None = None, *, page: int = 1, page_size: int | None = None,
                  sort: str | None = None, action: str = "list", level: str | None = None) -> dict[str, Any]:
        """One page of groups (all groups when page_size is None), the group count and the totals."""
        query, date_from, date_to = self.query(request, screen_name, date_from, date_to, filters, action, level)
        total = await query.count_groups()
        size = max(1, min(page_size or MAX_GROUPS, MAX_GROUPS))
        page = max(1, page)
        rows = await query.page(page, size, sort) if total else []
        items = await self._decorate(query, rows)
        totals = {k: json_value(v) for k, v in (await query.totals()).items()}
        if query.stat.compare:  # 环比 / 同比: the same statistic over the shifted period (runtime/stats/compare.py)
            from specadmin.runtime.stats import compare

            await compare.add(self, request, screen_name, query, items, totals, date_from, date_to, filters,
                              action, level)
        return {"items": items, "total": total, "totals": totals, "page": page, "page_size": size,
                "date_from": date_from.isoformat(), "date_to": date_to.isoformat()}

    def drill_links(self, spec, columns: list[dict[str, Any]], date_from: dt.date, date_to: dt.date,
                    echo: list[tuple[str, str]]):
        """item (None: 合计) → the drill-down URL of each column's cell, or None (runtime/stats/drill.py)."""
        from specadmin.runtime.stats.drill import cell_url, drillable

        if not spec.stat.drill:
            return lambda item: None
        measures = {m.name for m in spec.stat.measures if drillable(m)}
        return lambda item: [cell_url(spec, item, c["name"], date_from, date_to, echo) if c["name"] in measures
                             else None for c in columns]

    async def _decorate(self, query: StatQuery, rows: list[dict]) -> list[dict]:
        """Labels of ref, dict and computed keys (`<key>_label`) and the declared columns (paths through
        the first key)."""
        ctx, stat = self.ctx, query.stat
        out = [{k: json_value(v) for k, v in r.items()} for r in rows]
        for i, dim in enumerate(query.dims):
            f = dim.field
            if not dim.fn and (f.type == "dict" or f.codes or dim.computed):  # a dict key's label (a60 → 60岁及以上)
                for r in out:  # a computed band's value is its label already
                    if dim.key in r:
                        r[f"{dim.key}_label"] = r[dim.key] if dim.computed else ctx.dict_label(f.dict or f.codes, r[dim.key])
                continue
            if dim.fn or f.type != "ref" or not rows or dim.key not in rows[0]:
                continue  # (a chart's rows carry only its axis key)
            target_entity = ctx.app.entity(f.to)
            target = ctx.table(f.to)
            key_col = getattr(target, f.key) if f.key else target._meta.primary_key
            keys = sorted({r[dim.key] for r in rows if r.get(dim.key) is not None})
            columns = [c for c in stat.columns if i == 0 and c.split(".")[0] == dim.key.split(".")[0]]
            shape = RowShape(ctx, target_entity, None)
            found = {}
            if keys:
                raw = await target.select(*shape.columns).where(key_col.is_in(keys))
                for item in await shape.convert(raw, False):
                    found[item[f.key or "id"]] = item
            for r in out:
                hit = found.get(r[dim.key], {})
                if hit:
                    r[f"{dim.key}_label"] = hit.get(target_entity.display)
                for col in columns:
                    sub = col.split(".", 1)[1] if "." in col else col
                    r[col] = hit.get(sub)
                    if f"{sub}_label" in hit:
                        r[f"{col}_label"] = hit[f"{sub}_label"]
        return out


@get("/api/stats/{screen:str}", tags=["统计"], summary="统计查询")
async def stats_endpoint(request: Request, screen: str, date_from: dt.date | None = None,
                         date_to: dt.date | None = None) -> dict[str, Any]:
    p = stat_params(request, screen)
    return await request.app.state.stats.run(request, screen, date_from, date_to, p["filters"], page=p["page"],
                                             page_size=p["page_size"], sort=p["sort"], level=p["level"])


@get("/api/stats/{screen:str}/chart", tags=["统计"], summary="统计图表数据（按图表横轴汇总全部结果）")
async def stats_chart_endpoint(request: Request, screen: str, date_from: dt.date | None = None,
                               date_to: dt.date | None = None) -> dict[str, Any]:
    p = stat_params(request, screen)
    chart = await request.app.state.stats.chart(request, screen, date_from, date_to, p["filters"], level=p["level"])
    return {"chart": chart}


def _handlers() -> list:
    from specadmin.runtime.stats.bigscreen import BIGSCREEN_HANDLERS
    from specadmin.runtime.stats.export import EXPORT_HANDLERS

    return [stats_endpoint, stats_chart_endpoint, *EXPORT_HANDLERS, *BIGSCREEN_HANDLERS]


STATS_HANDLERS = _handlers()
