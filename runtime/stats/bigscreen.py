"""Big-screen statistics feeds (大屏统计接口): stat screens declared with `api: true`.

The grouping and measures come from the screen's `stat:` block, so changing the YAML changes
the feed ("aggregation logic must be adjustable"). Served as JSON to
- logged-in users with the screen's grant: GET /api/bigscreen (the feeds they may read) and
  GET /api/bigscreen/<screen>;
- API callers (接入系统): GET /ext/api/bigscreen/<screen>, behind the same caller gate as
  /ext/api (token or SM2 signature, rate limit, call log); the caller's role needs the grant.
Both answer with the same data scope as the statistics page. GET /bigscreen shows the feeds
the user may read as charts and tables (themes/bigscreen/templates/bigscreen_feeds.html).
"""
from __future__ import annotations

import datetime as dt
from typing import Any

from litestar import Request, get
from litestar.middleware import DefineMiddleware
from litestar.response import Template

from specadmin.runtime.api_callers.middleware import CallerAuthMiddleware
from specadmin.runtime.errors import Denied, NotFound
from specadmin.runtime.pages.common import PAGE_ERRORS


def feed_columns(ctx, screen) -> dict[str, list[dict[str, str]]]:
    """The feed's dimensions and measures with their Chinese labels (from the generated screen)."""
    listed = ctx.screens[screen.name]["list"]
    from specadmin.specs.stat_names import compare_columns

    measures = {m.name for m in screen.stat.measures} | {c["name"] for c in compare_columns(screen.stat)}
    return {"dimensions": [{"key": c["name"], "label": c["label"]} for c in listed if c["name"] not in measures],
            "measures": [{"key": c["name"], "label": c["label"]} for c in listed if c["name"] in measures]}


async def feed(request: Request, name: str, date_from: dt.date | None, date_to: dt.date | None) -> dict[str, Any]:
    from specadmin.runtime.stats.params import stat_params

    ctx = request.app.state.ctx
    try:
        screen = ctx.app.screen(name)
    except KeyError:
        screen = None
    if screen is None or screen.stat is None or not screen.stat.api:
        raise NotFound(f"没有名为 {name} 的大屏统计接口")
    p = stat_params(request, name)
    result = await request.app.state.stats.run(request, name, date_from, date_to, p["filters"], page=p["page"],
                                               page_size=p["page_size"], sort=p["sort"])
    return {"name": name, "label": screen.label, **feed_columns(ctx, screen), **result,
            "generated_at": dt.datetime.now().replace(microsecond=0).isoformat(sep=" ")}


@get("/api/bigscreen", tags=["大屏"], summary="可读取的大屏统计接口")
async def bigscreen_index(request: Request) -> dict[str, Any]:
    ctx, user = request.app.state.ctx, request.user
    items = [{"name": s.name, "label": s.label, "url": f"/api/bigscreen/{s.name}"}
             for s in ctx.app.screens if s.stat and s.stat.api and user.can(s.name, "list")]
    if not items:
        raise Denied()  # no grant on any feed: refused, like every other endpoint
    return {"items": items}


@get("/api/bigscreen/{screen:str}", tags=["大屏"], summary="大屏统计数据")
async def bigscreen_feed(request: Request, screen: str, date_from: dt.date | None = None,
                         date_to: dt.date | None = None) -> dict[str, Any]:
    return await feed(request, screen, date_from, date_to)


@get("/ext/api/bigscreen/{screen:str}", tags=["外部接口"], summary="外部调用：大屏统计数据",
     operation_id="ext_bigscreen", middleware=[DefineMiddleware(CallerAuthMiddleware)])
async def ext_bigscreen_feed(request: Request, screen: str, date_from: dt.date | None = None,
                             date_to: dt.date | None = None) -> dict[str, Any]:
    return await feed(request, screen, date_from, date_to)


@get("/bigscreen", name="page_bigscreen", include_in_schema=False, exception_handlers=PAGE_ERRORS)
async def bigscreen_page(request: Request) -> Template:
    """The feeds as charts and tables, each with its default period (the page is for a quick look)."""
    from specadmin.runtime.pages.support import THEMES_DIR, cell_text, chart_assets, layout
    from specadmin.runtime.pages.stat_page import chart_json

    ctx, user = request.app.state.ctx, request.user
    feeds = []
    for screen in ctx.app.screens:
        if not (screen.stat and screen.stat.api and user.can(screen.name, "list")):
            continue
        result = await request.app.state.stats.run(request, screen.name, None, None, {}, page_size=200)
        columns = ctx.screens[screen.name]["list"]
        chart = await request.app.state.stats.chart(request, screen.name, None, None, {}) if result["total"] else None
        feeds.append({"name": screen.name, "label": screen.label, "chart": chart if chart_json(chart) else None,
                      "chart_json": chart_json(chart),
                      "columns": [{"label": c["label"], "num": c.get("type") in ("integer", "decimal")} for c in columns],
                      "rows": [[cell_text(item, c) for c in columns] for item in result["items"]]})
    if not feeds:
        raise Denied()  # no grant on any feed: the page is refused like any screen
    source = (THEMES_DIR / "bigscreen" / "templates" / "bigscreen_feeds.html").read_text(encoding="utf-8")
    context = layout(request, None, title="大屏统计", feeds=feeds, **chart_assets(ctx),
                     generated_at=dt.datetime.now().strftime("%Y-%m-%d %H:%M:%S"))
    return Template(template_str=source, context=context)


BIGSCREEN_HANDLERS = [bigscreen_index, bigscreen_feed, ext_bigscreen_feed, bigscreen_page]
