"""Data scope on references: what a user may point a ref field at, and pick in a drop-down.

A user who holds grants on screens of the target entity (e.g. a street user on 摄像头台账) sees
only the target rows inside those grants' scopes, so a ref written by that user must point at one
of those rows (otherwise binding one's own place to another street's camera would reveal that
camera through the binding's lookups), and the form's drop-down lists only those rows. A user
without any grant on the target's screens (reference tables such as orgs for most users) is not
restricted here: the written row's own scope check still applies.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from specadmin.runtime.security.ref_options import outside_options
from specadmin.runtime.security.scope import scope_path, scopes_condition, value_condition
from specadmin.runtime.data.values import Invalid
from specadmin.runtime.data.where import combine_and, combine_or

if TYPE_CHECKING:
    from collections.abc import Mapping

    from specadmin.specs.model import Entity, Field

    from specadmin.runtime.app.context import AppContext
    from specadmin.runtime.security.principal import Principal

UNRESTRICTED = None


def target_condition(ctx: "AppContext", principal: "Principal | None", target: str) -> Any:
    """Condition on the target table's rows the principal may reference; None when unrestricted."""
    if principal is None or getattr(principal, "superuser", False):
        return UNRESTRICTED
    scopes = []
    for screen in ctx.app.screens_of(target):
        grant = principal.grant(screen.name)
        if grant and ("list" in grant.actions or "read" in grant.actions):
            scopes.extend(grant.scopes)
    if not scopes:
        return UNRESTRICTED
    return scopes_condition(ctx, target, tuple(scopes), principal)


def ref_condition(ctx: "AppContext", principal: "Principal | None", target: str, ref_scope: str | None = None) -> Any:
    """The rows of `target` a ref may point at: a declared `ref_scope` (a plugin's, e.g. the roles
    one may hand out) or else the principal's grants on the target (target_condition)."""
    if ref_scope:
        if principal is None:
            return UNRESTRICTED
        return ctx.plugins.ref_scope(ref_scope)(ctx, principal)
    return target_condition(ctx, principal, target)


def field_condition(ctx: "AppContext", principal: "Principal | None", field: "Field") -> Any:
    """ref_condition of a ref field or action parameter."""
    return ref_condition(ctx, principal, field.to, field.ref_scope)


def offered_condition(ctx: "AppContext", principal: "Principal | None", screen: str | None,
                      entity: "Entity", field_name: str) -> Any:
    """Condition on the target rows a drop-down of ref field `field_name` offers on `screen`: those of
    target_condition, narrowed by the screen grant's scopes when each of them tests this very field
    (a street user's 街道, scoped own_and_sub on `street`: that street and those below it, not every
    org). Other scopes (`all`, or one through another path) leave target_condition as it is."""
    field = entity.field(field_name)
    base = target_condition(ctx, principal, field.to)
    if principal is None or getattr(principal, "superuser", False) or not screen:
        return base
    grant = principal.grant(screen)
    if grant is None or not grant.scopes:
        return base
    table = ctx.table(field.to)
    column = getattr(table, field.key) if field.key else table._meta.primary_key
    parts = []
    for scope in grant.scopes:
        if scope.mode == "all" or scope_path(scope) != field_name:
            return base
        parts.append(value_condition(ctx, column, scope, principal))
    return combine_and([base, combine_or(parts)])


async def check_refs(ctx: "AppContext", principal: "Principal", entity: "Entity", clean: dict[str, Any]) -> None:
    """Refuse ref and multi_ref values (being written) that point outside the principal's view, or
    (by id) at no row at all."""
    await check_ref_values(ctx, principal, {f.name: f for f in entity.fields}, clean)


async def check_ref_values(ctx: "AppContext", principal: "Principal", fields: "Mapping[str, Field]",
                           clean: dict[str, Any], labelled: bool = False) -> None:
    """check_refs over any fields by name (an entity's, or a custom action's parameters, whose
    messages start with the parameter's label: `labelled`)."""
    errors: dict[str, str] = {}
    for name, value in clean.items():
        if value in (None, "", []) or name not in fields:
            continue
        field = fields[name]
        if field.type not in ("ref", "multi_ref"):
            continue
        condition = field_condition(ctx, principal, field)
        table = ctx.table(field.to)
        column = getattr(table, field.key) if field.key else table._meta.primary_key
        wanted = set(value) if field.type == "multi_ref" else {value}
        if condition is UNRESTRICTED:
            # An id must name a stored row (the foreign key would refuse it with a database error);
            # a business-key ref may name a row that does not exist yet.
            if not field.key and await table.count().where(column.is_in(sorted(wanted))) < len(wanted):
                errors[name] = "所选记录不存在"
            continue
        visible = await table.count().where(combine_and([column.is_in(sorted(wanted)), condition]))
        # A business-key ref may name a row that does not exist yet (soft reference): only rows
        # that exist and lie outside the view are refused.
        expected = await table.count().where(column.is_in(sorted(wanted))) if field.key else len(wanted)
        if visible < expected:
            errors[name] = "所选记录不在您的数据权限范围内"
    for name, value in clean.items():  # choices narrowed by the field's `options:` (runtime/security/ref_options.py)
        if name in fields and name not in errors and fields[name].options:
            problem = await outside_options(ctx, principal, fields[name], value)
            if problem:
                errors[name] = problem
    if errors:
        raise Invalid({name: f"{fields[name].label}：{text}" if labelled else text for name, text in errors.items()})
