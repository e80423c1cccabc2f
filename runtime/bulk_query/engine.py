"""Run the look-up of one batch: match its items' keys against the source entity in SQL.

Keys go to the database in IN-chunks (by blind index when the key is sensitive), so a
10,000-row batch costs a few dozen statements, never one query per row. The look-up reaches the
source rows the uploader could find by an exact key on the source's screens (`source_reach`),
and every run is in the operation log. The newest matching
source row is copied onto each item (sensitive values as their stored tokens and blind
indexes: nothing is decrypted), the matches within `recent_days` are counted from the same
rows, and the items are rewritten with one parameterised executemany UPDATE.
"""
from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any

from specadmin.specs.model import BulkQuery, Screen
from specadmin.specs.physical import blind_index_column

from specadmin.runtime.data import audit
from specadmin.runtime.data.db import is_sqlite
from specadmin.runtime.data.where import never
from specadmin.runtime.errors import Denied, NotFound

if TYPE_CHECKING:
    from specadmin.runtime.app.context import AppContext
    from specadmin.runtime.security.principal import Principal

CHUNK = 1000  # bound parameters per IN (): far below SQLite's and asyncpg's limits


def bulk_screen(ctx: AppContext, name: str) -> tuple[Screen, BulkQuery]:
    try:
        screen = ctx.app.screen(name)
    except KeyError:
        raise NotFound(f"没有名为 {name} 的页面") from None
    if screen.bulk_query is None:
        raise NotFound(f"{screen.label} 不是批量查询页面")
    return screen, screen.bulk_query


def key_column(ctx: AppContext, entity: str, name: str) -> str:
    return blind_index_column(name) if ctx.app.entity(entity).field(name).sensitive else name


def copied_columns(ctx: AppContext, spec: BulkQuery) -> list[tuple[str, str]]:
    """(item column, source column) pairs; a sensitive field brings its blind index along."""
    pairs = []
    for target, origin in spec.copy.items():
        pairs.append((target, origin))
        if ctx.app.entity(spec.source).field(origin).sensitive:
            pairs.append((blind_index_column(target), blind_index_column(origin)))
    return pairs


def _as_datetime(value: Any) -> Any:
    # SQLite may hand back ISO text; ordering needs one type.
    if isinstance(value, str):
        try:
            return dt.datetime.fromisoformat(value)
        except ValueError:
            return value
    if isinstance(value, dt.date) and not isinstance(value, dt.datetime):
        return dt.datetime.combine(value, dt.time.min)
    return value


def source_reach(ctx: AppContext, principal: Principal, spec: BulkQuery) -> Any:
    """Which source rows the look-up may reach: as an exact look-up by the key on the source
    entity's screens the user holds (their list scope, widened where a screen declares `lookup:`
    for the key); nothing without such a screen. None: every row."""
    from specadmin.runtime.entities.service import EntityService

    service = EntityService(ctx, spec.source)
    try:
        grants = service.grants(principal, "list", None)
    except Denied:
        return never(service.table)
    return service._scope_for(principal, grants, {spec.source_key: "?"})


async def lookup(ctx: AppContext, spec: BulkQuery, keys: list[Any], now: dt.datetime,
                 within: Any = None) -> tuple[dict, dict]:
    """{key: newest source row (copied columns)}, {key: matches since now - recent_days}.

    One indexed IN query per chunk brings every match (a person has a handful of tests); the
    newest row and the recent count are picked from those rows, so no second pass is needed."""
    source = ctx.table(spec.source)
    skey = getattr(source, key_column(ctx, spec.source, spec.source_key))
    pairs = copied_columns(ctx, spec)
    columns = [skey, getattr(source, spec.newest)] + [getattr(source, o) for _, o in pairs if o != spec.newest]
    since = _as_datetime(now - dt.timedelta(days=spec.recent_days))
    newest: dict[Any, dict] = {}
    recent: dict[Any, int] = {}
    kname = skey._meta.name
    for start in range(0, len(keys), CHUNK):
        query = source.select(*columns).where(skey.is_in(keys[start:start + CHUNK]))
        for row in await (query.where(within) if within is not None else query):
            k = row[kname]
            stamp = _as_datetime(row[spec.newest])
            best = newest.get(k)
            if best is None or (stamp is not None and (best["__stamp"] is None or stamp > best["__stamp"])):
                newest[k] = {**row, "__stamp": stamp}
            if stamp is not None and stamp >= since:
                recent[k] = recent.get(k, 0) + 1
    return newest, recent


async def run_query(ctx: AppContext, screen_name: str, batch_id: int, *, only_pending: bool,
                    principal: Principal) -> dict[str, Any]:
    """Query one batch (its scope was checked by the caller) as `principal` would look each key up
    (`source_reach`). only_pending: items not yet matched."""
    _, spec = bulk_screen(ctx, screen_name)
    items, batch = ctx.table(spec.items), ctx.table(ctx.app.screen(screen_name).entity)
    pk = items._meta.primary_key
    link = getattr(items, spec.batch_field)
    ikey = key_column(ctx, spec.items, spec.key)
    where = [link == batch_id]
    if only_pending:
        where.append(items.queried == False)  # noqa: E712 (a Piccolo condition, not a comparison)
    rows = await items.select(pk, getattr(items, ikey)).where(*where)
    now = dt.datetime.now().replace(microsecond=0)
    keys = list({r[ikey] for r in rows if r[ikey] is not None})
    newest, recent = await lookup(ctx, spec, keys, now, source_reach(ctx, principal, spec))
    await audit.record(ctx, principal, "action", spec.source, None, ctx.app.entity(spec.source).label, None,
                       {"lookup": {spec.source_key: f"{len(keys)} 个"}, "by": "bulk_query", "batch": batch_id})
    pairs = copied_columns(ctx, spec)
    names = [t for t, _ in pairs] + ([spec.recent_count] if spec.recent_count else []) + ["queried", "queried_at"]
    updates = []
    for r in rows:
        hit = newest.get(r[ikey])
        values = [hit.get(o) if hit else None for _, o in pairs]
        if spec.recent_count:
            values.append(recent.get(r[ikey], 0))
        updates.append(tuple(values) + (hit is not None, now, r["id"]))
    await _update_many(ctx, items, names, updates)
    matched = await items.count().where(link == batch_id, items.queried == True)  # noqa: E712
    total = await items.count().where(link == batch_id)
    await batch.update({batch.queried_count: matched, batch.row_count: total, batch.status: "done",
                        batch.last_queried_at: now}, force=True).where(batch._meta.primary_key == batch_id)
    return {"batch": batch_id, "looked_up": len(rows), "matched": sum(1 for r in rows if r[ikey] in newest),
            "queried_count": matched, "row_count": total}


async def _update_many(ctx: AppContext, table, names: list[str], rows: list[tuple]) -> None:
    """One compiled UPDATE ... WHERE id = ? sent as executemany on the current transaction's
    connection (a custom action runs inside one), or in a transaction of its own."""
    if not rows:
        return
    engine = table._meta.db
    sample = table.update({getattr(table, n): None for n in names}, force=True).where(table._meta.primary_key == 0)
    engine_type = "sqlite" if is_sqlite(engine) else "postgres"
    sql, _ = sample.querystrings[0].compile_string(engine_type=engine_type)
    sql = sql.rpartition(" RETURNING ")[0] or sql
    async with engine.transaction() as tx:
        await tx.connection.executemany(sql, rows)
