"""Spec paths of notifications (`place.supervisor.head_phone`) as query columns and model fields."""
from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from specadmin.runtime.app.context import AppContext


def column_of(table, path: str):
    """The Piccolo column reached from `table` by following the dotted path (joins through refs)."""
    col = table
    for part in path.split("."):
        col = getattr(col, part)
    return col


def final_field(ctx: "AppContext", entity: str, path: str):
    """(field at the end of the path, the entity it belongs to)."""
    parts = path.split(".")
    for part in parts[:-1]:
        entity = ctx.app.entity(entity).field(part).to
    return ctx.app.entity(entity).field(parts[-1]), ctx.app.entity(entity)


def target_of(ctx: "AppContext", entity: str, path: str) -> str:
    """The entity a path of refs ends at (org, user, …)."""
    return final_field(ctx, entity, path)[0].to
