"""Caller endpoints under /ext/api/<entity>: list and read through EntityService.

The same parameters as the browser API (/api/<entity>): screen, tab, q, sort, page,
page_size and the entity's declared filters (typed here from the model, as the
generated controllers do). Write endpoints come with the data-feed issue.
"""
from __future__ import annotations

import datetime as dt
from typing import Any, Optional

from litestar import Request, Router, get
from litestar.middleware import DefineMiddleware
from litestar.params import Parameter
from specadmin.generator.emit import filter_params

from specadmin.runtime.api.support import ListPage
from specadmin.runtime.errors import BadRequest, NotFound
from specadmin.runtime.api_callers.middleware import CallerAuthMiddleware

EXT_PREFIX = "/ext/api"
LIST_PARAMS = {"screen", "tab", "q", "sort", "page", "page_size"}


def _service(request: Request, entity: str):
    service = request.app.state.services.get(entity)
    if service is None:
        raise NotFound(f"没有名为 {entity} 的数据")
    return service


def _filter_types(app_model, entity_name: str) -> dict[str, tuple[str, str]]:
    """Query parameter -> (filter key, type) for the entity's declared filters."""
    entity = app_model.entity(entity_name)
    return {p["name"]: (p["key"], p["type"]) for p in filter_params(app_model, entity)}


def _coerce(value: str, kind: str) -> Any:
    if kind == "int":
        return int(value)
    if kind == "float":
        return float(value)
    if kind == "bool":
        if value.lower() not in ("true", "false", "1", "0"):
            raise ValueError(value)
        return value.lower() in ("true", "1")
    if kind == "datetime.date":
        return dt.date.fromisoformat(value)
    return value


def _filters(request: Request, entity: str) -> dict[str, Any]:
    known = _filter_types(request.app.state.ctx.app, entity)
    filters: dict[str, Any] = {}
    for name, value in request.query_params.items():
        if name in LIST_PARAMS:
            continue
        if name not in known:
            raise BadRequest(f"未知的查询参数 {name}")
        key, kind = known[name]
        try:
            filters[key] = _coerce(value, kind)
        except ValueError:
            raise BadRequest(f"查询参数 {name} 的值不正确") from None
    return filters


@get("/{entity:str}", operation_id="ext_list", summary="外部调用：列表", tags=["外部接口"])
async def ext_list(
    request: Request,
    entity: str,
    screen: Optional[str] = None,
    tab: Optional[str] = None,
    q: Optional[str] = Parameter(default=None, max_length=100, description="关键字"),
    sort: Optional[str] = None,
    page: int = Parameter(default=1, ge=1),
    page_size: int = Parameter(default=20, ge=1, le=500),
) -> ListPage:
    service = _service(request, entity)
    return await service.list_page(request, screen=screen, tab=tab, q=q, sort=sort, page=page,
                                   page_size=page_size, filters=_filters(request, entity))


@get("/{entity:str}/{row_id:int}", operation_id="ext_get", summary="外部调用：详情", tags=["外部接口"])
async def ext_get(request: Request, entity: str, row_id: int, screen: Optional[str] = None) -> dict[str, Any]:
    return await _service(request, entity).get(request, row_id, screen=screen)


def ext_router() -> Router:
    """The /ext/api router with the caller middleware (a fresh one per app)."""
    return Router(path=EXT_PREFIX, route_handlers=[ext_list, ext_get],
                  middleware=[DefineMiddleware(CallerAuthMiddleware)])
