"""Aggregates over child rows (specs/aggregates.py) in SQL: a correlated scalar subquery per row.

`open_tasks: {aggregate: {of: task, via: event, agg: count, where: {state: open}}}` on `event` is
`(SELECT COUNT(*) FROM task WHERE task.event = event.id AND task.state = $1)`; a soft ref by business
key (`scan_record.place_code` → `place.place_code`) matches the child's key column to the parent's
key field instead of its id. `exists` is `EXISTS (SELECT id ...)`, `sum` of no rows is 0, `max`/`min`
of no rows is empty. The where clause is runtime/data/where.py's, with relative dates resolved
against its `clock` when the query is built. The child's ref column is indexed (a ref's column
always is, specs/physical.py), so a page costs one index range read per row shown; a sort or a
filter on an aggregate evaluates it for every row that matches the rest of the query.

It counts every child row, whoever reads the parent: the value belongs to the parent row, the same
on a page, in an export, a statistic, a rule, a job or a notification (which run for nobody), so a
tab such as "未完成任务数 = 0" lists the same rows for all who may see them.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from piccolo.columns.combination import And
from piccolo.query.functions.aggregate import Count, Max, Min, Sum
from piccolo.query.functions.conditional import Coalesce
from piccolo.querystring import QueryString
from specadmin.specs.model import Entity, Field

from specadmin.runtime.data.where import where_of

if TYPE_CHECKING:
    from specadmin.runtime.app.context import AppContext

FUNCTIONS = {"max": Max, "min": Min, "sum": Sum}


def via_of(ctx: "AppContext", entity: Entity, spec) -> Field:
    """The child's ref that points at `entity` (named by `via`, else its only one)."""
    child = ctx.app.entity(spec["of"])
    if spec.get("via"):
        return child.field(spec["via"])
    return next(f for f in child.fields if f.type == "ref" and f.to == entity.name)


def aggregate_sql(ctx: "AppContext", entity: Entity, f: Field, table) -> QueryString:
    """The field's value as of now: a scalar subquery over the child table, correlated to `table`."""
    spec = f.aggregate
    child = ctx.table(spec["of"])
    via = via_of(ctx, entity, spec)
    parent_key = getattr(table, via.key) if via.key else table._meta.primary_key
    condition = getattr(child, via.name) == parent_key
    if spec.get("where"):
        condition = And(condition, where_of(child, spec["where"]))
    agg = spec["agg"]
    if agg == "exists":
        return QueryString("EXISTS ({})", child.select(child._meta.primary_key).where(condition).querystrings[0])
    measure = Count() if agg == "count" else FUNCTIONS[agg](getattr(child, spec["field"]))
    inner = QueryString("({})", child.select(measure).where(condition).querystrings[0])
    return Coalesce(inner, 0) if agg == "sum" else inner
