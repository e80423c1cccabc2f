"""The bound set of a `consecutive_days` or `threshold` rule: the rows of `bounds.entity` that are checked.

`bounds: {entity, key, where, min, max}`: `where` (a where clause, relative dates allowed) keeps
only some rows; each side is a field of the bounds entity (per-row thresholds; a row with neither
field set is skipped) or a literal number that applies to every row of the set.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from specadmin.runtime.data.where import where_of

if TYPE_CHECKING:
    from specadmin.specs.model import Rule

    from specadmin.runtime.app.context import AppContext

SIDES = ("min", "max")


def literal(value: Any) -> bool:
    """Whether a bound side is a literal number (else it names a field)."""
    return isinstance(value, (int, float)) and not isinstance(value, bool)


async def bound_rows(ctx: "AppContext", rule: "Rule") -> list[dict]:
    """{bid, k, min, max} per row of the bound set (sides not declared are absent)."""
    b = rule.bounds
    table = ctx.table(b["entity"])
    cols = [table._meta.primary_key.as_alias("bid"), getattr(table, b["key"]).as_alias("k")]
    present, fixed = [], {}
    for side in SIDES:
        value = b.get(side)
        if literal(value):
            fixed[side] = value
        elif value:
            col = getattr(table, value)
            cols.append(col.as_alias(side))
            present.append(col.is_not_null())
    query = table.select(*cols)
    if present and not fixed:  # with a literal side every row of the set has a bound
        query = query.where(present[0] if len(present) == 1 else present[0] | present[1])
    if b.get("where"):
        query = query.where(where_of(table, b["where"]))
    rows = await query
    if fixed:
        for row in rows:
            row.update(fixed)
    return rows
