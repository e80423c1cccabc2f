"""What generated controllers import: the service lookup and the request/response shapes."""
from __future__ import annotations

from typing import Any

import msgspec
from litestar import Request


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
