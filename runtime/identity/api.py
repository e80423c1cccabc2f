"""Small identity APIs beside the generated ones: division descendants, saved searches and the
roles a user may hand out. Each answers only within the caller's grants and scope.
"""
from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any

from litestar import Request, delete, get, post
from litestar.params import Parameter

from specadmin.runtime.api.support import RowId
from specadmin.runtime.errors import Denied, NotFound
from specadmin.runtime.data.values import Invalid
from specadmin.runtime.identity.divisions import DivisionFileError, descendants_condition, normalise
from specadmin.runtime.identity.guards import assignable_roles

if TYPE_CHECKING:
    from specadmin.runtime.app.context import AppContext

TAGS = ["系统管理"]


def _ctx(request: Request) -> "AppContext":
    return request.app.state.ctx


@get("/api/identity/divisions/{code:str}/descendants", tags=TAGS, summary="行政区划：本级及全部下级")
async def division_descendants(request: Request, code: str) -> dict[str, Any]:
    ctx = _ctx(request)
    service = request.app.state.services["division"]
    grants = service.grants(request.user, "list", None)
    try:
        code = normalise(code)
    except DivisionFileError as exc:
        raise Invalid({"code": str(exc)}) from None
    table = ctx.table("division")
    scope = service.scope_of(request.user, grants)
    query = table.select(table.path).where(table.code == code)
    if scope is not None:
        query = query.where(scope)
    found = await query
    if not found:
        raise NotFound(f"区划代码 {code} 不存在")
    query = table.select(table.id, table.code, table.name, table.level, table.parent, table.parent.code.as_alias(
        "parent_code")).where(descendants_condition(ctx, found[0]["path"])).order_by(table.code)
    if scope is not None:
        query = query.where(scope)
    items = await query
    return {"code": code, "items": items, "total": len(items)}


def _saved(ctx: "AppContext"):
    return ctx.table("saved_search")


@get("/api/identity/saved-searches", tags=TAGS, summary="我保存的查询")
async def list_saved(request: Request, screen: str = Parameter(max_length=40)) -> dict[str, Any]:
    table = _saved(_ctx(request))
    rows = await table.select(table.id, table.screen, table.name, table.query).where(
        table.user == request.user.user_id, table.screen == screen).order_by(table.name)
    return {"items": rows}


@post("/api/identity/saved-searches", tags=TAGS, summary="保存查询条件", status_code=200)
async def save_search(request: Request, data: dict[str, Any]) -> dict[str, Any]:
    """Same name on the same screen replaces the earlier conditions."""
    screen, name, query = (str(data.get(k) or "").strip() for k in ("screen", "name", "query"))
    errors = {}
    if request.user.user_id <= 0 or not request.user.can(screen, "list"):
        raise Denied("无权访问该页面")
    if not name or len(name) > 50:
        errors["name"] = "名称必填，且不超过 50 个字符"
    if len(query) > 1000:
        errors["query"] = "查询条件不能超过 1000 个字符"
    if errors:
        raise Invalid(errors)
    table = _saved(_ctx(request))
    user_id = request.user.user_id
    now = dt.datetime.now().replace(microsecond=0)
    existing = await table.select(table.id).where(table.user == user_id, table.screen == screen, table.name == name)
    if existing:
        row_id = existing[0]["id"]
        await table.update({table.query: query, table.updated_at: now}).where(table.id == row_id)
    else:
        result = await table.insert(table(user=user_id, screen=screen, name=name, query=query, created_by=user_id,
                                          created_at=now, updated_at=now)).returning(table.id)
        row_id = result[0]["id"]
    return {"id": row_id, "screen": screen, "name": name, "query": query}


@delete("/api/identity/saved-searches/{row_id:int}", tags=TAGS, summary="删除保存的查询", status_code=204)
async def delete_saved(request: Request, row_id: RowId) -> None:
    table = _saved(_ctx(request))
    if not await table.exists().where(table.id == row_id, table.user == request.user.user_id):
        raise NotFound()
    await table.delete().where(table.id == row_id, table.user == request.user.user_id)


@get("/api/identity/assignable-roles", tags=TAGS, summary="可分配的角色")
async def list_assignable_roles(request: Request) -> dict[str, Any]:
    ctx, principal = _ctx(request), request.user
    may_assign = any(principal.can(s.name, "update") or principal.can(s.name, "assign_roles")
                     for s in ctx.app.screens_of("user")) or any(
        principal.can(s.name, "assign_users") for s in ctx.app.screens_of("role"))
    if not may_assign:
        raise Denied()
    role = ctx.table("role")
    everything = [r["id"] for r in await role.select(role.id)]
    ids = await assignable_roles(ctx, principal, everything)
    rows = await role.select(role.id, role.code, role.label, role.org).where(role.id.is_in(sorted(ids) or [-1])).order_by(
        role.code)
    return {"items": rows}


IDENTITY_HANDLERS = [division_descendants, list_saved, save_search, delete_saved, list_assignable_roles]
