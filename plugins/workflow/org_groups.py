"""常用单位组: a person's saved selections of the 交办 picker, a plugin table (`specadmin_workflow_org_group`).

- `GET /api/workflow/org-groups` → `{"items": [{id, name, items}]}`: the logged-in user's groups only.
- `POST /api/workflow/org-groups` `{"name": "...", "items": [{"org": 1, "role": "lead", "requirement": "..."}]}`
  saves (a name already used by that user is replaced) → 201 with the group.
- `DELETE /api/workflow/org-groups/<id>` → 204; a group of another user is 404, as one that does not exist.
Only a logged-in person who may list a flow's rows has groups (403 else). Each item names an active org; a role and a requirement are kept as text for the picker to fill its row.
"""
from __future__ import annotations

import json
from typing import Any

from litestar import Request, delete, get, post
from piccolo.columns import BigInt, Text, Varchar
from piccolo.table import Table

from specadmin.plugins.workflow.model import flows
from specadmin.runtime.data.values import fits_column
from specadmin.runtime.errors import BadRequest, Denied, NotFound

TABLE = "specadmin_workflow_org_group"
URL = "/api/workflow/org-groups"
NAME_LENGTH = 60
MAX_ITEMS = 200
TEXT_LENGTH = 500


def org_group_table() -> type[Table]:
    class WorkflowOrgGroup(Table, tablename=TABLE):
        user_id = BigInt(index=True)
        name = Varchar(length=NAME_LENGTH)
        items = Text()

    return WorkflowOrgGroup


def _owner(request: Request) -> int:
    """The caller's user id: a logged-in person who may list the rows of some flow with tasks (who dispatches)."""
    ctx, principal = request.app.state.ctx, request.user
    if not principal.user_id:
        raise Denied("常用单位组只属于登录的用户")
    entities = {f.entity for f in flows(ctx.app) if f.tasks}
    if not any(principal.can(name, "list") for name, s in ctx.screens.items() if s["entity"] in entities):
        raise Denied()
    return principal.user_id


def _view(row: dict) -> dict:
    return {"id": row["id"], "name": row["name"], "items": json.loads(row["items"] or "[]")}


async def _clean_items(ctx: Any, value: Any) -> list[dict]:
    if not isinstance(value, list) or not value:
        raise BadRequest("items 应为非空数组，每项为 {\"org\": 单位ID, \"role\": 角色, \"requirement\": 要求}")
    if len(value) > MAX_ITEMS:
        raise BadRequest(f"items 最多 {MAX_ITEMS} 项")
    org = ctx.table("org")
    out = []
    for i, item in enumerate(value, 1):
        if not isinstance(item, dict) or type(item.get("org")) is not int or not fits_column(org._meta.primary_key,
                                                                                           item["org"]):
            raise BadRequest(f"items 第 {i} 项的 org 应为单位ID（整数）")
        clean = {"org": item["org"]}
        for key in ("role", "requirement"):
            if item.get(key) not in (None, ""):
                if not isinstance(item[key], str) or len(item[key]) > TEXT_LENGTH:
                    raise BadRequest(f"items 第 {i} 项的 {key} 应为不超过 {TEXT_LENGTH} 字的文本")
                clean[key] = item[key]
        out.append(clean)
    wanted = {i["org"] for i in out}
    known = {r["id"] for r in await org.select(org.id).where(org.id.is_in(sorted(wanted)), org.active == True)}  # noqa: E712
    missing = [i for i, item in enumerate(out, 1) if item["org"] not in known]
    if missing:
        raise BadRequest(f"items 第 {missing[0]} 项的单位不存在或已停用")
    return out


@get(URL)
async def list_groups(request: Request) -> dict:
    user = _owner(request)
    t = request.app.state.ctx.runtime_table(TABLE)
    rows = await t.select().where(t.user_id == user).order_by(t.name)
    return {"items": [_view(r) for r in rows]}


@post(URL, status_code=201)
async def save_group(request: Request, data: Any = None) -> dict:
    user = _owner(request)
    ctx = request.app.state.ctx
    if not isinstance(data, dict):
        raise BadRequest("请求体应为 JSON 对象：{\"name\": 组名, \"items\": [...]}")
    name = data.get("name")
    if not isinstance(name, str) or not name.strip() or len(name.strip()) > NAME_LENGTH:
        raise BadRequest(f"name（组名）应为 1–{NAME_LENGTH} 字的文本")
    name = name.strip()
    items = json.dumps(await _clean_items(ctx, data.get("items")), ensure_ascii=False)
    t = ctx.runtime_table(TABLE)
    same = await t.select(t.id).where(t.user_id == user, t.name == name)
    if same:
        await t.update({t.items: items}).where(t.id == same[0]["id"])
        group_id = same[0]["id"]
    else:
        group_id = (await t.insert(t(user_id=user, name=name, items=items)).returning(t.id))[0]["id"]
    return _view((await t.select().where(t.id == group_id))[0])


@delete(URL + "/{group_id:int}", status_code=204)
async def delete_group(request: Request, group_id: int) -> None:
    user = _owner(request)
    t = request.app.state.ctx.runtime_table(TABLE)
    if not fits_column(t._meta.primary_key, group_id) or not await t.exists().where(t.id == group_id,
                                                                                    t.user_id == user):
        raise NotFound("没有这个常用单位组")
    await t.delete().where(t.id == group_id, t.user_id == user)


HANDLERS = [list_groups, save_group, delete_group]
