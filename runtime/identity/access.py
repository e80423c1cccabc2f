"""Load what a logged-in user may do: roles in force, role groups, stored grants in force,
org-admin confinement and function rules, combined into a Principal.

A role is in force when it is active and today lies within its validity period; a stored
grant when it has no `valid_until` or that day has not passed. Identity-screen grants are
confined to the holder's org subtree (see principal.confine) unless they come from a global
role: one without owning org and without the org-admin flag.
"""
from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any

from piccolo.columns.combination import And, Or

from specadmin.runtime.security.principal import Principal, StoredGrant, effective_grants
from specadmin.runtime.identity.functions import function_rules

if TYPE_CHECKING:
    from specadmin.runtime.app.context import AppContext


def in_force(row: dict[str, Any], today: dt.date) -> bool:
    start, end = row.get("valid_from"), row.get("valid_to")
    return (start is None or start <= today) and (end is None or end >= today)


async def _roles(ctx: "AppContext", user_id: int, today: dt.date) -> list[dict[str, Any]]:
    role, join = ctx.table("role"), ctx.join_table("user", "roles")
    rows = await role.select(role.id, role.code, role.org, role.admin_org_scope, role.template, role.valid_from,
                             role.valid_to).where(
        role.id.is_in(join.select(join.target).where(join.owner == user_id)), role.active == True)  # noqa: E712
    return [r for r in rows if in_force(r, today)]


async def groups_of_roles(ctx: "AppContext", roles: list[dict[str, Any]]) -> dict[int, bool]:
    """Active groups holding any of the roles → whether their grants are confined."""
    if not roles:
        return {}
    group, join = ctx.table("role_group"), ctx.join_table("role_group", "roles")
    scoped_roles = {r["id"] for r in roles if _scoped(r)}
    rows = await join.select(join.owner, join.target, join.owner.org.as_alias("group_org")).where(
        join.target.is_in([r["id"] for r in roles]),
        join.owner.is_in(group.select(group.id).where(group.active == True)))  # noqa: E712
    out: dict[int, bool] = {}
    for r in rows:
        out[r["owner"]] = out.get(r["owner"], False) or r["group_org"] is not None or r["target"] in scoped_roles
    return out


def _scoped(role_row: dict[str, Any]) -> bool:
    return bool(role_row.get("admin_org_scope")) or role_row.get("org") is not None


def _earlier(a: dt.date | None, b: dt.date | None) -> dt.date | None:
    return b if a is None else a if b is None else min(a, b)


def role_ends(roles: list[dict[str, Any]]) -> dict[str, dt.date | None]:
    """Role code (and template) → the last day the role is valid (None: no end)."""
    ends: dict[str, dt.date] = {}
    for r in roles:
        end = r.get("valid_to") or dt.date.max
        for code in filter(None, (r["code"], r.get("template"))):
            ends[code] = max(ends.get(code, dt.date.min), end)
    return {code: None if end == dt.date.max else end for code, end in ends.items()}


async def stored_grants(ctx: "AppContext", user_id: int, roles: list[dict[str, Any]],
                        groups: dict[int, bool], today: dt.date) -> list[StoredGrant]:
    grant = ctx.table("grant")
    role_end = {r["id"]: r.get("valid_to") for r in roles}
    condition: Any = grant.user == user_id
    if roles:
        condition = Or(condition, grant.role.is_in([r["id"] for r in roles]))
    if groups:
        condition = Or(condition, grant.role_group.is_in(list(groups)))
    condition = And(condition, Or(grant.valid_until.is_null(), grant.valid_until >= today))
    scoped_roles = {r["id"] for r in roles if _scoped(r)}
    out = []
    for g in await grant.select(grant.screen, grant.actions, grant.role, grant.role_group, grant.user,
                                grant.valid_until, grant.scope).where(condition):
        until = g["valid_until"]
        if g["role"] is not None:
            scoped = g["role"] in scoped_roles
            until = _earlier(until, role_end.get(g["role"]))
        elif g["role_group"] is not None:
            scoped = groups.get(g["role_group"], True)
        else:  # a grant to one person: confined, or an org admin could widen itself through grant_admin
            scoped = True
        out.append(StoredGrant(g["screen"], g["actions"], scoped, until, g["scope"] or "default"))
    return out


async def build_principal(ctx: "AppContext", row: dict[str, Any], auth_level: int = 1) -> Principal:
    today = dt.date.today()
    user_id = row["id"]
    roles = await _roles(ctx, user_id, today)
    groups = await groups_of_roles(ctx, roles)
    stored = await stored_grants(ctx, user_id, roles, groups, today)
    codes = tuple(dict.fromkeys([r["code"] for r in roles] + [r["template"] for r in roles if r["template"]]))
    global_codes = {c for r in roles if not _scoped(r) for c in (r["code"], r["template"]) if c}
    scoped_codes = {c for r in roles if _scoped(r) for c in (r["code"], r["template"]) if c} - global_codes
    superuser = bool(row["superuser"]) or any(r.superuser for r in ctx.app.roles if r.name in codes)
    confined = ctx.plugins.org_admin_scopes()
    grants = effective_grants(ctx.app, codes, superuser, stored, scoped_codes=scoped_codes,
                              functions=await function_rules(ctx), auth_level=auth_level, confined=confined,
                              role_ends=role_ends(roles), withheld=ctx.plugins.withheld_actions(ctx))
    org_id = row.get("org")
    org_admin = not superuser and any(
        g.scopes and all(s.mode == "own_and_sub" for s in g.scopes)
        for name, g in grants.items() if ctx.app.screen(name).entity in confined)
    return Principal(
        user_id=user_id, username=row["username"], name=row.get("name") or row["username"], org_id=org_id,
        org_name=ctx.org_names.get(org_id, "") if org_id else "", superuser=superuser, roles=codes,
        grants=grants, attrs={k: v for k, v in row.items() if k != "password"}, auth_level=auth_level,
        org_admin=org_admin,
    )
