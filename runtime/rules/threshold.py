"""`threshold`: a row's value crosses a bound (for IoT readings and indicators).

Each source row dated inside the range is compared with the bounds of its key (min/max
fields of the bounds entity, looked up by business key). A row already turned into an alert
is not raised again: the created entity keeps `$source` (the source row id) or, when that is
not mapped, the (owner, day, reason) triple is the identity.
"""
from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any

from specadmin.runtime.rules.common import as_date, day_range, insert_many, row_builder, token_field
from specadmin.runtime.rules.consecutive import bound_rows

if TYPE_CHECKING:
    from specadmin.specs.model import Rule

    from specadmin.runtime.app.context import AppContext


async def evaluate(ctx: "AppContext", rule: "Rule", first: dt.date, last: dt.date) -> dict[str, Any]:
    source = rule.source
    src = ctx.table(source["entity"])
    date_type = ctx.app.entity(source["entity"]).field(source["date"]).type
    date_col, key_col, value_col = (getattr(src, source[k]) for k in ("date", "key", "value"))
    bounds = {b["k"]: b for b in await bound_rows(ctx, rule)}
    if not bounds:
        return {"created": 0}
    rows = await src.select(src._meta.primary_key.as_alias("sid"), key_col.as_alias("k"), date_col.as_alias("d"),
                            value_col.as_alias("v")).where(*day_range(date_col, date_type, first, last),
                                                           key_col.is_in(list(bounds)), value_col.is_not_null())
    fields = rule.creates["fields"]
    entity = ctx.app.entity(rule.creates["entity"])
    table = ctx.table(entity.name)
    seen = await _seen(table, fields, first, last)
    reasons = dict(rule.reasons or {})
    build = row_builder(ctx, entity, fields)
    new_rows = []
    for r in rows:
        b = bounds[r["k"]]
        if "below" in reasons and b.get("min") is not None and r["v"] < b["min"]:
            reason = reasons["below"]
        elif "above" in reasons and b.get("max") is not None and r["v"] > b["max"]:
            reason = reasons["above"]
        else:
            continue
        tokens = {"$bound": b["bid"], "$key": r["k"], "$date": as_date(r["d"]), "$value": r["v"],
                  "$reason": reason, "$source": r["sid"]}
        identity = _identity(fields, tokens)
        if identity in seen:
            continue
        seen.add(identity)
        new_rows.append(build(tokens))
    if new_rows:
        async with table._meta.db.transaction() as tx:  # all or nothing, as the one INSERT it was
            await insert_many(tx.connection, table, new_rows)
    return {"created": len(new_rows)}


def _identity(fields: Any, tokens: dict) -> tuple:
    names = ("$source",) if token_field(fields, "$source") else ("$bound", "$key", "$date", "$reason")
    return tuple(tokens[t] if t != "$date" else as_date(tokens[t]) for t in names if token_field(fields, t))


async def _seen(table, fields: Any, first: dt.date, last: dt.date) -> set[tuple]:
    names = ("$source",) if token_field(fields, "$source") else ("$bound", "$key", "$date", "$reason")
    cols = [token_field(fields, t) for t in names if token_field(fields, t)]
    query = table.select(*(getattr(table, c) for c in cols))
    if date_field := token_field(fields, "$date"):
        query = query.where(getattr(table, date_field) >= first, getattr(table, date_field) <= last)
    seen = set()
    for r in await query:
        seen.add(tuple(as_date(r[c]) if t == "$date" else r[c] for t, c in zip(
            [t for t in names if token_field(fields, t)], cols)))
    return seen
