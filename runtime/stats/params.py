"""Query parameters of a stat screen (paging, sort, typed filters), shared by its JSON, export and big-screen endpoints."""
from __future__ import annotations

from typing import Any

from litestar import Request

from specadmin.runtime.data.list_query import MAX_PAGE, paging
from specadmin.runtime.errors import BadRequest
from specadmin.runtime.security.levels import LEVEL_PARAM


def stat_params(request: Request, screen_name: str) -> dict[str, Any]:
    """Paging, sort and the screen's filters (typed like the page's), shared by the JSON, export
    and big-screen endpoints; a filter value of the wrong type is a 400, never a database error."""
    from specadmin.runtime.pages.support import read_filters

    params = request.query_params
    invalid: dict[str, str] = {}
    page = paging(params.get("page"), 1, MAX_PAGE, "page", invalid)
    page_size = paging(params.get("page_size"), None, MAX_PAGE, "page_size", invalid)  # run() caps it at MAX_GROUPS
    screen = request.app.state.ctx.screens.get(screen_name) or {}
    filters, _, problems = read_filters(request.app.state.ctx, screen_name, params) if screen else ({}, [], [])
    problems = [*invalid.values(), *problems]
    if problems:
        raise BadRequest("；".join(problems))
    return {"page": page, "page_size": page_size, "sort": (params.get("sort") or "")[:64] or None, "filters": filters,
            "level": (params.get(LEVEL_PARAM) or "")[:8] or None}
