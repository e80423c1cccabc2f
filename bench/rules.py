"""Benchmark: Kaiping's scan_anomaly rule over 10,000 places × 60 days and 10,000,000 scan rows.

    .venv/bin/python bench/rules.py [--backend sqlite|postgres|both] [--size small|medium|full] [--scans N] [--places N]

PostgreSQL comes from SPECADMIN_BENCH_DATABASE_URL (its public schema is dropped and rebuilt).
Scans are loaded with COPY (PostgreSQL) or executemany (SQLite), the secondary indexes of scan_record
dropped for the load and built again after it, then timed, twice each, interleaved
(hand-written, rule, hand-written, rule; the alerts are deleted before the second rule run):
  rule         — runtime.rules.engine.evaluate over the windows ending on each of the last 54 days
                 (one grouped query, windows over the aggregates, alerts and per-day rows inserted);
  hand-written — one SQL statement written for this rule by hand (below, per database): daily counts,
                 the 7-day windows of every place with thresholds, and the alerts a rule run raises
                 (a run of consecutive breaching windows raises every 7th: alerts never overlap), with
                 their per-day counts; it returns them and inserts nothing. PostgreSQL gets the rule's
                 settings (work_mem sized the same way, JIT off) in its transaction.
Both must give the same alerts (place, window end, reason, per-day counts); the best times and the
ratio rule/hand-written are printed. Targets: rule ≤ 10 s on PostgreSQL, ratio ≤ 1.1.

The rule writes its alerts in bulk inside its one transaction (runtime/rules/common.insert_many:
executemany of the compiled INSERT on SQLite, COPY on PostgreSQL; the per-day rows likewise), and
both statements read scan_record through the same covering index (place_code, scanned_at, …), which
the rule's (key, date) index derivation asks for (specs/physical.rule_indexes). The hand-written one
inserts nothing, so the rule's ratio includes writing 1,886 alerts and 13,202 per-day rows.

Measured 2026-12-07, --size full (10,000 places, 9,742,408 scans, 1,886 alerts), 2 shared cores,
load average (1/5/15 min) before → after the timed runs; best of two interleaved runs each:
  SQLite      rule 10.18 s, hand-written 10.60 s: 0.96x (load 6.63 7.75 6.81 → 5.98 7.40 6.74)
  PostgreSQL  rule  9.66 s, hand-written  9.43 s: 1.02x (load 7.15 7.20 6.77 → 7.78 7.35 6.84)
An earlier full run of the same code (before the load dropped indexes) gave 0.77x on SQLite (11.44 s
vs 14.92 s) and 0.99x on PostgreSQL (11.00 s vs 11.16 s) at load 8.8-9.2: the spread is the machine's.
A full run takes ~13 minutes at that load, most of it generating and loading the 10M rows (SQLite
427 s, PostgreSQL 179 s); --size small or medium for a quick check.
"""
from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import os
import random
import shutil
import sqlite3
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DAYS = 60
FIRST = dt.date(2026, 1, 1)
# (places, scan rows): full is Kaiping's size (10,000 places, 60 days of scans); small and medium
# keep a quick check quick on a loaded machine.
SIZES = {"small": (1_000, 1_000_000), "medium": (3_000, 3_000_000), "full": (10_000, 10_000_000)}
LEVELS = (0, 3, 10, 25, 45)  # mean daily scans per place ≈ 16.6: 10k places × 60 days ≈ 10M rows


def plan(n_places: int, n_scans: int, seed: int = 7):
    """Places (code, min, max) and per-place daily counts totalling about n_scans."""
    rng = random.Random(seed)
    scale = n_scans / (n_places * DAYS * sum(LEVELS) / len(LEVELS))
    places, counts = [], []
    for i in range(n_places):
        level = rng.choice(LEVELS) * scale
        # Thresholds fit each place's usual flow; 1 in 50 places has thresholds its flow breaches
        # (min above it, or max below it), so alerts are the exception as in production.
        low, high = max(0, round(level * 0.3) - 1), round(level * 2) + 5
        if i % 50 == 7:
            low = round(level) + 3
        elif i % 50 == 31 and level >= 3:
            high = max(0, round(level * 0.3))
        if i % 10 == 9:
            low, high = None, None
        places.append((f"44078{i:06d}", low, high))
        counts.append([max(0, round(level + rng.uniform(-level / 2, level / 2))) if rng.random() > 0.03 else 0
                       for _ in range(DAYS)])
    return places, counts


def scan_rows(places, counts):
    rng = random.Random(11)
    for (code, _, _), per_day in zip(places, counts):
        for d, n in enumerate(per_day):
            base = dt.datetime.combine(FIRST + dt.timedelta(days=d), dt.time())
            for _ in range(n):
                yield code, base + dt.timedelta(seconds=rng.randrange(86400))


async def load(ctx, backend: str, places, counts) -> int:
    place = ctx.table("place")
    rows = [place(place_code=c, name=f"场所{c}", min_daily=lo, max_daily=hi) for c, lo, hi in places]
    for i in range(0, len(rows), 1000):
        await place.insert(*rows[i:i + 1000])
    total = 0
    if backend == "postgres":
        import asyncpg

        conn = await asyncpg.connect(os.environ["SPECADMIN_BENCH_DATABASE_URL"])
        try:
            # Secondary indexes are dropped for the load and built again after it (minutes saved at
            # 10M rows); the rule and the hand-written statement then read the same indexes as before.
            indexes = [r["indexdef"] for r in await conn.fetch(
                "SELECT indexdef FROM pg_indexes WHERE tablename = 'scan_record' AND indexname NOT LIKE '%pkey'")]
            for ddl in indexes:
                await conn.execute("DROP INDEX " + ddl.split(" INDEX ", 1)[1].split(" ON ", 1)[0])
            batch = []
            for row in scan_rows(places, counts):
                batch.append(row)
                if len(batch) >= 500_000:
                    await conn.copy_records_to_table("scan_record", records=batch, columns=["place_code", "scanned_at"])
                    total += len(batch)
                    batch = []
            if batch:
                await conn.copy_records_to_table("scan_record", records=batch, columns=["place_code", "scanned_at"])
                total += len(batch)
            for ddl in indexes:
                await conn.execute(ddl)
            # VACUUM as autovacuum would on an insert-only table: sets hint bits and the visibility
            # map now, so neither the rule nor the naive run (whichever reads first) pays for them.
            await conn.execute("VACUUM ANALYZE scan_record")
        finally:
            await conn.close()
    else:
        db = sqlite3.connect(ctx.app_dir / "var" / "app.sqlite3")
        db.execute("PRAGMA journal_mode = WAL")
        indexes = db.execute("SELECT name, sql FROM sqlite_master WHERE type = 'index' AND tbl_name = 'scan_record' "
                             "AND sql IS NOT NULL").fetchall()
        for name, _ in indexes:
            db.execute(f'DROP INDEX "{name}"')
        batch = []
        for code, at in scan_rows(places, counts):
            batch.append((code, at.strftime("%Y-%m-%d %H:%M:%S")))
            if len(batch) >= 500_000:
                db.executemany("INSERT INTO scan_record (place_code, scanned_at) VALUES (?, ?)", batch)
                total += len(batch)
                batch = []
        if batch:
            db.executemany("INSERT INTO scan_record (place_code, scanned_at) VALUES (?, ?)", batch)
            total += len(batch)
        db.commit()
        for _, ddl in indexes:
            db.execute(ddl)
        db.commit()
        db.execute("ANALYZE")
        db.close()
    return total


# The hand-written baselines. Parameters: first instant, end instant (exclusive), span start day,
# number of days in the span, window length.
HAND_SQLITE = """
WITH RECURSIVE cal(i, day) AS (
    SELECT 0, :span UNION ALL SELECT i + 1, date(day, '+1 day') FROM cal WHERE i + 1 < :n_days),
daily AS (
    SELECT place_code AS k, date(scanned_at) AS day, COUNT(*) AS n FROM scan_record
    WHERE scanned_at >= :lo AND scanned_at < :hi GROUP BY place_code, date(scanned_at)),
grid AS (
    SELECT p.id AS bid, cal.i, COALESCE(d.n, 0) AS n, p.min_daily AS lo, p.max_daily AS hi
    FROM place p CROSS JOIN cal LEFT JOIN daily d ON d.k = p.place_code AND d.day = cal.day
    WHERE p.min_daily IS NOT NULL OR p.max_daily IS NOT NULL),
w AS (
    SELECT bid, i, SUM(n < lo) OVER win AS lows, SUM(n > hi) OVER win AS highs, group_concat(n) OVER win AS counts
    FROM grid WINDOW win AS (PARTITION BY bid ORDER BY i ROWS BETWEEN :days - 1 PRECEDING AND CURRENT ROW)),
hits AS (
    SELECT w.bid, w.i, r.reason, w.counts FROM w JOIN (SELECT 'below' AS reason UNION ALL SELECT 'above') AS r
    WHERE w.i >= :days - 1 AND CASE r.reason WHEN 'below' THEN w.lows ELSE w.highs END = :days),
runs AS (SELECT *, i - ROW_NUMBER() OVER (PARTITION BY bid, reason ORDER BY i) AS grp FROM hits)
SELECT bid, i, reason, counts FROM (SELECT *, MIN(i) OVER (PARTITION BY bid, reason, grp) AS s FROM runs)
WHERE (i - s) % :days = 0
"""
HAND_POSTGRES = """
WITH daily AS (
    SELECT place_code AS k, scanned_at::date AS day, count(*) AS n FROM scan_record
    WHERE scanned_at >= $1 AND scanned_at < $2 GROUP BY 1, 2),
grid AS (
    SELECT p.id AS bid, g.i, COALESCE(d.n, 0) AS n, p.min_daily AS lo, p.max_daily AS hi
    FROM place p CROSS JOIN generate_series(0, $4 - 1) AS g(i)
    LEFT JOIN daily d ON d.k = p.place_code AND d.day = $3::date + g.i
    WHERE p.min_daily IS NOT NULL OR p.max_daily IS NOT NULL),
w AS (
    SELECT bid, i, count(*) FILTER (WHERE n < lo) OVER win AS lows, count(*) FILTER (WHERE n > hi) OVER win AS highs,
           array_agg(n) OVER win AS counts
    FROM grid WINDOW win AS (PARTITION BY bid ORDER BY i ROWS BETWEEN $5 - 1 PRECEDING AND CURRENT ROW)),
hits AS (
    SELECT w.bid, w.i, r.reason, w.counts FROM w CROSS JOIN LATERAL (VALUES ('below', w.lows), ('above', w.highs)) AS r(reason, c)
    WHERE w.i >= $5 - 1 AND r.c = $5),
runs AS (SELECT *, i - row_number() OVER (PARTITION BY bid, reason ORDER BY i) AS grp FROM hits)
SELECT bid, i, reason, counts FROM (SELECT *, min(i) OVER (PARTITION BY bid, reason, grp) AS s FROM runs) x
WHERE (i - s) % $5 = 0
"""


async def hand_written(ctx, backend: str, first_end: dt.date, last_end: dt.date, days: int) -> set[tuple]:
    """{(place id, window end, reason, per-day counts)} from the one hand-written statement."""
    from specadmin.runtime.rules.consecutive import _work_mem

    span = first_end - dt.timedelta(days=days - 1)
    n_days = (last_end - span).days + 1
    lo, hi = dt.datetime.combine(span, dt.time()), dt.datetime.combine(last_end + dt.timedelta(days=1), dt.time())
    if backend == "postgres":
        import asyncpg

        conn = await asyncpg.connect(os.environ["SPECADMIN_BENCH_DATABASE_URL"])
        try:
            async with conn.transaction():
                places = await conn.fetchval("SELECT count(*) FROM place WHERE min_daily IS NOT NULL OR max_daily IS NOT NULL")
                await conn.execute(f"SET LOCAL work_mem = '{_work_mem(span, last_end, places)}'")
                await conn.execute("SET LOCAL jit = off")
                rows = await conn.fetch(HAND_POSTGRES, lo, hi, span, n_days, days)
        finally:
            await conn.close()
        return {(r["bid"], span + dt.timedelta(days=r["i"]), r["reason"], tuple(r["counts"])) for r in rows}
    db = sqlite3.connect(ctx.app_dir / "var" / "app.sqlite3")
    try:
        rows = db.execute(HAND_SQLITE, {"span": span.isoformat(), "n_days": n_days, "days": days,
                                        "lo": lo.strftime("%Y-%m-%d %H:%M:%S"),
                                        "hi": hi.strftime("%Y-%m-%d %H:%M:%S")}).fetchall()
    finally:
        db.close()
    return {(bid, span + dt.timedelta(days=i), reason, tuple(int(c) for c in counts.split(",")))
            for bid, i, reason, counts in rows}


async def raised(ctx) -> set[tuple]:
    """{(place id, window end, reason, per-day counts)} of the alerts the rule wrote."""
    alert, day = ctx.table("scan_alert"), ctx.table("scan_alert_day")
    counts: dict[int, list] = {}
    for r in await day.select(day.alert, day.scan_count).order_by(day.alert).order_by(day.day):
        counts.setdefault(r["alert"], []).append(r["scan_count"])
    return {(r["place"], r["period_end"] if isinstance(r["period_end"], dt.date) else dt.date.fromisoformat(r["period_end"]),
             r["reason"], tuple(counts.get(r["id"], ()))) for r in
            await alert.select(alert.id, alert.place, alert.period_end, alert.reason)}


async def run(backend: str, n_places: int, n_scans: int) -> None:
    sys.path.insert(0, str(ROOT / "tests"))
    from conftest import copy_app, reset_postgres
    from specadmin.cli import _migrate
    from specadmin.runtime.data import db
    from specadmin.runtime.app.context import AppContext
    from specadmin.runtime.rules.engine import evaluate

    url = os.environ.get("SPECADMIN_BENCH_DATABASE_URL") if backend == "postgres" else None
    if backend == "postgres" and not url:
        raise SystemExit("set SPECADMIN_BENCH_DATABASE_URL for the PostgreSQL run")
    tmp = Path(tempfile.mkdtemp(prefix="bench-rules-"))
    try:
        app_dir = copy_app("kaiping", tmp / "kaiping")
        if url:
            await reset_postgres(url)
            os.environ["DATABASE_URL"] = url
        await _migrate(app_dir, False)
        os.environ.pop("DATABASE_URL", None)
        ctx = AppContext.open(app_dir, url)
        await db.start(ctx.engine)
        await ctx.refresh_caches()
        places, counts = plan(n_places, n_scans)
        t0 = time.perf_counter()
        total = await load(ctx, backend, places, counts)
        print(f"[{backend}] loaded {n_places} places, {total:,} scans in {time.perf_counter() - t0:.1f} s")
        first_end, last_end = FIRST + dt.timedelta(days=6), FIRST + dt.timedelta(days=DAYS - 1)
        rule = ctx.app.rule("scan_anomaly")
        hand_times, rule_times = [], []
        load_before = os.getloadavg()
        for attempt in range(2):
            t0 = time.perf_counter()
            expected = await hand_written(ctx, backend, first_end, last_end, rule.days)
            hand_times.append(time.perf_counter() - t0)
            if attempt:
                await ctx.table("scan_alert_day").delete(force=True)
                await ctx.table("scan_alert").delete(force=True)
            t0 = time.perf_counter()
            result = await evaluate(ctx, rule, first_end, last_end)
            rule_times.append(time.perf_counter() - t0)
        got = await raised(ctx)
        assert got == expected, f"rule and hand-written statement disagree: {len(got)} vs {len(expected)} alerts"
        load_after = os.getloadavg()
        rule_s, hand_s = min(rule_times), min(hand_times)
        print(f"[{backend}] rule: {rule_s:.2f} s ({' / '.join(f'{t:.2f}' for t in rule_times)}), {result['created']} alerts "
              f"over {(last_end - first_end).days + 1} window ends; hand-written statement: {hand_s:.2f} s "
              f"({' / '.join(f'{t:.2f}' for t in hand_times)}); ratio rule/hand-written = {rule_s / hand_s:.2f}x "
              f"(same {len(expected)} alerts and per-day counts; load average {_load(load_before)} before, "
              f"{_load(load_after)} after, {os.cpu_count()} CPUs: the machine is shared)")
        t0 = time.perf_counter()
        again = await evaluate(ctx, rule, last_end, last_end)
        print(f"[{backend}] daily run (window ending on the last day): {time.perf_counter() - t0:.2f} s, "
              f"{again['created']} new")
        await db.stop(ctx.engine)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _load(avg: tuple[float, float, float]) -> str:
    return " ".join(f"{x:.2f}" for x in avg)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--backend", choices=["sqlite", "postgres", "both"], default="both")
    parser.add_argument("--size", choices=sorted(SIZES), default="full",
                        help="places and scan rows: " + ", ".join(f"{k} = {p:,} × {s:,}" for k, (p, s) in SIZES.items()))
    parser.add_argument("--places", type=int, help="overrides the size's places")
    parser.add_argument("--scans", type=int, help="overrides the size's scan rows")
    args = parser.parse_args()
    places, scans = SIZES[args.size]
    for backend in (["sqlite", "postgres"] if args.backend == "both" else [args.backend]):
        asyncio.run(run(backend, args.places or places, args.scans or scans))


if __name__ == "__main__":
    main()
