"""A resolved spec path (specadmin.specs.paths) as Piccolo SQL.

- `joined_column`: `table.ref_a.ref_b.field`, Piccolo's joins through foreign keys (refs by id);
- `in_chain`: a condition on the entity at the end of the path, wrapped outward hop by hop in
  `ref IN (SELECT key FROM target WHERE …)`, so it stays index-friendly and never loads rows;
- `key_column`: the column of a hop's target that its ref stores (its business key, or the id).
"""
from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from specadmin.specs.paths import Hop, ResolvedPath

if TYPE_CHECKING:
    from specadmin.runtime.app.context import AppContext


def joined_column(table, path: ResolvedPath | Iterable[str]):
    """The Piccolo column reached from `table` by following the path's parts (joins through refs)."""
    column = table
    for part in path.names if isinstance(path, ResolvedPath) else path:
        column = getattr(column, part)
    return column


def leaf_column(ctx: "AppContext", path: ResolvedPath):
    """The final field's own column, on the table of the entity it belongs to (no joins)."""
    return getattr(ctx.table(path.owner), path.name)


def key_column(ctx: "AppContext", hop: Hop):
    """The target's column a ref of the hop holds: its business `key`, or the primary key."""
    target = ctx.table(hop.target)
    key = hop.field.key
    return getattr(target, key) if key else target._meta.primary_key


def in_chain(ctx: "AppContext", path: ResolvedPath, condition: Any) -> Any:
    """`condition` (on the path's final table) as a condition on its start table, one subquery per hop."""
    for hop in reversed(path.hops):
        target = ctx.table(hop.target)
        condition = getattr(ctx.table(hop.entity), hop.name).is_in(target.select(key_column(ctx, hop)).where(condition))
    return condition
