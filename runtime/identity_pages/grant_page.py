"""菜单权限 for people: the page `/s/grant_admin/tree` (pick a role, role group or person; tick each
screen's actions in the menu tree; choose its data scope and end date) and its JSON API
`/api/identity/grant-tree`. Both read and save through identity.grant_tree."""
from __future__ import annotations

from typing import Any

from litestar import Request, Response, get, post
from litestar.response import Redirect, Template

from specadmin.runtime.api.support import RowId
from specadmin.runtime.data.values import Invalid
from specadmin.runtime.errors import BadRequest, Denied
from specadmin.runtime.identity.grant_tree import GRANT_SCREEN, HOLDERS, find_holder, save, tree
from specadmin.runtime.pages.common import PAGE_ERRORS
from specadmin.runtime.pages.support import Options, ctx_of, flash, layout

TAGS = ["系统管理"]
PAGE = f"/s/{GRANT_SCREEN}/tree"


def _may_view(request: Request) -> None:
    if not request.user.can(GRANT_SCREEN, "list"):
        raise Denied()


@get("/api/identity/grant-tree", tags=TAGS, summary="菜单权限树（某角色、角色组或人员）")
async def grant_tree_json(request: Request, role: RowId | None = None, role_group: RowId | None = None,
                          user: RowId | None = None) -> dict[str, Any]:
    _may_view(request)
    holder = await find_holder(ctx_of(request), request.user, {"role": role, "role_group": role_group, "user": user})
    return await tree(ctx_of(request), request.user, holder)


@post("/api/identity/grant-tree", tags=TAGS, summary="保存菜单权限（screens: 菜单 → {actions, scope, valid_until}）",
      status_code=200)
async def grant_tree_save(request: Request, data: dict[str, Any]) -> dict[str, Any]:
    _may_view(request)
    holder = await find_holder(ctx_of(request), request.user, data)
    screens = data.get("screens")
    if not isinstance(screens, dict):
        raise BadRequest("screens 应为 菜单编码 → {actions, scope, valid_until}")
    return {"saved": await save(request, holder, screens), **await tree(ctx_of(request), request.user, holder)}


async def _holder_options(request: Request) -> dict[str, list]:
    options = Options(ctx_of(request), request.user)  # the rows this user may grant to
    return {kind: await options.ref_options(kind) or [] for kind in HOLDERS}


@get(PAGE, name="page_grant_tree", exception_handlers=PAGE_ERRORS)
async def grant_tree_page(request: Request) -> Template:
    _may_view(request)
    params = {k: request.query_params.get(k) for k in HOLDERS}
    data = None
    if any(params.values()):
        data = await tree(ctx_of(request), request.user, await find_holder(ctx_of(request), request.user, params))
    context = layout(request, GRANT_SCREEN, title="菜单权限", tree=data, holders=await _holder_options(request),
                     holder_labels=HOLDERS, chosen=params, can_save=request.user.can(GRANT_SCREEN, "create"))
    return Template(template_name="grant_tree.html", context=context)


def _choices(form, names: list[str]) -> dict[str, Any]:
    return {name: {"actions": form.getall(f"a:{name}") if f"a:{name}" in form else [],
                   "scope": form.get(f"s:{name}") or "default", "valid_until": form.get(f"v:{name}") or None}
            for name in names}


@post(PAGE, name="page_grant_tree_save", exception_handlers=PAGE_ERRORS)
async def grant_tree_submit(request: Request) -> Response:
    _may_view(request)
    form = await request.form()
    holder = await find_holder(ctx_of(request), request.user, {k: form.get(k) for k in HOLDERS})
    editable = [n for n in form.getall("screen")] if "screen" in form else []
    back = f"{PAGE}?{holder.kind}={holder.id}"
    try:
        done = await save(request, holder, _choices(form, editable))
    except Invalid as exc:
        flash(request, "；".join(f"{k}：{v}" for k, v in exc.errors.items()), "error")
        return Redirect(back, status_code=303)
    flash(request, f"已保存：新增 {done['created']} 项，修改 {done['updated']} 项，取消 {done['deleted']} 项")
    return Redirect(back, status_code=303)


GRANT_PAGES = [grant_tree_json, grant_tree_save, grant_tree_page, grant_tree_submit]
