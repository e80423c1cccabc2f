"""Query parameters of a stat screen (paging, sort, typed filters), shared by its JSON, export and big-screen endpoints."""
from __future__ import annotations

from typing import Any

from litestar import Request

from specadmin.runtime.errors import BadRequest


def stat_params(request: Request, screen_name: str) -> dict[str, Any]:
    """Paging, sort and the screen's filters (typed like the page's), shared by the JSON, export
    and big-screen endpoints; a filter value of the wrong type is a 400, never a database error."""
    from specadmin.runtime.pages.support import read_filters

    params = request.query_params
    try:
        page = int(params.get("page") or 1)
        page_size = int(params["page_size"]) if params.get("page_size") else None
    except ValueError:
        raise BadRequest("page 和 page_size 应为整数") from None
    screen = request.app.state.ctx.screens.get(screen_name) or {}
    filters, _, problems = read_filters(request.app.state.ctx, screen_name, params) if screen else ({}, [], [])
    if problems:
        raise BadRequest("；".join(problems))
    return {"page": page, "page_size": page_size, "sort": (params.get("sort") or "")[:64] or None, "filters": filters}
