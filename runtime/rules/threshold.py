"""`threshold`: a row's value crosses a bound (for IoT readings and indicators).

Each source row dated inside the range is compared with the bounds of its key (min/max
fields of the bounds entity, looked up by business key). A row already turned into an alert
is not raised again: the created entity keeps `$source` (the source row id) or, when that is
not mapped, the (owner, day, reason) triple is the identity. With `closes`, an owner's newest
row in the range decides: open alerts of that owner dated on or before it, of another reason than
the one that row breaches (or all, when it is within bounds), are closed (closing.py).
"""
from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any

from specadmin.runtime.rules import written
from specadmin.runtime.rules.closing import close_stale
from specadmin.runtime.rules.common import as_date, day_range, insert_many, row_builder, token_field
from specadmin.runtime.rules.bounds import bound_rows

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
    owner_token = "$bound" if token_field(fields, "$bound") else "$key"
    new_rows, newest = [], {}
    for r in rows:
        b = bounds[r["k"]]
        if "below" in reasons and b.get("min") is not None and r["v"] < b["min"]:
            reason = reasons["below"]
        elif "above" in reasons and b.get("max") is not None and r["v"] > b["max"]:
            reason = reasons["above"]
        else:
            reason = None
        owner = b["bid"] if owner_token == "$bound" else r["k"]
        mark = (as_date(r["d"]), str(r["d"]), r["sid"])
        if owner not in newest or mark > newest[owner][0]:
            newest[owner] = (mark, reason)
        if reason is None:
            continue
        tokens = {"$bound": b["bid"], "$key": r["k"], "$date": as_date(r["d"]), "$value": r["v"],
                  "$reason": reason, "$source": r["sid"]}
        identity = _identity(fields, tokens)
        if identity in seen:
            continue
        seen.add(identity)
        new_rows.append(build(tokens))
    latest = {owner: mark[0] for owner, (mark, _) in newest.items()} if rule.closes else {}
    still = {(owner, reason) for owner, (_, reason) in newest.items() if reason is not None}
    closed = 0
    if new_rows or latest:
        async with table._meta.db.transaction() as tx:  # all or nothing, as the one INSERT it was
            after = await written.last_id(table) if new_rows and written.listened(ctx, entity.name) else None
            closed = await close_stale(ctx, rule, "$date", latest, still)
            await insert_many(tx.connection, table, new_rows)
            if after is not None:
                await written.created(ctx, entity.name, list(zip(await written.ids_after(table, after), new_rows)))
    return {"created": len(new_rows), "closed": closed}


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
