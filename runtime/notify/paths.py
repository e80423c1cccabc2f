"""Spec paths of notifications (`place.supervisor.head_phone`) as query columns and model fields."""
from __future__ import annotations

from typing import TYPE_CHECKING

from specadmin.specs.paths import ResolvedPath, resolve

from specadmin.runtime.data.paths import joined_column

if TYPE_CHECKING:
    from specadmin.runtime.app.context import AppContext


def column_of(table, path: str | ResolvedPath):
    """The Piccolo column reached from `table` by following the dotted path (joins through refs)."""
    return joined_column(table, path if isinstance(path, ResolvedPath) else path.split("."))


def final_field(ctx: "AppContext", entity: str, path: str):
    """(field at the end of the path, the entity it belongs to)."""
    resolved = resolve(ctx.app, entity, path)
    return resolved.field, ctx.app.entity(resolved.owner)


def target_of(ctx: "AppContext", entity: str, path: str) -> str:
    """The entity a path of refs ends at (org, user, …)."""
    return resolve(ctx.app, entity, path).target
