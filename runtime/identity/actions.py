"""Handlers of the built-in system screens' custom actions (`handler:` in system.yaml).

EntityService.run_action has already checked the grant, found the row inside the actor's
scope and will check afterwards that the row is still inside it; each handler gets an
ActionCall and returns {"changed": {...}} for the operation log, plus an optional "result"
for the caller (a generated password, the id of a copied role).

system.yaml declares each action's `params`, so they arrive validated and typed (a required
choice made, refs inside the actor's view, dictionary keys known); the handlers still read them
defensively, for an app that names a handler in an action of its own without declarations.
"""
from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any

from specadmin.runtime.data import audit
from specadmin.runtime.errors import Denied, NotFound
from specadmin.runtime.data.values import Invalid
from specadmin.runtime.identity.guards import check_grant, check_roles, grant_is_confined
from specadmin.runtime.identity.passwords import problem, random_password
from specadmin.runtime.identity.power import check_may_act_on_user
from specadmin.runtime.identity.revocation import revoke

if TYPE_CHECKING:
    from specadmin.runtime.entities.service import ActionCall


def _ids(raw: Any, name: str) -> list[int]:
    items = raw if isinstance(raw, (list, tuple)) else [raw] if raw not in (None, "") else []
    try:
        return sorted({int(v) for v in items})
    except (TypeError, ValueError):
        raise Invalid({name: "应为记录编号列表"}) from None


async def reset_password(call: "ActionCall") -> dict[str, Any]:
    """重置密码: the given password (checked against the policy) or a generated one, returned once."""
    security = call.ctx.app.security
    password = call.params.get("password")
    result = None
    if password:
        message = problem(str(password), security, call.row.get("username"))
        if message:
            raise Invalid({"password": message})
    else:
        password = random_password(security)
        result = {"password": password}
    user = call.service.table
    await user.update({user.password: user.hash_password(str(password)), user.failed_logins: 0,
                       user.locked_until: None}).where(user.id == call.row["id"])
    return {"changed": {"failed_logins": 0, "locked_until": None}, "result": result}


async def change_org(call: "ActionCall") -> dict[str, Any]:
    """调整组织: move people to another org (which must lie inside the actor's scope)."""
    raw = call.params.get("org")
    try:
        org_id = int(raw)
    except (TypeError, ValueError):
        raise Invalid({"org": "请选择调整后的组织"}) from None
    org = call.ctx.table("org")
    if not await org.exists().where(org.id == org_id):
        raise Invalid({"org": "组织不存在"})
    user = call.service.table
    await user.update({user.org: org_id}).where(user.id == call.row["id"])
    return {"changed": {"org": org_id}}


async def assign_roles(call: "ActionCall") -> dict[str, Any]:
    """分配角色 (by person, in batch): params roles=[ids], mode=add|remove."""
    roles = _ids(call.params.get("roles"), "roles")
    mode = call.params.get("mode", "add")
    if mode not in ("add", "remove"):
        raise Invalid({"mode": "应为 add 或 remove"})
    join = call.ctx.join_table("user", "roles")
    user_id = call.row["id"]
    held = {r["target"] for r in await join.select(join.target).where(join.owner == user_id)}
    if mode == "add":
        await check_roles(call.ctx, call.principal, set(roles) - held)
        new = [r for r in roles if r not in held]
        if new:
            await join.insert(*[join(owner=user_id, target=r) for r in new])
        held |= set(new)
    elif roles:
        await join.delete().where(join.owner == user_id, join.target.is_in(roles))
        held -= set(roles)
    return {"changed": {"roles": sorted(held)}}


async def assign_users(call: "ActionCall") -> dict[str, Any]:
    """分配人员 (by role, in batch): params users=[ids], mode=add|remove; the actor must be able
    to edit each person on 人员管理 (its scope) and to hand out the role."""
    from specadmin.runtime.entities.service import EntityService

    users = _ids(call.params.get("users"), "users")
    mode = call.params.get("mode", "add")
    if mode not in ("add", "remove"):
        raise Invalid({"mode": "应为 add 或 remove"})
    role_id = call.row["id"]
    people = EntityService(call.ctx, "user")
    grants = people.grants(call.principal, "update", None)
    for user_id in users:
        try:
            person = await people._fetch_raw(call.principal, grants, user_id)
        except NotFound:
            raise Invalid({"users": f"人员 {user_id} 不存在或不在数据权限范围内"}) from None
        await check_may_act_on_user(call.ctx, call.principal, person)
    join = call.ctx.join_table("user", "roles")
    members = {r["owner"] for r in await join.select(join.owner).where(join.target == role_id)}
    if mode == "add":
        await check_roles(call.ctx, call.principal, [role_id], "users")
        new = [u for u in users if u not in members]
        if new:
            await join.insert(*[join(owner=u, target=role_id) for u in new])
        await revoke(call.ctx, new)  # a role change ends the person's sessions
        return {"changed": {"members_added": new}}
    gone = [u for u in users if u in members]
    if gone:
        await join.delete().where(join.target == role_id, join.owner.is_in(gone))
    await revoke(call.ctx, gone)
    return {"changed": {"members_removed": gone}}


def _unique_code(base: str, taken: set[str]) -> str:
    code, n = base[:50], 2
    while code in taken:
        suffix = f"_{n}"
        code, n = base[:50 - len(suffix)] + suffix, n + 1
    return code


async def copy_role(call: "ActionCall") -> dict[str, Any]:
    """复制角色及权限: a new role with the same settings, its stored grants and, for a role
    declared in the spec, that role's grants by inheritance (`template`)."""
    role, grant = call.service.table, call.ctx.table("grant")
    src = call.row
    taken = {r["code"] for r in await role.select(role.code)}
    wanted = str(call.params.get("code") or "").strip()
    if wanted and wanted in taken:
        raise Invalid({"code": f"“{wanted}”已存在"})
    code = wanted or _unique_code(f"{src['code']}_copy", taken)
    label = str(call.params.get("label") or f"{src['label']}（副本）")[:100]
    spec_roles = {r.name for r in call.ctx.app.roles}
    template = src.get("template") or (src["code"] if src["code"] in spec_roles else None)
    now = dt.datetime.now().replace(microsecond=0)
    values = {k: src.get(k) for k in ("org", "visible_to_children", "valid_from", "valid_to", "admin_org_scope",
                                        "description", "active")}
    result = await role.insert(role(code=code, label=label, template=template, created_by=call.principal.user_id,
                                    created_at=now, updated_at=now, **values)).returning(role.id)
    new_id = result[0]["id"]
    scope = call.service.scope_of(call.principal, call.grants)
    if scope is not None and not await role.exists().where(role.id == new_id, scope):
        raise Denied("不能在数据权限范围之外新增角色")
    copied = await grant.select(grant.screen, grant.actions, grant.valid_until).where(grant.role == src["id"])
    if copied:
        await grant.insert(*[grant(role=new_id, screen=g["screen"], actions=g["actions"], valid_until=g["valid_until"],
                                   created_by=call.principal.user_id, created_at=now, updated_at=now) for g in copied])
    await audit.record(call.ctx, call.principal, "create", "role", new_id, label, None,
                       {"code": code, "copied_from": src["code"], "grants": len(copied)})
    return {"changed": {}, "result": {"id": new_id, "code": code, "grants": len(copied)}}


def _screen_actions(call: "ActionCall") -> tuple[str, str]:
    screen_name = str(call.params.get("screen") or "")
    try:
        screen = call.ctx.app.screen(screen_name)
    except KeyError:
        raise Invalid({"screen": f"没有名为 {screen_name} 的页面"}) from None
    raw = call.params.get("actions") or "list,read"
    wanted = [a.strip() for a in (raw if isinstance(raw, (list, tuple)) else str(raw).split(",")) if a.strip()]
    unknown = [a for a in wanted if a not in screen.offered_actions]
    if unknown:
        raise Invalid({"actions": f"页面“{screen.label}”没有操作 {','.join(unknown)}"})
    return screen_name, ",".join(dict.fromkeys(wanted))


async def grant_screens(call: "ActionCall") -> dict[str, Any]:
    """授权 (batch): params screen, actions, valid_until (empty: permanent)."""
    screen, actions = _screen_actions(call)
    raw_until = call.params.get("valid_until")
    try:
        until = dt.date.fromisoformat(str(raw_until)[:10]) if raw_until else None
    except ValueError:
        raise Invalid({"valid_until": "日期格式应为 YYYY-MM-DD"}) from None
    check_grant(call.ctx, call.principal, screen, actions, until,
                await grant_is_confined(call.ctx, {"role": call.row["id"]}))
    grant = call.ctx.table("grant")
    role_id = call.row["id"]
    now = dt.datetime.now().replace(microsecond=0)
    existing = await grant.select(grant.id).where(grant.role == role_id, grant.screen == screen)
    if existing:
        await grant.update({grant.actions: actions, grant.valid_until: until, grant.updated_at: now}).where(
            grant.id == existing[0]["id"])
    else:
        await grant.insert(grant(role=role_id, screen=screen, actions=actions, valid_until=until,
                                 created_by=call.principal.user_id, created_at=now, updated_at=now))
    return {"changed": {"grant": f"{screen}:{actions}", "valid_until": until}}


async def revoke_screens(call: "ActionCall") -> dict[str, Any]:
    """取消授权 (batch): params screen."""
    screen = str(call.params.get("screen") or "")
    grant = call.ctx.table("grant")
    await grant.delete().where(grant.role == call.row["id"], grant.screen == screen)
    return {"changed": {"revoked": screen}}
