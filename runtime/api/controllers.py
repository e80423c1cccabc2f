"""The JSON API controller of an entity, built from what differs per entity.

The generated `api.py` declares, per entity, its typed request body and its filter parameters
and calls `entity_controller`; every handler delegates to the runtime's EntityService, where
grants, data scope, validation and the operation log are enforced by one code path.

Litestar documents and types a query parameter only when it is in the handler's signature, so
the list and export handlers get the entity's filters added to theirs (`__signature__` and
`__annotations__`) before they are registered.
"""
# No `from __future__ import annotations`: Litestar reads the handlers' annotations as objects.
import inspect
from collections.abc import Sequence
from typing import Annotated, Any, Optional

import msgspec
from litestar import Controller, Request, Response, delete, get, patch, post
from litestar.params import Parameter
from litestar.response import Stream
from msgspec import UNSET, Meta, UnsetType

from specadmin.runtime.api.support import ActionRequest, ListPage, RowId, entity_service
from specadmin.runtime.api.versions import body_version, if_match, stale_response, with_etag
from specadmin.runtime.data.list_query import KEYWORD_MAX, MAX_PAGE, MAX_PAGE_SIZE, FilterParam, typed_filters
from specadmin.runtime.errors import Stale
from specadmin.runtime.data.tree_view import TREE_HELP
from specadmin.runtime.security.levels import LEVEL_HELP

Filter = FilterParam  # what generated code calls it: Filter("level", str, "区划级别")


class Body(msgspec.Struct, kw_only=True):
    """Base of the generated create/update bodies: the entity's writable fields, typed, every one
    optional (UNSET when not sent), so a PATCH carries only what changed. Required fields, and keys
    the body does not declare (a read-only or unknown field), are left to the service, which refuses
    them with 422 and the field's Chinese message. `version`, on a PATCH, is the row version the
    change was made from (runtime/api/versions.py); a create ignores it."""

    version: Annotated[int, Meta(description="修改时：所依据的记录版本号（读取时返回的 version），记录已被他人修改则答 409")] \
        | UnsetType = UNSET


class ActionParams(msgspec.Struct, kw_only=True):
    """Base of the generated parameter structs of a custom action (`params:` in the spec): each
    parameter typed and optional (UNSET when not sent). They document the body and refuse a value of
    the wrong type (400); the service checks the parameters as sent (required ones, choices, bounds,
    refs inside the actor's view, unknown names) and answers 422 naming each."""


class GeoPoint(msgspec.Struct):
    """A geo field's value."""

    lng: float
    lat: float


async def body_dict(request: Request, data: Any) -> dict[str, Any]:
    """The fields the body carries (UNSET ones left out) as the plain values EntityService takes,
    plus any key it does not declare, for the service to refuse by name."""
    values = msgspec.to_builtins(data)
    raw = await request.json()  # already read and cached by Litestar
    if isinstance(raw, dict):
        values.update({k: v for k, v in raw.items() if k not in data.__struct_fields__})
    return values


def _class_name(entity: str) -> str:
    return "".join(part.capitalize() for part in entity.split("_"))


def _described(f: FilterParam) -> str:
    if f.api_type is not f.type:  # a datetime bound: a day or a moment
        return f"{f.label}：YYYY-MM-DD 或 YYYY-MM-DD HH:MM[:SS]"
    return f.label


def _with_filters(fn: Any, filters: Sequence[FilterParam]) -> Any:
    """Replace the handler's **values by one keyword parameter per filter."""
    signature = inspect.signature(fn)
    params = [p for p in signature.parameters.values() if p.kind is not inspect.Parameter.VAR_KEYWORD]
    for f in filters:
        params.append(inspect.Parameter(f.name, inspect.Parameter.KEYWORD_ONLY, annotation=Optional[f.api_type],
                                        default=Parameter(default=None, description=_described(f))))
    fn.__signature__ = signature.replace(parameters=params)
    fn.__annotations__ = {**{k: v for k, v in fn.__annotations__.items() if k != "values"},
                          **{f.name: Optional[f.api_type] for f in filters}}
    return fn


def _read_handlers(entity: str, label: str, filters: Sequence[FilterParam]) -> dict[str, Any]:
    async def list_rows(
        self,
        request: Request,
        screen: Optional[str] = None,
        tab: Optional[str] = None,
        q: Optional[str] = Parameter(default=None, max_length=KEYWORD_MAX, description="关键字"),
        sort: Optional[str] = None,
        page: int = Parameter(default=1, ge=1, le=MAX_PAGE),
        page_size: int = Parameter(default=20, ge=1, le=MAX_PAGE_SIZE),
        scope_level: Optional[str] = Parameter(default=None, max_length=8, description=LEVEL_HELP),
        tree: Optional[str] = Parameter(default=None, max_length=8, description=TREE_HELP),
        **values: Any,
    ) -> ListPage:
        return await entity_service(request, entity).list_page(
            request, screen=screen, tab=tab, q=q, sort=sort, page=page, page_size=page_size,
            filters=typed_filters(filters, values), level=scope_level, tree=tree)

    async def get_row(self, request: Request, row_id: RowId, screen: Optional[str] = None) -> Response:
        return with_etag(await entity_service(request, entity).get(request, row_id, screen=screen))

    async def export_rows(
        self,
        request: Request,
        screen: Optional[str] = None,
        tab: Optional[str] = None,
        q: Optional[str] = Parameter(default=None, max_length=KEYWORD_MAX),
        sort: Optional[str] = None,
        scope_level: Optional[str] = Parameter(default=None, max_length=8, description=LEVEL_HELP),
        **values: Any,
    ) -> Stream:
        return await entity_service(request, entity).export_csv(
            request, screen=screen, tab=tab, q=q, sort=sort, filters=typed_filters(filters, values), level=scope_level)

    return {
        "list_rows": get("/", operation_id=f"list_{entity}", summary=f"{label}：列表")(
            _with_filters(list_rows, filters)),
        "get_row": get("/{row_id:int}", operation_id=f"get_{entity}", summary=f"{label}：详情")(get_row),
        "export_rows": get("/export", operation_id=f"export_{entity}", summary=f"{label}：导出 CSV")(
            _with_filters(export_rows, filters)),
    }


def _write_handlers(entity: str, label: str, create_body: type, update_body: type) -> dict[str, Any]:
    async def create_row(self, request: Request, data: create_body, screen: Optional[str] = None) -> Response:
        values = await body_dict(request, data)
        body_version(values)
        return with_etag(await entity_service(request, entity).create(request, values, screen=screen), 201)

    async def update_row(self, request: Request, row_id: RowId, data: update_body,
                         screen: Optional[str] = None) -> Response:
        values = await body_dict(request, data)
        from_body = body_version(values)
        from_header = if_match(request)
        expected = from_header if from_header is not None else from_body
        try:
            row = await entity_service(request, entity).update(request, row_id, values, screen=screen,
                                                               expected_version=expected)
        except Stale as exc:
            return stale_response(exc, precondition=from_header is not None)
        return with_etag(row)

    async def delete_row(self, request: Request, row_id: RowId, screen: Optional[str] = None) -> None:
        await entity_service(request, entity).delete(request, row_id, screen=screen)

    async def run_action(
        self, request: Request, action: str, data: ActionRequest, screen: Optional[str] = None
    ) -> dict[str, Any]:
        return await entity_service(request, entity).run_action(
            request, action, data.ids, screen=screen, params=data.params)

    return {
        "create_row": post("/", operation_id=f"create_{entity}", summary=f"{label}：新增")(create_row),
        "update_row": patch("/{row_id:int}", operation_id=f"update_{entity}", summary=f"{label}：修改")(update_row),
        "delete_row": delete("/{row_id:int}", operation_id=f"delete_{entity}", summary=f"{label}：删除",
                             status_code=204)(delete_row),
        "run_action": post("/actions/{action:str}", operation_id=f"actions_{entity}", summary=f"{label}：操作",
                           status_code=200)(run_action),
    }


def _action_handlers(entity: str, label: str, actions: dict[str, tuple[str, type]]) -> dict[str, Any]:
    """POST /actions/<name> of each custom action that declares parameters: its body typed in the
    OpenAPI schema ({"ids": [...], "params": {...}}); the generic /actions/{action} serves the rest."""
    handlers = {}
    for name, (action_label, params) in actions.items():
        body = msgspec.defstruct(f"{_class_name(entity)}{_class_name(name)}Action",
                                 [("ids", Annotated[list[int], Meta(description="所选记录的编号")]),
                                  ("params", params, msgspec.field(default_factory=params))])

        def bind(action: str, body: type) -> Any:
            async def run_typed_action(self, request: Request, data: body, screen: Optional[str] = None
                                       ) -> dict[str, Any]:
                raw = await request.json()  # the parameters as sent: unknown names are refused by name
                sent = raw.get("params") if isinstance(raw, dict) else None
                return await entity_service(request, entity).run_action(
                    request, action, data.ids, screen=screen, params=sent if isinstance(sent, dict) else {})
            return run_typed_action

        handlers[f"run_action_{name}"] = post(
            f"/actions/{name}", operation_id=f"action_{entity}_{name}", summary=f"{label}：{action_label}",
            status_code=200)(bind(name, body))
    return handlers


def entity_controller(entity: str, label: str, *, filters: Sequence[FilterParam] = (), body: Optional[type] = None,
                      create_body: Optional[type] = None,
                      actions: Optional[dict[str, tuple[str, type]]] = None) -> type[Controller]:
    """The Controller of /api/<entity>: list, get and export, plus create, update, delete and actions
    when the entity takes a `body` (an append-only entity, such as the operation log, has none).
    `create_body` defaults to `body` (the user entity's adds the password); `actions` maps each
    custom action with parameters to (label, its ActionParams struct)."""
    handlers = _read_handlers(entity, label, tuple(filters))
    if body is not None:
        handlers.update(_write_handlers(entity, label, create_body or body, body))
        handlers.update(_action_handlers(entity, label, dict(actions or {})))
    namespace = {"__doc__": label, "path": f"/api/{entity}", "tags": [label], **handlers}
    return type(f"{_class_name(entity)}Controller", (Controller,), namespace)
