"""菜单权限: every menu with its screens and each screen's actions as a tree, for one holder (a role,
a role group or a person): the grants declared in the spec (read-only), those reached through the
holder's roles, and the ones stored at run time (editable), with a data-scope choice and an end
date per screen. Saving writes the difference as grant rows through the entity service, so the
grant screen's own grants, the power rules (identity.power) and the operation log all apply.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from specadmin.runtime.data.values import INT32, Invalid
from specadmin.runtime.errors import BadRequest, NotFound
from specadmin.runtime.security.principal import GRANT_SCOPES, grant_scopes
from specadmin.runtime.security.ref_scope import check_refs

if TYPE_CHECKING:
    from specadmin.runtime.app.context import AppContext
    from specadmin.runtime.security.principal import Principal
    from specadmin.specs.model import Screen

HOLDERS = {"role": "角色", "role_group": "角色组", "user": "人员"}
ACTION_LABELS = {"list": "查询列表", "read": "查看详情", "create": "新增", "update": "修改", "delete": "删除",
                 "export": "导出", "import": "导入"}
GRANT_SCREEN = "grant_admin"


@dataclass(frozen=True)
class Holder:
    kind: str  # role | role_group | user
    id: int
    label: str


def action_labels(screen: "Screen") -> list[dict[str, str]]:
    custom = {a.name: a.label for a in screen.custom_actions}
    return [{"name": a, "label": custom.get(a) or ACTION_LABELS.get(a, a)} for a in screen.offered_actions]


async def find_holder(ctx: "AppContext", principal: "Principal", params: dict[str, Any]) -> Holder:
    """The role, role group or person named in `params`; it must be one the actor may grant to."""
    given = [(k, params.get(k)) for k in HOLDERS if params.get(k) not in (None, "")]
    if len(given) != 1:
        raise BadRequest("请选择一个角色、角色组或人员")
    kind, raw = given[0]
    try:
        holder_id = int(raw)
    except (TypeError, ValueError):
        holder_id = 0
    if not 1 <= holder_id <= INT32[1]:
        raise BadRequest(f"{HOLDERS[kind]}编号不正确")
    await check_refs(ctx, principal, ctx.app.entity("grant"), {kind: holder_id})  # inside the actor's view
    table = ctx.table(kind)
    display = ctx.app.entity(kind).display
    rows = await table.select(table._meta.primary_key, getattr(table, display)).where(
        table._meta.primary_key == holder_id)
    if not rows:
        raise NotFound(f"{HOLDERS[kind]}不存在")
    return Holder(kind, holder_id, str(rows[0][display]))


async def _spec_grants(ctx: "AppContext", holder: Holder) -> dict[str, dict[str, Any]]:
    """screen → {actions, scope, source} of the grants the holder has from the spec and, for a
    person or role group, through its roles (stored grants of those roles included): read-only here."""
    role, grant = ctx.table("role"), ctx.table("grant")
    if holder.kind == "role":
        role_ids = [holder.id]
    elif holder.kind == "user":
        join = ctx.join_table("user", "roles")
        role_ids = [r["target"] for r in await join.select(join.target).where(join.owner == holder.id)]
    else:
        join = ctx.join_table("role_group", "roles")
        role_ids = [r["target"] for r in await join.select(join.target).where(join.owner == holder.id)]
    if not role_ids:
        return {}
    rows = await role.select(role.id, role.code, role.label, role.template).where(role.id.is_in(role_ids))
    spec_roles = {r.name: r for r in ctx.app.roles}
    out: dict[str, dict[str, Any]] = {}

    def add(screen: str, actions, scope: str, source: str) -> None:
        entry = out.setdefault(screen, {"actions": [], "scope": scope, "sources": []})
        entry["actions"] = sorted(set(entry["actions"]) | set(actions))
        entry["sources"].append(source)

    for r in rows:
        for code in filter(None, (r["code"], r["template"])):
            spec_role = spec_roles.get(code)
            for g in spec_role.grants if spec_role else ():
                scope = "+".join(s.mode for s in g.declared_scopes) or "default"
                add(g.screen, g.actions, scope, f"配置：{spec_role.label}")
    if holder.kind != "role":  # the roles' run-time grants reach the person or group too
        for g in await grant.select(grant.screen, grant.actions, grant.scope, grant.role).where(
                grant.role.is_in(role_ids)):
            label = next((r["label"] for r in rows if r["id"] == g["role"]), "")
            add(g["screen"], [a for a in g["actions"].split(",") if a], g["scope"] or "default", f"角色：{label}")
    return out


async def _stored(ctx: "AppContext", holder: Holder) -> dict[str, dict[str, Any]]:
    grant = ctx.table("grant")
    rows = await grant.select(grant.id, grant.screen, grant.actions, grant.scope, grant.valid_until, grant.version).where(
        getattr(grant, holder.kind) == holder.id)
    return {r["screen"]: {"id": r["id"], "actions": [a for a in r["actions"].split(",") if a],
                          "scope": r["scope"] or "default", "valid_until": r["valid_until"], "version": r["version"]}
            for r in rows}


async def tree(ctx: "AppContext", principal: "Principal", holder: Holder) -> dict[str, Any]:
    spec, stored = await _spec_grants(ctx, holder), await _stored(ctx, holder)
    scope_labels = ctx.dict_labels.get("grant_scope", {})
    menus = []
    for menu in ctx.menus:
        screens = []
        for name in menu["screens"]:
            screen = ctx.app.screen(name)
            own = principal.grant(name)
            screens.append({
                "name": name, "label": screen.label, "actions": action_labels(screen),
                "scopes": [{"name": m, "label": scope_labels.get(m, m)} for m in grant_scopes(screen)],
                "spec": spec.get(name), "stored": stored.get(name),
                # only what the actor holds can be handed out (identity.power checks it again on save)
                "grantable": list(screen.offered_actions) if principal.superuser else sorted(own.actions) if own else [],
            })
        menus.append({"name": menu["name"], "label": menu["label"], "screens": screens})
    return {"holder": {"kind": holder.kind, "id": holder.id, "label": holder.label,
                       "kind_label": HOLDERS[holder.kind]}, "menus": menus}


def _wanted(ctx: "AppContext", choices: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The submitted grants, per screen: {actions: [...], scope, valid_until}; screens without actions drop."""
    out = {}
    for name, choice in choices.items():
        try:
            screen = ctx.app.screen(name)
        except KeyError:
            raise Invalid({name: "没有这个菜单"}) from None
        actions = [a for a in choice.get("actions") or [] if a]
        unknown = [a for a in actions if a not in screen.offered_actions]
        if unknown:
            raise Invalid({name: f"菜单“{screen.label}”没有操作 {','.join(unknown)}"})
        scope = choice.get("scope") or "default"
        if scope not in GRANT_SCOPES:
            raise Invalid({name: f"数据范围 {scope} 不正确"})
        until = choice.get("valid_until") or None
        if isinstance(until, str):
            try:
                until = dt.date.fromisoformat(until)
            except ValueError:
                raise Invalid({name: "有效期至应为 YYYY-MM-DD"}) from None
        if actions:
            order = list(screen.offered_actions)
            out[name] = {"actions": sorted(set(actions), key=order.index), "scope": scope, "valid_until": until}
    return out


async def save(request, holder: Holder, choices: dict[str, Any]) -> dict[str, int]:
    """Write the difference between the stored grants and `choices` (screen → {actions, scope,
    valid_until}; a screen left out keeps what it has, one with no actions loses its grant)."""
    ctx = request.app.state.ctx
    service = request.app.state.services["grant"]
    wanted, stored = _wanted(ctx, choices), await _stored(ctx, holder)
    done = {"created": 0, "updated": 0, "deleted": 0}
    for name in choices:
        have, want = stored.get(name), wanted.get(name)
        if want is None:
            if have is not None:
                await service.delete(request, have["id"], screen=GRANT_SCREEN)
                done["deleted"] += 1
            continue
        values = {"actions": ",".join(want["actions"]), "scope": want["scope"],
                  "valid_until": want["valid_until"].isoformat() if want["valid_until"] else None}
        if have is None:
            await service.create(request, {holder.kind: holder.id, "screen": name, **values}, screen=GRANT_SCREEN)
            done["created"] += 1
        elif (have["actions"], have["scope"], have["valid_until"]) != (want["actions"], want["scope"], want["valid_until"]):
            await service.update(request, have["id"], values, screen=GRANT_SCREEN)
            done["updated"] += 1
    return done
