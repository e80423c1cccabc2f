"""Choices of a ref field narrowed for the current user by a spec declaration (`options:` of a field).

    event_type: {type: ref, to: event_type,
                 options: {from: dept_event_type, where: {org: $user.org}, values: event_types}}

The targets offered (the form's drop-down) and accepted (create, update: 422 on the field) are those
the `values` field (a ref or multi_ref to the same target) lists in the rows of `from` matching
`where` for this user (`$user`, `$user.org` or literals). When no row matches, `otherwise` decides:
`all` (the default: no configuration, no restriction) or `none`; `message` replaces the refusal's
wording. This is a business rule, not data
scope: it applies to superusers too, and adds to the scope of runtime/security/ref_scope.py.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from specadmin.runtime.data.where import combine_and

if TYPE_CHECKING:
    from specadmin.specs.model import Field

    from specadmin.runtime.app.context import AppContext
    from specadmin.runtime.security.principal import Principal

UNRESTRICTED = None
USER_VALUES = ("$user", "$user.org")


def _resolved(principal: "Principal", value: Any) -> Any:
    if value == "$user":
        return principal.user_id
    if value == "$user.org":
        return principal.org_id
    return value


async def allowed_targets(ctx: "AppContext", principal: "Principal | None", field: "Field") -> set | None:
    """The target values (ids, or keys of a `key:` ref) the user may choose in `field`; None: any."""
    spec = field.options
    if not spec or principal is None:
        return None
    source = ctx.table(spec["from"])
    parts = []
    for name, value in (spec.get("where") or {}).items():
        column, value = getattr(source, name), _resolved(principal, value)
        parts.append(column.is_null() if value is None else column == value)
    pk = source._meta.primary_key
    query = source.select(pk.as_alias("id"))
    if parts:
        query = query.where(combine_and(parts))
    owners = [r["id"] for r in await query]
    if not owners:
        return None if spec.get("otherwise", "all") == "all" else set()
    values = ctx.app.entity(spec["from"]).field(spec["values"])
    if values.type == "multi_ref":
        join = ctx.join_table(spec["from"], values.name)
        rows = await join.select(join.target.as_alias("v")).where(join.owner.is_in(owners))
    else:
        rows = await source.select(getattr(source, values.name).as_alias("v")).where(pk.is_in(owners))
    return {r["v"] for r in rows if r["v"] is not None}


def _target_column(ctx: "AppContext", field: "Field") -> Any:
    table = ctx.table(field.to)
    return getattr(table, field.key) if field.key else table._meta.primary_key


async def options_condition(ctx: "AppContext", principal: "Principal | None", field: "Field") -> Any:
    """Condition on the target table: the rows `field` offers this user; None when not narrowed."""
    allowed = await allowed_targets(ctx, principal, field)
    if allowed is None:
        return UNRESTRICTED
    column = _target_column(ctx, field)
    if not allowed:
        return ctx.table(field.to)._meta.primary_key.is_null()  # matches no row
    return column.is_in(sorted(allowed))


async def outside_options(ctx: "AppContext", principal: "Principal | None", field: "Field", value: Any) -> str | None:
    """The message refusing `value` (a ref value or a list of them) outside the field's options, else None."""
    allowed = await allowed_targets(ctx, principal, field)
    if allowed is None or value in (None, "", []):
        return None
    wanted = set(value) if isinstance(value, (list, tuple, set)) else {value}
    if {str(v) for v in wanted} <= {str(v) for v in allowed}:
        return None
    if field.options.get("message"):
        return field.options["message"]
    source = ctx.app.entity(field.options["from"]).label
    return f"“{field.label}”只能选择{source}中为您列出的项"


def narrowed(condition: Any, extra: Any) -> Any:
    """`condition` (or None) and the options condition (or None)."""
    if extra is UNRESTRICTED:
        return condition
    return extra if condition is None else combine_and([condition, extra])
