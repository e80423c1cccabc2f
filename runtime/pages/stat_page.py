"""The statistics page (GET /s/<stat screen>): period and filters, a chart, the table paged in SQL,
the 合计 row from SQL totals, and export links for users with the `export` grant.

The chart (`stat.chart`, default a bar of the first measure by the first group key) covers every
counted row, aggregated along its axis in SQL (runtime/stats/chart.py), not only the table's page;
static/charts.js draws it with ECharts when scripts/setup.sh installed it; the table is always there.
"""
from __future__ import annotations

import datetime as dt
import json
import math
from typing import Any

from litestar import Request, Response
from litestar.response import Template

from specadmin.runtime.errors import BadRequest, Conflict
from specadmin.runtime.pages.support import cell_text, chart_assets, ctx_of, layout, with_params
from specadmin.runtime.security.levels import ALL, LEVEL_PARAM, LEVELS, page_level



def chart_json(chart: dict[str, Any] | None) -> str:
    """The chart for a `data-chart` attribute (charts.js), or "" when there is nothing to draw."""
    if not chart or not chart.get("x"):
        return ""
    return json.dumps(chart, ensure_ascii=False, separators=(",", ":"))


def _dates(params, default_days: int, problems: list[str]) -> tuple[dt.date, dt.date]:
    today = dt.date.today()
    values = {"date_from": today - dt.timedelta(days=default_days - 1), "date_to": today}
    for key in values:
        raw = (params.get(key) or "").strip()
        if raw:
            try:
                values[key] = dt.date.fromisoformat(raw[:10])
            except ValueError:
                problems.append(("开始日期" if key == "date_from" else "结束日期") + "格式应为 YYYY-MM-DD")
    if values["date_from"] > values["date_to"]:
        problems.append("开始日期不能晚于结束日期")
    return values["date_from"], values["date_to"]


def _page_no(raw: str | None) -> int:
    try:
        return max(1, min(int(raw or 1), 100000))
    except ValueError:
        return 1


async def stat_page(request: Request, name: str, screen: dict[str, Any], bar: dict[str, Any], grant) -> Response:
    ctx, params = ctx_of(request), request.query_params
    spec = ctx.app.screen(name)
    problems = list(bar["problems"])
    date_from, date_to = _dates(params, max(1, spec.stat.default_days), problems)
    page, page_size = _page_no(params.get("page")), max(1, min(int(spec.page_size or 20), 500))
    sort = (params.get("sort") or "").strip()[:64] or None
    level = page_level(spec, params.get(LEVEL_PARAM))
    result: dict[str, Any] = {"items": [], "total": 0, "totals": {}}
    chart = None
    if date_from <= date_to:
        try:
            result = await request.app.state.stats.run(request, name, date_from, date_to, bar["filters"],
                                                       page=page, page_size=page_size, sort=sort, level=level)
            if result["total"]:
                chart = await request.app.state.stats.chart(request, name, date_from, date_to, bar["filters"],
                                                            level=level)
        except (BadRequest, Conflict) as exc:
            problems.append(exc.message)
    columns = screen["list"]
    items = list(result.get("items", []))
    total = int(result.get("total") or 0)
    pages = max(1, math.ceil(total / page_size))
    links = request.app.state.stats.drill_links(spec, columns, date_from, date_to, bar["echo"])
    rows = [{"id": None, "cells": [cell_text(item, c) for c in columns], "links": links(item)} for item in items]
    totals = result.get("totals") or {}
    sums = [cell_text(totals, c) if c["name"] in totals else "" for c in columns] if items else None
    sum_links = links(None) if items else None
    base = ([("date_from", date_from.isoformat()), ("date_to", date_to.isoformat())] if spec.stat.period else []) \
        + bar["echo"] + ([("sort", sort)] if sort else []) + ([(LEVEL_PARAM, level)] if level not in (None, ALL) else [])
    export_urls = None
    if "export" in grant.actions:
        qs = with_params(base)
        export_urls = {fmt: f"/api/stats/{name}/export.{fmt}" + (f"?{qs}" if qs else "") for fmt in ("xlsx", "csv")}
    context = layout(
        request, name, title=screen["label"], screen=screen, screen_name=name, has_period=bool(spec.stat.period),
        date_from=date_from.isoformat(), date_to=date_to.isoformat(), filter_widgets=bar["widgets"],
        columns=columns, rows=rows, total=total, problems=problems, sums=sums, sum_links=sum_links,
        page=page, pages=pages, page_size=page_size, export_urls=export_urls,
        chart=chart if chart_json(chart) else None, chart_json=chart_json(chart),
        **chart_assets(ctx),
        prev_url=f"/s/{name}?" + with_params(base, page=page - 1 if page > 2 else None) if page > 1 else None,
        next_url=f"/s/{name}?" + with_params(base, page=page + 1) if page < pages else None,
        reset_url=f"/s/{name}", level=level if level not in (None, ALL) else None, level_param=LEVEL_PARAM,
        levels=[{"value": v, "label": label, "active": v == level,
                 "url": f"/s/{name}?" + with_params(base, **{LEVEL_PARAM: None if v == ALL else v})}
                for v, label in LEVELS] if level else [])
    return Template(template_name="stat.html", context=context)

