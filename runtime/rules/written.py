"""Entity hooks for the rows a rule writes: its bulk inserts and its closes are writes like any other.

Rules insert many rows at once (common.insert_many) instead of going through EntityService row by
row; afterwards, still inside the rule's transaction, the entity's `after_create` hooks run once per
new row (and `after_update` per closed alert), with a `WriteEvent` whose principal is None (the
system). So event notifications (`trigger:`), outbound feeds and cache refreshes see rule alerts;
whatever the hooks write commits or rolls back with the run. `before_*` hooks do not run: a rule's
values are built by the rule, not sent by a user.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from piccolo.query.functions.aggregate import Max

from specadmin.runtime.entities.service import EntityService
from specadmin.runtime.plugin import WriteEvent

if TYPE_CHECKING:
    from piccolo.table import Table

    from specadmin.runtime.app.context import AppContext


def listened(ctx: "AppContext", entity: str, hook: str = "after_create") -> bool:
    """Whether any plugin has a hook of that name for the entity (else reading ids back is skipped)."""
    return bool(ctx.plugins.hooks(entity, hook))


async def created(ctx: "AppContext", entity: str, rows: list[tuple[int, dict[str, Any]]]) -> None:
    """after_create hooks for (row id, values written) of each new row, in order."""
    hooks = ctx.plugins.hooks(entity, "after_create")
    if not hooks or not rows:
        return
    service = EntityService(ctx, entity)
    for row_id, values in rows:
        event = WriteEvent("create", service, None, row_id=row_id, data=dict(values), clean=dict(values),
                           columns=dict(values))
        for hook in hooks:
            await hook(event)


async def updated(ctx: "AppContext", entity: str, rows: list[tuple[int, dict[str, Any], dict[str, Any]]]) -> None:
    """after_update hooks for (row id, values before, values set) of each changed row."""
    hooks = ctx.plugins.hooks(entity, "after_update")
    if not hooks or not rows:
        return
    service = EntityService(ctx, entity)
    for row_id, before, values in rows:
        event = WriteEvent("update", service, None, row_id=row_id, data=dict(values), clean=dict(values),
                           columns=dict(values), before=dict(before))
        for hook in hooks:
            await hook(event)


async def last_id(table: type["Table"]) -> int:
    """The highest id of the table now (0 when empty): rows inserted after it in the same transaction
    are read back by `ids_after`. SQLite writes one transaction at a time, so those are exactly the
    rule's rows; on PostgreSQL a row of that table another transaction commits meanwhile would be
    read too (its hooks already ran in its own writer)."""
    pk = table._meta.primary_key
    row = await table.select(Max(pk, alias="m")).first()
    return (row or {}).get("m") or 0


async def ids_after(table: type["Table"], after: int) -> list[int]:
    pk = table._meta.primary_key
    return [r["id"] for r in await table.select(pk.as_alias("id")).where(pk > after).order_by(pk)]
