"""HTTP handlers of the log charts: JSON at /api/charts/*, pages at /logs/*.

Both check the caller's `list` grant on the log screen (exception_view / oplog_view;
superusers hold it by default) and its data scope, through runtime/logs/charts.py.
The pages render the numbers as tables; static/charts.js draws ECharts charts over the
same numbers (read from a `data-chart` attribute: no inline script under the strict CSP)
when static/vendor/echarts.min.js is installed (scripts/setup.sh), and does nothing otherwise.
"""
from __future__ import annotations

import json
from typing import Any

from litestar import Request, get
from litestar.response import Template

from specadmin.runtime.errors import Denied
from specadmin.runtime.pages.support import add_screen_tool, chart_assets, ctx_of, layout
from specadmin.runtime.logs.charts import EXCEPTION_SCREEN, OPLOG_SCREEN, exception_chart, oplog_chart

# The log screens' list pages link to their chart page (list.html reads this template global).
CHART_PAGES = {EXCEPTION_SCREEN: "/logs/exceptions", OPLOG_SCREEN: "/logs/oplog"}


def add_template_globals(engine: Any) -> None:
    """TemplateConfig engine_callback: the log lists link to their chart pages."""
    for screen, url in CHART_PAGES.items():
        add_screen_tool(engine, screen, "统计图表", url, "btn-charts")


@get("/api/charts/exceptions", tags=["系统日志"], summary="异常统计图数据（by=day 近7天 / hour 近24小时）")
async def exceptions_json(request: Request, by: str = "day") -> dict[str, Any]:
    return await exception_chart(ctx_of(request), request.user, by)


@get("/api/charts/oplog", tags=["系统日志"], summary="操作日志统计图数据（近7天，by=op_type / subject_type）")
async def oplog_json(request: Request, by: str = "op_type") -> dict[str, Any]:
    return await oplog_chart(ctx_of(request), request.user, by)



def _panel(chart: dict[str, Any]) -> dict[str, Any]:
    """A chart plus its table rows (one per x value) and the JSON handed to charts.js."""
    rows = []
    for i, label in enumerate(chart["x"]):
        cells = [s["data"][i] for s in chart["series"]]
        rows.append({"label": label, "key": chart["keys"][i], "cells": cells, "total": sum(cells)})
    return {**chart, "rows": rows, "json": json.dumps(chart, ensure_ascii=False, separators=(",", ":"))}


def _page(request: Request, screen: str, title: str, charts: list[dict[str, Any]]) -> Template:
    if not request.user.can(screen, "list"):
        raise Denied()
    context = layout(request, screen, title=title, heading=title, list_url=f"/s/{screen}",
                     list_label=ctx_of(request).screens[screen]["label"], charts=[_panel(c) for c in charts],
                     **chart_assets(ctx_of(request)))
    return Template(template_name="logs_charts.html", context=context)


@get("/logs/exceptions", name="page_logs_exceptions")
async def exceptions_page(request: Request) -> Template:
    ctx, user = ctx_of(request), request.user
    if not user.can(EXCEPTION_SCREEN, "list"):
        raise Denied()
    charts = [await exception_chart(ctx, user, "day"), await exception_chart(ctx, user, "hour")]
    return _page(request, EXCEPTION_SCREEN, "系统异常统计", charts)


@get("/logs/oplog", name="page_logs_oplog")
async def oplog_page(request: Request) -> Template:
    ctx, user = ctx_of(request), request.user
    if not user.can(OPLOG_SCREEN, "list"):
        raise Denied()
    charts = [await oplog_chart(ctx, user, "op_type"), await oplog_chart(ctx, user, "subject_type")]
    return _page(request, OPLOG_SCREEN, "系统操作日志统计", charts)


LOG_HANDLERS: list = [exceptions_json, oplog_json, exceptions_page, oplog_page]
