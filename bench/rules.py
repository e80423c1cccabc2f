"""Benchmark: Kaiping's scan_anomaly rule over 10,000 places × 60 days and 10,000,000 scan rows.

    .venv/bin/python bench/rules.py [--backend sqlite|postgres|both] [--scans N] [--places N]

PostgreSQL comes from SPECADMIN_BENCH_DATABASE_URL (its public schema is dropped and rebuilt).
Scans are loaded with COPY (PostgreSQL) or executemany (SQLite), then timed:
  rule   — runtime.rules.engine.evaluate over the windows ending on each of the last 54 days
           (one grouped query, windows over the aggregates, alerts and per-day rows inserted);
  naive  — a straightforward per-place Python evaluation of the same data: one query per place
           for its scan times, per-day counts and the 7-day windows in Python (nothing inserted).
Both must find the same alerts; the ratio naive/rule is printed. Target: rule ≤ 10 s on PostgreSQL.
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
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DAYS = 60
FIRST = dt.date(2026, 1, 1)
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
            # VACUUM as autovacuum would on an insert-only table: sets hint bits and the visibility
            # map now, so neither the rule nor the naive run (whichever reads first) pays for them.
            await conn.execute("VACUUM ANALYZE scan_record")
        finally:
            await conn.close()
    else:
        db = sqlite3.connect(ctx.app_dir / "var" / "app.sqlite3")
        db.execute("PRAGMA journal_mode = WAL")
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
        db.execute("ANALYZE")
        db.close()
    return total


async def naive(ctx, first_end: dt.date, last_end: dt.date) -> set[tuple]:
    """Per place: fetch its scan times, count per day in Python, slide 7-day windows."""
    place, scan = ctx.table("place"), ctx.table("scan_record")
    start = first_end - dt.timedelta(days=6)
    lo_t, hi_t = dt.datetime.combine(start, dt.time()), dt.datetime.combine(last_end + dt.timedelta(days=1), dt.time())
    found = set()
    for p in await place.select(place.id, place.place_code, place.min_daily, place.max_daily):
        if p["min_daily"] is None and p["max_daily"] is None:
            continue
        times = await scan.select(scan.scanned_at).where(scan.place_code == p["place_code"], scan.scanned_at >= lo_t,
                                                         scan.scanned_at < hi_t)
        per_day = Counter((t["scanned_at"] if isinstance(t["scanned_at"], dt.datetime)
                           else dt.datetime.fromisoformat(t["scanned_at"])).date() for t in times)
        last: dict[str, dt.date] = {}
        end = first_end
        while end <= last_end:
            daily = [per_day.get(end - dt.timedelta(days=k), 0) for k in range(7)]
            for reason, hit in (("below", p["min_daily"] is not None and all(c < p["min_daily"] for c in daily)),
                                ("above", p["max_daily"] is not None and all(c > p["max_daily"] for c in daily))):
                if hit and not (reason in last and last[reason] >= end - dt.timedelta(days=6)):
                    found.add((p["id"], end, reason))
                    last[reason] = end
            end += dt.timedelta(days=1)
    return found


async def run(backend: str, n_places: int, n_scans: int, skip_naive: bool) -> None:
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
        t0 = time.perf_counter()
        result = await evaluate(ctx, rule, first_end, last_end)
        rule_s = time.perf_counter() - t0
        print(f"[{backend}] rule: {rule_s:.2f} s, {result['created']} alerts over {(last_end - first_end).days + 1} window ends"
              f" (load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs: the machine is shared)")
        t0 = time.perf_counter()
        again = await evaluate(ctx, rule, last_end, last_end)
        print(f"[{backend}] daily run (window ending on the last day): {time.perf_counter() - t0:.2f} s, "
              f"{again['created']} new")
        if not skip_naive:
            t0 = time.perf_counter()
            expected = await naive(ctx, first_end, last_end)
            naive_s = time.perf_counter() - t0
            alert = ctx.table("scan_alert")
            got = {(r["place"], r["period_end"], r["reason"]) for r in
                   await alert.select(alert.place, alert.period_end, alert.reason)}
            assert got == expected, f"rule and naive evaluation disagree: {len(got)} vs {len(expected)}"
            print(f"[{backend}] naive per-place Python: {naive_s:.2f} s; ratio naive/rule = {naive_s / rule_s:.1f}x "
                  f"(same {len(expected)} alerts)")
        await db.stop(ctx.engine)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--backend", choices=["sqlite", "postgres", "both"], default="both")
    parser.add_argument("--places", type=int, default=10_000)
    parser.add_argument("--scans", type=int, default=10_000_000)
    parser.add_argument("--skip-naive", action="store_true")
    args = parser.parse_args()
    for backend in (["sqlite", "postgres"] if args.backend == "both" else [args.backend]):
        asyncio.run(run(backend, args.places, args.scans, args.skip_naive))


if __name__ == "__main__":
    main()
