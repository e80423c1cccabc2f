"""Checks on writes to the identity entities that a data scope alone cannot express.

The identity plugin calls these before every create, update, delete and custom action on users,
roles, role groups and grants. They keep people from raising their own power or taking over
someone more powerful (identity.power): only superusers make or touch superusers, nobody acts
on a person or role with more power than themself, roles can be handed out only by someone who
can see them (or who sits below an org that shares them with its children) and who holds all
they confer, and a grant can pass on only screens, actions, scope and validity its author holds.
"""
from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any, Iterable

from piccolo.columns.combination import And, Or

from specadmin.specs.model import Screen

from specadmin.specs.unmask import LABEL as UNMASK_LABEL, UNMASK

from specadmin.runtime.errors import Denied
from specadmin.runtime.data.values import Invalid
from specadmin.runtime.data.where import combine_and, combine_or
from specadmin.runtime.identity.power import check_may_hand_out_roles, exceeds
from specadmin.runtime.security.principal import EffectiveGrant, confine, grant_scopes, stored_scope

if TYPE_CHECKING:
    from specadmin.runtime.app.context import AppContext
    from specadmin.runtime.entities.service import EntityService
    from specadmin.runtime.security.principal import Principal


def superuser_codes(ctx: "AppContext") -> set[str]:
    return {r.name for r in ctx.app.roles if r.superuser}


def ancestor_ids(ctx: "AppContext", org_id: int | None) -> list[int]:
    path = ctx.org_path(org_id) if org_id else None
    return [int(p) for p in path.strip("/").split("/") if p] if path else ([org_id] if org_id else [])


def assignable_condition(ctx: "AppContext", principal: "Principal") -> Any:
    """Condition on the role table: the roles this principal may hand out (None: every role). Those
    it sees on the role screens (without any, those of its own org subtree), plus the roles of the
    orgs above it that are shared with their children; never a superuser role, nor a copy of one.
    Also the `ref_scope: identity.assignable_roles` of the role parameters of 分配角色."""
    from specadmin.runtime.entities.service import EntityService

    if principal.superuser:
        return None
    role = ctx.table("role")
    service = EntityService(ctx, "role")
    try:
        seen = service.scope_of(principal, service.grants(principal, "list", None))
        if seen is None:
            seen = role.id > 0
    except Denied:  # no role screen: the roles of its own org subtree
        own = ctx.org_path(principal.org_id) if principal.org_id else None
        org = ctx.table("org")
        seen = role.org.is_in(org.select(org.id).where(org.path.like(f"{own}%"))) if own else role.id < 0
    shared = And(role.visible_to_children == True, role.org.is_in(ancestor_ids(ctx, principal.org_id) or [-1]))  # noqa: E712
    forbidden = sorted(superuser_codes(ctx)) or ["-"]
    return combine_and([combine_or([seen, shared]), role.code.not_in(forbidden),
                        Or(role.template.is_null(), role.template.not_in(forbidden))])


async def assignable_roles(ctx: "AppContext", principal: "Principal", ids: Iterable[int]) -> set[int]:
    """The subset of `ids` this principal may hand out."""
    ids = sorted(set(ids))
    if not ids:
        return set()
    role = ctx.table("role")
    condition = assignable_condition(ctx, principal)
    query = role.select(role.id).where(role.id.is_in(ids))
    if condition is not None:
        query = query.where(condition)
    return {r["id"] for r in await query}


async def check_roles(ctx: "AppContext", principal: "Principal", ids: Iterable[int], field: str = "roles",
                      owner: tuple[str, int] | None = None) -> None:
    """Refuse roles being added that the principal may not hand out (roles kept as they were pass)."""
    ids = set(ids or ())
    if owner is not None:
        join = ctx.join_table(owner[0], "roles")
        ids -= {r["target"] for r in await join.select(join.target).where(join.owner == owner[1])}
    refused = ids - await assignable_roles(ctx, principal, ids)
    if refused:
        raise Invalid({field: f"无权分配角色（编号 {', '.join(map(str, sorted(refused)))}）"})
    await check_may_hand_out_roles(ctx, principal, ids, field)


async def grant_is_confined(ctx: "AppContext", target: dict[str, Any]) -> bool:
    """Whether a stored grant to this role, role group or person is confined to its holder's org
    subtree (identity.access.stored_grants decides the same way)."""
    if target.get("role"):
        role = ctx.table("role")
        rows = await role.select(role.org, role.admin_org_scope).where(role.id == target["role"])
        return bool(rows and (rows[0]["admin_org_scope"] or rows[0]["org"] is not None))
    if target.get("role_group"):
        group = ctx.table("role_group")
        rows = await group.select(group.org).where(group.id == target["role_group"])
        return bool(rows and rows[0]["org"] is not None)
    return True  # a grant to one person


def grant_content(ctx: "AppContext", screen: str, actions: str, scope: str | None) -> tuple[Screen, frozenset[str]]:
    """A stored grant must name a screen, actions it offers and a data-scope choice it allows
    (`菜单“场所信息管理”` typed as a label, or `查看` as an action, would silently open nothing)."""
    try:
        target = ctx.app.screen(screen)
    except KeyError:
        raise Invalid({"screen": f"没有名为 {screen} 的菜单（应为菜单编码，如 {ctx.app.screens[0].name}）"}) from None
    wanted = frozenset(a.strip() for a in (actions or "").split(",") if a.strip())
    unknown = sorted(wanted - set(target.offered_actions))
    if not wanted or unknown:
        offered = ",".join(target.offered_actions)
        raise Invalid({"actions": f"菜单“{target.label}”没有操作 {','.join(unknown) or '（空）'}，可选：{offered}"})
    if scope and scope not in grant_scopes(target):
        raise Invalid({"scope": f"菜单“{target.label}”不能按该方式划分数据范围"})
    return target, wanted


def check_grant(ctx: "AppContext", principal: "Principal", screen: str, actions: str,
                valid_until: dt.date | None = None, confined: bool = False, scope: str | None = None) -> None:
    """A stored grant opens `screen` with `actions` and its data scope (the screen's own by default;
    the holder's org subtree when `confined` and the screen's entity is an org-admin one) until
    `valid_until`: it must make sense, and its author must hold all of that."""
    target, wanted = grant_content(ctx, screen, actions, scope)
    if principal.superuser:
        return
    own = principal.grant(screen)
    missing = wanted - set(own.actions if own else ())
    if missing:
        shown = [f"{a}（{UNMASK_LABEL}）" if a == UNMASK else a for a in sorted(missing)]
        raise Invalid({"actions": f"不能授予自己没有的权限：{screen} {','.join(shown)}"})
    grant = EffectiveGrant(screen, wanted, None, (stored_scope(target, scope),), valid_until=valid_until)
    if confined:
        grant = confine(ctx.app, target, grant, ctx.plugins.org_admin_scopes())
    reason = exceeds(own, grant, validity=True)
    if reason:
        field = "valid_until" if reason.startswith("有效期") else "scope" if reason.startswith("数据范围") else "actions"
        raise Invalid({field: f"不能授予超出自己权限的授权：{reason}"})


async def check_user_write(service: "EntityService", principal: "Principal", clean: dict[str, Any],
                           before: dict[str, Any] | None) -> None:
    if clean.get("superuser") and not principal.superuser:
        raise Invalid({"superuser": "只有超级管理员才能设置超级管理员"})
    if "roles" in clean:
        await check_roles(service.ctx, principal, clean["roles"] or (), owner=("user", before["id"]) if before else None)


async def check_role_group_write(service: "EntityService", principal: "Principal", clean: dict[str, Any],
                                 before: dict[str, Any] | None) -> None:
    if "roles" in clean:
        await check_roles(service.ctx, principal, clean["roles"] or (),
                          owner=("role_group", before["id"]) if before else None)
