"""The Principal an API caller acts as: its role's grants, scope `all` unless the grant names one.

A caller is not a person: it has no user row (user_id 0, so `own_records` scopes match
nothing) and often no org. A screen's default scope is written for the people of an
org (本级, 本级及下级); for a partner system it would hide every row, so callers get
`all` there. A scope written on the role's spec grant, and the org-subtree confinement
of org-admin roles on identity screens, still narrow what a caller sees.

The role counts as it does for people (identity.access): active and within its validity
period, with its template's spec grants, its stored grants in force and those of role
groups holding it. Function rules may close a screen; 登录均可访问 does not open one to
callers, which are not logged-in users.
"""
from __future__ import annotations

import dataclasses
import datetime as dt
from typing import TYPE_CHECKING, Any

from specadmin.runtime.identity.access import groups_of_roles, in_force, role_ends, stored_grants
from specadmin.runtime.identity.functions import function_rules
from specadmin.runtime.security.principal import (
    EffectiveGrant,
    FunctionRule,
    Principal,
    effective_grants,
)
from specadmin.specs.model import Scope

if TYPE_CHECKING:
    from specadmin.runtime.app.context import AppContext

CALLER_USER_ID = 0  # no sys_user row has id 0; the operation log stores NULL as operator instead


def _scoped(role_row: dict[str, Any]) -> bool:
    return bool(role_row.get("admin_org_scope")) or role_row.get("org") is not None


def widen_defaults(ctx: "AppContext", codes: tuple[str, ...],
                   grants: dict[str, EffectiveGrant]) -> dict[str, EffectiveGrant]:
    """Replace a screen's default scope by `all`; keep scopes the spec grant names or confinement set."""
    explicit = {g.screen for role in ctx.app.roles if role.name in codes for g in role.grants if g.scope is not None}
    out = {}
    for name, g in grants.items():
        if name not in explicit and g.scopes == (ctx.app.screen(name).scope,):
            g = dataclasses.replace(g, scopes=(Scope("all"),))
        out[name] = g
    return out


async def _closing_rules(ctx: "AppContext") -> dict[str, FunctionRule]:
    # Keep what closes a function (inactive, level above 1), drop what opens one (logged_in, anonymous).
    return {name: FunctionRule("authorized", rule.level, rule.active) for name, rule in (await function_rules(ctx)).items()}


async def caller_principal(ctx: "AppContext", caller: dict[str, Any]) -> Principal:
    """Build the Principal for one api_caller row (id, code, name, role, org)."""
    today = dt.date.today()
    roles: list[dict[str, Any]] = []
    if caller.get("role"):
        role = ctx.table("role")
        rows = await role.select(role.id, role.code, role.org, role.admin_org_scope, role.template, role.valid_from,
                                 role.valid_to).where(role.id == caller["role"], role.active == True)  # noqa: E712
        roles = [r for r in rows if in_force(r, today)]
    groups = await groups_of_roles(ctx, roles)
    stored = await stored_grants(ctx, CALLER_USER_ID, roles, groups, today)
    codes = tuple(dict.fromkeys(c for r in roles for c in (r["code"], r["template"]) if c))
    scoped_codes = {c for r in roles if _scoped(r) for c in (r["code"], r["template"]) if c}
    superuser = any(r.superuser for r in ctx.app.roles if r.name in codes)
    grants = effective_grants(ctx.app, codes, superuser, stored, scoped_codes=scoped_codes,
                              functions=await _closing_rules(ctx), confined=ctx.plugins.org_admin_scopes(),
                              role_ends=role_ends(roles), withheld=ctx.plugins.withheld_actions(ctx))
    org_id = caller.get("org")
    return Principal(
        user_id=CALLER_USER_ID, username=f"api:{caller['code']}", name=caller["name"], org_id=org_id,
        org_name=ctx.org_names.get(org_id, "") if org_id else "", superuser=False, roles=codes,
        grants=widen_defaults(ctx, codes, grants), attrs={"api_caller": caller["id"]},
    )
