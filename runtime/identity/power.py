"""Power comparisons: nobody acts on a person (or role) with more power than themself, and nobody
hands out more than they hold.

"More power" is measured on effective grants: a screen the actor lacks, an action on it the
actor lacks, clear (unmasked) view the actor lacks, or a wider data scope (`all` where the actor
has a narrower one, or a scope on another path). Superusers are acted on only by superusers.
Handing out also compares validity: a grant or role may not last longer than the actor's own
grant on that screen. Taking over an account (a password reset) is acting on it, so an org admin
cannot reset the password of a colleague whose grants it does not itself hold.
"""
from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any, Mapping

from specadmin.specs.model import UNMASK, Scope

from specadmin.runtime.errors import Denied
from specadmin.runtime.security.principal import EffectiveGrant, Principal
from specadmin.runtime.security.scope import scope_path

if TYPE_CHECKING:
    from specadmin.runtime.app.context import AppContext

ORG_MODES = frozenset(("own_unit", "self_only", "sub_only", "own_and_sub"))
WRITE_ACTIONS = frozenset(("create", "update"))  # the actions whose form fields count


def _covers_scope(held: tuple[Scope, ...], wanted: Scope) -> bool:
    if any(s.mode == "all" for s in held):
        return True
    if wanted.mode == "all":
        return False
    for s in held:
        if scope_path(s) != scope_path(wanted):
            continue
        if s.mode == wanted.mode and s.user_attr == wanted.user_attr and s.through == wanted.through and (
                s.and_sub or not wanted.and_sub):
            return True
        if s.mode == "own_and_sub" and wanted.mode in ORG_MODES:
            return True  # the person acted on sits inside the actor's subtree (the identity scopes see to it)
    return False


def _lasts_longer(wanted: dt.date | None, held: dt.date | None) -> bool:
    return held is not None and (wanted is None or wanted > held)


def exceeds(held: EffectiveGrant | None, wanted: EffectiveGrant, *, validity: bool = False) -> str | None:
    """Why `wanted` is more than `held` (a short Chinese reason), or None when it is not."""
    if held is None:
        return "无该菜单权限"
    missing = wanted.actions - held.actions
    if missing - {UNMASK}:
        return f"无操作权限 {','.join(sorted(missing - {UNMASK}))}"
    if missing:  # `unmask`, or `clear_view: true` in a spec role: clear view counts as one power
        return "无明文查看权限"
    if wanted.actions & WRITE_ACTIONS and held.fields is not None and (
            wanted.fields is None or not wanted.fields <= held.fields):
        return "可编辑字段超出"
    if not all(_covers_scope(held.scopes, s) for s in wanted.scopes):
        return "数据范围超出"
    if validity and _lasts_longer(wanted.valid_until, held.valid_until):
        return f"有效期超出（自己的权限至 {held.valid_until}）"
    return None


def first_excess(ctx: "AppContext", actor: Principal, grants: Mapping[str, EffectiveGrant], *,
                 validity: bool = False) -> str | None:
    """“页面：原因” for the first grant in `grants` that is more than the actor holds; None if none."""
    if actor.superuser:
        return None
    for name, wanted in sorted(grants.items()):
        reason = exceeds(actor.grant(name), wanted, validity=validity)
        if reason:
            return f"{ctx.app.screen(name).label}：{reason}"
    return None


async def check_may_act_on_user(ctx: "AppContext", actor: Principal | None, row: dict[str, Any]) -> None:
    """Refuse a change to, or an action on, a person with more power than the actor."""
    from specadmin.runtime.identity.access import build_principal

    if actor is None or actor.superuser:
        return
    target = await build_principal(ctx, row)
    if target.superuser:
        raise Denied("只有超级管理员才能操作超级管理员账号")
    excess = first_excess(ctx, actor, target.grants)
    if excess:
        raise Denied(f"不能操作权限高于自己的人员（{excess}）")


async def role_grants(ctx: "AppContext", role_row: dict[str, Any]) -> tuple[bool, dict[str, EffectiveGrant]]:
    """(superuser, grants) that holding this role confers, as for a holder (identity.access)."""
    from specadmin.runtime.identity.access import _scoped, role_ends, stored_grants
    from specadmin.runtime.security.principal import effective_grants

    codes = tuple(dict.fromkeys(c for c in (role_row["code"], role_row.get("template")) if c))
    superuser = any(r.superuser for r in ctx.app.roles if r.name in codes)
    stored = await stored_grants(ctx, -1, [role_row], {}, dt.date.today())
    grants = effective_grants(ctx.app, codes, superuser, stored, scoped_codes=codes if _scoped(role_row) else (),
                              confined=ctx.plugins.org_admin_scopes(), role_ends=role_ends([role_row]), withheld=ctx.plugins.withheld_actions(ctx))
    return superuser, grants


async def check_may_hand_out_roles(ctx: "AppContext", actor: Principal, role_ids, field: str) -> None:
    """Refuse roles that confer more than the actor holds (screens, actions, scope, validity)."""
    from specadmin.runtime.data.values import Invalid

    if actor.superuser or not role_ids:
        return
    role = ctx.table("role")
    rows = await role.select(role.id, role.code, role.label, role.org, role.admin_org_scope, role.template,
                             role.valid_from, role.valid_to).where(role.id.is_in(sorted(set(role_ids))))
    for row in rows:
        superuser, grants = await role_grants(ctx, row)
        excess = "超级管理员" if superuser else first_excess(ctx, actor, grants, validity=True)
        if excess:
            raise Invalid({field: f"不能分配权限高于自己的角色“{row['label']}”（{excess}）"})


async def check_may_act_on_role(ctx: "AppContext", actor: Principal | None, row: dict[str, Any]) -> None:
    """Changing a role (its validity, its flags) changes the power of everyone holding it."""
    if actor is None or actor.superuser:
        return
    superuser, grants = await role_grants(ctx, row)
    excess = "超级管理员" if superuser else first_excess(ctx, actor, grants, validity=True)
    if excess:
        raise Denied(f"不能修改权限高于自己的角色（{excess}）")
