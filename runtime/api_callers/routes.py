"""Caller endpoints under /ext/api/<entity>: list and read through EntityService.

The same parameters as the browser API (/api/<entity>): screen, tab, q, sort, page,
page_size and the entity's declared filters (read by runtime/data/list_query.py, as
the pages and exports are). Write endpoints come with the data-feed issue.
"""
from __future__ import annotations

from typing import Any, Optional

from litestar import Request, Router, get
from litestar.middleware import DefineMiddleware
from litestar.params import Parameter
from specadmin.runtime.api.support import ListPage
from specadmin.runtime.api_callers.middleware import CallerAuthMiddleware
from specadmin.runtime.data.list_query import ListQuery, parse
from specadmin.runtime.errors import NotFound

EXT_PREFIX = "/ext/api"


def _service(request: Request, entity: str):
    service = request.app.state.services.get(entity)
    if service is None:
        raise NotFound(f"没有名为 {entity} 的数据")
    return service


def _query(request: Request, entity: str) -> ListQuery:
    """The list request, typed from the model; an unknown parameter or a wrong value is a 400."""
    app_model = request.app.state.ctx.app
    return parse(app_model.entity(entity), app_model.screens_of(entity), request.query_params).check(
        allow_unknown=False)


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
    query = _query(request, entity)
    return await service.list_page(request, screen=screen, tab=tab, q=q, sort=sort, page=page,
                                   page_size=page_size, filters=query.filters, level=query.level,
                                   tree=query.tree)


@get("/{entity:str}/{row_id:int}", operation_id="ext_get", summary="外部调用：详情", tags=["外部接口"])
async def ext_get(request: Request, entity: str, row_id: int, screen: Optional[str] = None) -> dict[str, Any]:
    return await _service(request, entity).get(request, row_id, screen=screen)


def ext_router() -> Router:
    """The /ext/api router with the caller middleware (a fresh one per app)."""
    return Router(path=EXT_PREFIX, route_handlers=[ext_list, ext_get],
                  middleware=[DefineMiddleware(CallerAuthMiddleware)])
