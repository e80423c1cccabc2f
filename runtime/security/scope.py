"""The one data-scope filter builder, applied to every list, read, write, export and statistic.

A scope names a path to an org (or user) field; each hop through a ref becomes an
`IN (SELECT ...)` subquery, so the filter stays index-friendly and never loads rows.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from specadmin.specs.model import Scope

from specadmin.runtime.data.where import combine_or, never

if TYPE_CHECKING:
    from specadmin.runtime.app.context import AppContext
    from specadmin.runtime.security.principal import Principal

DEFAULT_FIELD = {"own_records": "created_by"}


def _org_condition(ctx: "AppContext", column, scope: Scope, principal: "Principal"):
    org_id = principal.org_id
    if org_id is None:
        return None  # a user without an org matches nothing in an org scope
    if scope.mode in ("own_unit", "self_only"):
        return column == org_id
    org_table = ctx.table("org")
    own_path = ctx.org_path(org_id)
    if own_path is None:
        return column == org_id if scope.mode == "own_and_sub" else None
    below = org_table.select(org_table._meta.primary_key).where(org_table.path.like(f"{own_path}%"))
    if scope.mode == "own_and_sub":
        return column.is_in(below)
    return column.is_in(org_table.select(org_table._meta.primary_key).where(
        org_table.path.like(f"{own_path}%"), org_table._meta.primary_key != org_id))


def _leaf_condition(ctx: "AppContext", column, scope: Scope, principal: "Principal"):
    if scope.mode in ("own_unit", "self_only", "own_and_sub", "sub_only"):
        return _org_condition(ctx, column, scope, principal)
    if scope.mode == "own_records":
        return column == principal.user_id
    if scope.mode == "field_equals_user":
        value = principal.attrs.get(scope.user_attr or "")
        return None if value is None else column == value
    raise ValueError(f"unknown scope mode {scope.mode}")


def scope_condition(ctx: "AppContext", entity_name: str, scope: Scope, principal: "Principal") -> Any:
    """A Piccolo condition for one scope; None means unrestricted (`all`)."""
    table = ctx.table(entity_name)
    if scope.mode == "all":
        return None
    path = (scope.field or DEFAULT_FIELD.get(scope.mode, "org")).split(".")
    # Walk down to the last hop, then wrap outward in subqueries.
    hops = []
    current = ctx.app.entity(entity_name)
    for part in path[:-1]:
        f = current.field(part)
        hops.append((current.name, f))
        current = ctx.app.entity(f.to)
    leaf_table = ctx.table(current.name)
    condition = _leaf_condition(ctx, getattr(leaf_table, path[-1]), scope, principal)
    if condition is None:
        return never(table)
    for owner_name, f in reversed(hops):
        target = ctx.table(f.to)
        key_column = getattr(target, f.key) if f.key else target._meta.primary_key
        condition = getattr(ctx.table(owner_name), f.name).is_in(target.select(key_column).where(condition))
    return condition


def scopes_condition(ctx: "AppContext", entity_name: str, scopes: tuple[Scope, ...], principal: "Principal") -> Any:
    """OR of several grants' scopes; None when any of them is `all`."""
    parts = []
    for scope in scopes:
        cond = scope_condition(ctx, entity_name, scope, principal)
        if cond is None:
            return None
        parts.append(cond)
    if not parts:
        return never(ctx.table(entity_name))
    return combine_or(parts)
