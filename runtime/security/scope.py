"""The one data-scope filter builder, applied to every list, read, write, export and statistic.

A scope names a path to an org (or user) field; each hop through a ref becomes an
`IN (SELECT ...)` subquery, so the filter stays index-friendly and never loads rows.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from specadmin.specs.model import Scope
from specadmin.specs.paths import resolve

from specadmin.runtime.data.paths import in_chain, leaf_column
from specadmin.runtime.data.where import combine_or, never

if TYPE_CHECKING:
    from specadmin.runtime.app.context import AppContext
    from specadmin.runtime.security.principal import Principal

DEFAULT_FIELD = {"own_records": "created_by", "participated": "id"}  # participated tests the row itself


def scope_path(scope: Scope) -> str:
    """The path from the scoped entity to the org (or user, or attribute) field the scope compares."""
    return scope.field or DEFAULT_FIELD.get(scope.mode, "org")


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
    builder = ctx.plugins.scope_mode(scope.mode)  # a mode a plugin adds (e.g. 我参与 for the workflow)
    if builder is None:
        raise ValueError(f"unknown scope mode {scope.mode}")
    return builder(ctx, column, scope, principal)


def value_condition(ctx: "AppContext", column, scope: Scope, principal: "Principal") -> Any:
    """The scope's test on the values of `column` (the field its path ends at, or the column that
    field points to): e.g. own_and_sub on a street ref, applied to the org table's ids, gives the
    user's street and those below it. Never None: a scope that matches nothing gives `never`."""
    condition = _leaf_condition(ctx, column, scope, principal)
    return never(column._meta.table) if condition is None else condition


def participated_condition(ctx: "AppContext", entity_name: str, scope: Scope, principal: "Principal") -> Any:
    """我参与: `id IN (SELECT <ref> FROM <through> WHERE <field> is the user's org [or below])`, the
    org test being the own_unit (own_and_sub with `and_sub`) scope on the through entity's path."""
    through = scope.through
    if through is None:
        raise ValueError("scope participated needs `through`")
    acted = ctx.table(through.entity)
    by_org = scope_condition(ctx, through.entity, Scope(mode="own_and_sub" if scope.and_sub else "own_unit",
                                                        field=through.field), principal)
    ref = getattr(acted, through.ref)
    return ctx.table(entity_name)._meta.primary_key.is_in(acted.select(ref).where(by_org))


def scope_condition(ctx: "AppContext", entity_name: str, scope: Scope, principal: "Principal") -> Any:
    """A Piccolo condition for one scope; None means unrestricted (`all`)."""
    table = ctx.table(entity_name)
    if scope.mode == "all":
        return None
    if scope.mode == "participated":
        return participated_condition(ctx, entity_name, scope, principal)
    # Condition the last hop's table, then wrap outward in subqueries.
    path = resolve(ctx.app, entity_name, scope_path(scope))
    condition = _leaf_condition(ctx, leaf_column(ctx, path), scope, principal)
    if condition is None:
        return never(table)
    return in_chain(ctx, path, condition)


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
