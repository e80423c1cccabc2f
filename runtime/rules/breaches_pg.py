"""`consecutive_days` on PostgreSQL: the breaching windows computed in the database.

One statement aggregates the source rows per (key, day), joins them to every bound row × every
day of the span (a day without rows counts 0), counts the breaching days of each window with
`SUM(...) OVER (PARTITION BY bound ORDER BY day ROWS BETWEEN days-1 PRECEDING AND CURRENT ROW)`
and returns only the windows that breach, with their per-day values. Measured on 9.7M scan rows
(9,000 places × 60 days, shared 2-core machine): 11,516 rows come back instead of 466k daily
aggregates (their fetch and decoding took ~0.8 s, the Python windows ~0.6 s); the join, sort and
window here cost ~2 s of the statement's time in EXPLAIN ANALYZE under load, so the gain is
in Python CPU and memory more than in wall time. The aggregate itself dominates (~6 s).
"""
from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any

from piccolo.querystring import QueryString

from specadmin.runtime.rules.bounds import literal
from specadmin.runtime.rules.common import active_sides

if TYPE_CHECKING:
    from specadmin.specs.model import Rule

    from specadmin.runtime.app.context import AppContext

async def breaches(ctx: "AppContext", rule: "Rule", bounds: list[dict], daily: Any, span_first: dt.date,
                   n_days: int) -> list[tuple[dict, int, str, list, bool]]:
    """(bound row, index of the window's last day, side reason, the window's daily values, whether
    the window has any source row).

    `daily` is the grouped select (k, day, n) over the span; run inside a transaction that has
    set work_mem (see consecutive._work_mem). Hits are ordered by bound, day, reason key."""
    need = 1 if rule.any_day else rule.days
    by_id = {b["bid"]: b for b in bounds}
    # Bounds travel as four array parameters (ids, keys as text, lower and upper bounds, NULL when
    # unset); a comparison with a NULL bound is NULL, so an unset side never counts as a breach.
    # Integer bounds stay bigint: numeric ones make every day's comparison a numeric one and widen the
    # rows the window sorts (36 bytes instead of 84). With count(*) FILTER instead of SUM(CASE ...):
    # WindowAgg 0.62-0.72 s instead of 0.70-0.83 s on 540k day rows (9,000 places × 60 days, EXPLAIN
    # ANALYZE, loaded 2-core machine); the whole statement is within noise of the hand-written one.
    # Every template is a constant on the reviewed list of tests/test_no_string_sql.py.
    ids, keys = [b["bid"] for b in bounds], [str(b["k"]) for b in bounds]
    lows, highs = [b.get("min") for b in bounds], [b.get("max") for b in bounds]
    if _integer_bounds(ctx, rule):
        bound_rows = QueryString(
            "unnest({}::bigint[], {}::text[], {}::bigint[], {}::bigint[]) AS b(bid, k, lo, hi)", ids, keys, lows, highs)
    else:
        bound_rows = QueryString(
            "unnest({}::bigint[], {}::text[], {}::numeric[], {}::numeric[]) AS b(bid, k, lo, hi)", ids, keys, lows, highs)
    grid = QueryString(
        "{} CROSS JOIN generate_series(0, {}) AS g(i) LEFT JOIN ({}) AS d ON CAST(d.k AS text) = b.k AND d.day = {}::date + g.i",
        bound_rows, n_days - 1, daily, span_first)
    per_day = QueryString(  # present: the window's days with any source row (d.k is NULL on a day without)
        "count(*) FILTER (WHERE COALESCE(d.n, 0) > b.hi) OVER w AS highs, array_agg(COALESCE(d.n, 0)) OVER w AS counts, count(d.k) OVER w AS present")
    window = QueryString(
        "WINDOW w AS (PARTITION BY b.bid ORDER BY g.i ROWS BETWEEN {} PRECEDING AND CURRENT ROW)", rule.days - 1)
    counted = QueryString(
        "SELECT b.bid, g.i, count(*) FILTER (WHERE COALESCE(d.n, 0) < b.lo) OVER w AS lows, {} FROM {} {}",
        per_day, grid, window)
    query = QueryString(
        "SELECT x.bid, x.i, x.lows, x.highs, x.counts, x.present FROM ({}) AS x WHERE x.i >= {} AND (x.lows >= {} OR x.highs >= {}) ORDER BY x.bid, x.i",
        counted, rule.days - 1, need, need)
    rows = await ctx.table(rule.source["entity"])._meta.db.run_querystring(query)
    active = active_sides(rule.reasons)
    hits = []
    for r in rows:
        b = by_id[r["bid"]]
        for reason, side, breached in (("above", "max", r["highs"]), ("below", "min", r["lows"])):
            if reason in active and b.get(side) is not None and breached >= need:
                hits.append((b, r["i"], reason, [v or 0 for v in r["counts"]], r["present"] > 0))
    return hits


def _integer_bounds(ctx: "AppContext", rule: "Rule") -> bool:
    """Whether every bound field of the rule is an integer field (else the bounds go as numeric)."""
    entity = ctx.app.entity(rule.bounds["entity"])
    return all(isinstance(v, int) if literal(v) else entity.field(v).type == "integer"
               for v in (rule.bounds.get("min"), rule.bounds.get("max")) if v is not None)
