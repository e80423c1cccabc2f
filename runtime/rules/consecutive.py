"""`consecutive_days`: N consecutive calendar days with the daily measure outside the bounds.

The database does the heavy part: one grouped query computes the daily measure per (key, day)
over the whole span (`GROUP BY key, date(x)`). On SQLite those aggregates (at most places × days
small rows) come back and windows are slid over them with prefix sums; on PostgreSQL the windows
are counted in the same statement and only breaching ones come back (breaches_pg.py). Either
way a day without rows counts as 0. Alerts are raised once: a window overlapping an alert that
already exists (or was just raised) for the same bound row and reason is skipped, so
re-running a day, or backfilling a range, creates nothing twice.
"""
from __future__ import annotations

import datetime as dt
from collections import defaultdict
from typing import TYPE_CHECKING, Any

from piccolo.query.functions.aggregate import Count, Sum
from piccolo.querystring import QueryString

from specadmin.runtime.data.db import is_sqlite
from specadmin.runtime.stats.query import DateOf
from specadmin.runtime.rules import breaches_pg
from specadmin.runtime.rules.bounds import bound_rows
from specadmin.runtime.rules import written
from specadmin.runtime.rules.closing import close_stale
from specadmin.runtime.rules.common import (active_sides, as_date, day_range, insert_many, period_label, reason_of,
                                            row_builder, token_field)

if TYPE_CHECKING:
    from specadmin.specs.model import Rule

    from specadmin.runtime.app.context import AppContext

REASON_SIDES = (("below", "min"), ("above", "max"))
LONG_SPAN = 14  # days; see daily_measures
KEY_CHUNK = 500
BATCH = 500  # alerts per executemany; their ids are then read back by one select naming up to BATCH owners


async def daily_measures(ctx: "AppContext", rule: "Rule", first: dt.date, last: dt.date,
                         keys: list | None = None) -> dict[Any, dict[dt.date, float]]:
    """{key: {day: measure}} for days in [first, last] that have rows, from one grouped query.

    On SQLite a long span (a backfill) is read in chunks of keys instead: the key index then
    drives the scan, where the date index would fetch every row of the span at random (4x slower
    measured on 2M rows). PostgreSQL aggregates the whole span in one pass, with work_mem sized
    for the groups (see _work_mem)."""
    if keys is not None and is_sqlite(ctx.engine) and (last - first).days > LONG_SPAN:
        out: dict[Any, dict[dt.date, float]] = {}
        for i in range(0, len(keys), KEY_CHUNK):
            out.update(await _grouped(ctx, rule, first, last, keys[i:i + KEY_CHUNK], KEY_CHUNK))
        return out
    return await _grouped(ctx, rule, first, last, None, len(keys or ()))


def _daily_query(ctx: "AppContext", rule: "Rule", first: dt.date, last: dt.date, only: list | None):
    """The grouped select: (k, day, n) per key and day with rows in [first, last]."""
    source = rule.source
    table = ctx.table(source["entity"])
    key_col = getattr(table, source["key"])
    date_col = getattr(table, source["date"])
    date_type = ctx.app.entity(source["entity"]).field(source["date"]).type
    measure = Count(alias="n") if rule.measure == "count" else Sum(getattr(table, rule.measure_field), alias="n")
    conditions = day_range(date_col, date_type, first, last)
    if only is not None:
        conditions.append(key_col.is_in(only))
    return (table.select(key_col.as_alias("k"), DateOf(date_col, alias="day"), measure)
            .where(*conditions).group_by(key_col, QueryString("date({})", date_col)))


async def _grouped(ctx: "AppContext", rule: "Rule", first: dt.date, last: dt.date,
                   only: list | None, n_keys: int) -> dict[Any, dict[dt.date, float]]:
    query = _daily_query(ctx, rule, first, last, only)
    if is_sqlite(ctx.engine):
        rows = await query
    else:
        async with ctx.table(rule.source["entity"])._meta.db.transaction():
            await _set_work_mem(ctx, rule, first, last, n_keys)
            rows = await query
    out: dict[Any, dict[dt.date, float]] = defaultdict(dict)
    days: dict[Any, dt.date] = {}  # a span has few distinct days: each is parsed once, not once per key
    for r in rows:
        day = days.get(r["day"])
        if day is None:
            day = days[r["day"]] = as_date(r["day"])
        out[r["k"]][day] = r["n"] or 0
    return out


async def _set_work_mem(ctx: "AppContext", rule: "Rule", first: dt.date, last: dt.date, n_keys: int) -> None:
    """Settings for the current transaction only. JIT off: the planner's estimate of 3M+ groups
    makes it compile 38 functions with full optimisation, 0.8 s of the 10.3 s measured, for a
    statement that runs once a night."""
    db = ctx.table(rule.source["entity"])._meta.db
    for name, value in (("work_mem", _work_mem(first, last, n_keys)), ("jit", "off")):
        await db.run_querystring(QueryString("SELECT set_config({}, {}, true)", name, value))


def _work_mem(first: dt.date, last: dt.date, keys: int) -> str:
    """Memory for the grouped query's hash table: keys × days groups at ~200 bytes each.

    With PostgreSQL's default 4 MB the 466k groups of the benchmark (9,000 places × 60 days) spill
    to 64 disk partitions: 10.4 s instead of 5.5 s measured (EXPLAIN ANALYZE, 9.7M rows). The
    setting is local to the query's transaction; bounded so a huge backfill cannot ask for more
    than 1 GB (it then spills, as before)."""
    groups = max(keys, 1) * ((last - first).days + 1)
    return f"{min(max(groups * 200 // 2**20, 64), 1024)}MB"


def windows(counts: list[float], days: int, low: float | None, high: float | None, any_day: bool,
            reasons: dict[str, str]) -> list[tuple[int, str]]:
    """(index of the window's last day, reason key) for each breaching window, in day order."""
    hits = []
    for reason, side in REASON_SIDES:
        bound = low if side == "min" else high
        if reason not in reasons or bound is None:
            continue
        breach = [(c < bound) if side == "min" else (c > bound) for c in counts]
        prefix = [0]
        for b in breach:
            prefix.append(prefix[-1] + b)
        for end in range(days - 1, len(counts)):
            n = prefix[end + 1] - prefix[end + 1 - days]
            if (n >= 1) if any_day else (n == days):
                hits.append((end, reason))
    hits.sort()
    return hits


async def existing_alerts(ctx: "AppContext", rule: "Rule", first: dt.date, last: dt.date) -> dict[tuple, list]:
    """{(owner, reason key): [(start, end)]} for alerts overlapping [first, last]."""
    fields = rule.creates["fields"]
    table = ctx.table(rule.creates["entity"])
    owner = token_field(fields, "$bound") or token_field(fields, "$key")
    start, end, reason = (getattr(table, token_field(fields, t)) for t in ("$start", "$end", "$reason"))
    rows = await table.select(getattr(table, owner).as_alias("o"), start.as_alias("s"), end.as_alias("e"),
                              reason.as_alias("r")).where(start <= last, end >= first)
    out: dict[tuple, list] = defaultdict(list)
    for r in rows:
        out[(r["o"], r["r"])].append((as_date(r["s"]), as_date(r["e"])))
    return out


async def evaluate(ctx: "AppContext", rule: "Rule", first_end: dt.date, last_end: dt.date) -> dict[str, Any]:
    """Raise alerts for every window ending on a day in [first_end, last_end]."""
    span_first = first_end - dt.timedelta(days=rule.days - 1)
    n_days = (last_end - span_first).days + 1
    bounds = await bound_rows(ctx, rule)
    if is_sqlite(ctx.engine):
        hits = await _hits_in_python(ctx, rule, bounds, span_first, last_end, n_days)
    else:
        source = ctx.table(rule.source["entity"])
        async with source._meta.db.transaction():
            await _set_work_mem(ctx, rule, span_first, last_end, len(bounds))
            daily = _daily_query(ctx, rule, span_first, last_end, None).querystrings[0]
            hits = await breaches_pg.breaches(ctx, rule, bounds, daily,
                                              span_first, n_days)
    existing = await existing_alerts(ctx, rule, span_first, last_end)
    owner_token = "$bound" if token_field(rule.creates["fields"], "$bound") else "$key"
    planned, still = [], set()
    for b, end, side, values, had_rows in hits:  # in day order per bound row: earlier windows win overlaps
        reason = reason_of(rule.reasons, side, had_rows)
        if reason is None:
            continue
        owner = b["bid"] if owner_token == "$bound" else b["k"]
        if end == n_days - 1:
            still.add((owner, reason))
        start_day = span_first + dt.timedelta(days=end - rule.days + 1)
        end_day = span_first + dt.timedelta(days=end)
        taken = existing[(owner, reason)]
        if any(s <= end_day and e >= start_day for s, e in taken):
            continue
        taken.append((start_day, end_day))
        planned.append((b, start_day, end_day, reason, values))
    latest = {b["bid"] if owner_token == "$bound" else b["k"]: last_end for b in bounds} if rule.closes else {}
    created, closed = await _insert(ctx, rule, planned, latest, still)
    return {"created": created, "closed": closed, "places": len(bounds), "days": n_days}


async def _hits_in_python(ctx: "AppContext", rule: "Rule", bounds: list[dict], span_first: dt.date,
                          last_end: dt.date, n_days: int) -> list[tuple[dict, int, str, list, bool]]:
    """SQLite: daily aggregates fetched, windows slid here (see breaches_pg for PostgreSQL)."""
    measures = await daily_measures(ctx, rule, span_first, last_end, sorted({b["k"] for b in bounds}))
    reasons = dict.fromkeys(active_sides(rule.reasons), "")
    calendar = [span_first + dt.timedelta(days=i) for i in range(n_days)]
    hits = []
    for b in bounds:
        per_day = measures.get(b["k"], {})
        counts = [per_day.get(day, 0) for day in calendar]
        for end, reason in windows(counts, rule.days, b.get("min"), b.get("max"), rule.any_day, reasons):
            days = calendar[end - rule.days + 1: end + 1]
            hits.append((b, end, reason, counts[end - rule.days + 1: end + 1], any(d in per_day for d in days)))
    return hits


async def _insert(ctx: "AppContext", rule: "Rule", planned: list, latest: dict, still: set) -> tuple[int, int]:
    """Alerts and their per-day rows in one transaction, in batches (tens of thousands on a backfill),
    then the closes (closing.close_stale); returns (created, closed).

    Each batch of alerts is one executemany of Piccolo's compiled INSERT (common.insert_many); their
    ids are then read back by (owner, start, reason), which identifies an alert raised here: no
    other alert of that owner and reason overlaps its window (see evaluate). Per-day rows follow,
    one executemany per batch; then the alert entity's after_create hooks run for the batch's alerts
    (runtime/rules/written.py; per-day rows are details written with their alert, without hooks)."""
    if not planned and not latest:
        return 0, 0
    creates = rule.creates
    entity = ctx.app.entity(creates["entity"])
    table = ctx.table(entity.name)
    fields = creates["fields"]
    owner, start_f, reason_f = (token_field(fields, t) for t in
                                ("$bound" if token_field(fields, "$bound") else "$key", "$start", "$reason"))
    days_spec = creates.get("days")
    day_entity = ctx.app.entity(days_spec["entity"]) if days_spec else None
    day_table = ctx.table(day_entity.name) if days_spec else None
    alert_values = row_builder(ctx, entity, fields)
    day_values = row_builder(ctx, day_entity, days_spec["fields"]) if days_spec else None
    hooked = written.listened(ctx, entity.name)
    async with table._meta.db.transaction() as tx:
        closed = await close_stale(ctx, rule, "$end", latest, still)
        for chunk in range(0, len(planned), BATCH):
            part = planned[chunk:chunk + BATCH]
            rows = []
            for b, start, end, reason, _ in part:
                tokens = {"$bound": b["bid"], "$key": b["k"], "$start": start, "$end": end,
                          "$period": period_label(start, end), "$reason": reason}
                rows.append(alert_values(tokens))
            await insert_many(tx.connection, table, rows)
            if not days_spec and not hooked:
                continue
            keys = [(b["bid"] if owner_is_bound(fields) else b["k"], start, reason) for b, start, _, reason, _ in part]
            ids = await _new_ids(table, owner, start_f, reason_f, keys)
            if days_spec:
                day_rows = []
                for (b, start, _, reason, counts), key in zip(part, keys):
                    day_rows += [day_values({"$parent": ids[key], "$date": start + dt.timedelta(days=i), "$value": value})
                                 for i, value in enumerate(counts)]
                await insert_many(tx.connection, day_table, day_rows)
            await written.created(ctx, entity.name, [(ids[key], values) for key, values in zip(keys, rows)])
    return len(planned), closed


async def _new_ids(table, owner: str, start_f: str, reason_f: str, keys: list[tuple]) -> dict[tuple, int]:
    """{(owner, start, reason): id} of the alerts just inserted (inside their transaction): one select
    on the batch's owners and start days. Should a concurrent run have raised the same alert, the newest
    row (the highest id) is taken."""
    start_col = getattr(table, start_f)
    pk = table._meta.primary_key
    rows = await table.select(pk.as_alias("id"), getattr(table, owner).as_alias("o"), start_col.as_alias("s"),
                              getattr(table, reason_f).as_alias("r")).where(
        getattr(table, owner).is_in(sorted({k[0] for k in keys})),
        start_col >= min(k[1] for k in keys), start_col <= max(k[1] for k in keys)).order_by(pk)
    wanted = set(keys)
    ids = {}
    for r in rows:
        key = (r["o"], as_date(r["s"]), r["r"])
        if key in wanted:
            ids[key] = r["id"]
    return ids


def owner_is_bound(fields: Any) -> bool:
    return token_field(fields, "$bound") is not None
