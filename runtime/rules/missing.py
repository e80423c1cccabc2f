"""`missing_reference`: source keys that have no row in the target, created from the newest source row.

Kaiping's nightly comparison (requirements §2.2 (c)): place IDs found in scan records but not in
the place table become places with no supervising unit (so they show under 未设置), taking
ID, name, category, city, street and manager from the newest scan of that ID. The anti-join
runs in the database (`key NOT IN (SELECT key FROM target)`); a second run finds nothing left.
"""
from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any

from specadmin.runtime.rules import written
from specadmin.runtime.rules.common import build_values, decoded, insert_many

if TYPE_CHECKING:
    from specadmin.specs.model import Rule

    from specadmin.runtime.app.context import AppContext


async def missing_keys(ctx: "AppContext", rule: "Rule") -> list[Any]:
    source, target = rule.source, rule.target
    src = ctx.table(source["entity"])
    tgt = ctx.table(target["entity"])
    key_col = getattr(src, source["key"])
    rows = await (src.select(key_col.as_alias("k")).distinct()
                  .where(key_col.is_not_null(), key_col.not_in(tgt.select(getattr(tgt, target["key"])))))
    return sorted(r["k"] for r in rows if r["k"] not in (None, ""))


async def evaluate(ctx: "AppContext", rule: "Rule", first_end: dt.date | None = None,
                   last_end: dt.date | None = None) -> dict[str, Any]:
    """Dates do not matter here: whatever is missing now is created now."""
    source = rule.source
    src_entity = ctx.app.entity(source["entity"])
    src = ctx.table(src_entity.name)
    key_col = getattr(src, source["key"])
    newest = getattr(src, source.get("newest") or "id")
    created_entity = ctx.app.entity(rule.creates["entity"])
    table = ctx.table(created_entity.name)
    keys = await missing_keys(ctx, rule)
    rows = []
    for key in keys:
        latest = await src.select().where(key_col == key).order_by(newest, ascending=False).first()
        row = decoded(ctx, src_entity, latest or {})
        rows.append(build_values(ctx, created_entity, rule.creates["fields"], {"$key": key}, row))
    if rows:
        async with table._meta.db.transaction() as tx:
            after = await written.last_id(table) if written.listened(ctx, created_entity.name) else None
            await insert_many(tx.connection, table, rows)
            if after is not None:
                await written.created(ctx, created_entity.name, list(zip(await written.ids_after(table, after), rows)))
    return {"created": len(rows), "keys": keys[:50]}
