"""What generated controllers import: the service lookup and the request/response shapes."""
from __future__ import annotations

from typing import Annotated, Any

import msgspec
from litestar import Request
from litestar.params import Parameter

from specadmin.runtime.data.values import INT32

# A row id in a path: ids are Serial (specs/physical.py), so anything outside 1..2^31-1 names no row;
# refused here, as Litestar parses it, with a 400 naming the parameter, before any query is built.
RowId = Annotated[int, Parameter(ge=1, le=INT32[1], description="记录编号")]


class ListPage(msgspec.Struct):
    items: list[dict[str, Any]]
    total: int
    page: int
    page_size: int


class ActionRequest(msgspec.Struct):
    ids: list[int]
    params: dict[str, Any] = {}  # for actions with a handler, e.g. the target org of 调整组织


def entity_service(request: Request, entity: str):
    return request.app.state.services[entity]
