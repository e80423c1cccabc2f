"""Kaiping's declarative rules on SQLite and PostgreSQL.

scan_anomaly (consecutive_days) is checked against an independent per-place reference written
here, on random data (hypothesis): the same alerts, the same per-day rows, no duplicates on
re-runs or overlapping backfills, days without scans counted as 0. missing_places
(missing_reference) creates each unknown place ID exactly once from its newest scan.
"""
from __future__ import annotations

import datetime as dt

import pytest
from conftest import BACKENDS, copy_app, postgres_url, reset_postgres
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from specadmin.runtime.rules.engine import evaluate

pytestmark = pytest.mark.asyncio(loop_scope="session")
BASE = dt.date(2026, 3, 1)
SPAN = 14  # days of generated scans


@pytest.fixture(scope="module", params=BACKENDS)
async def env(request, tmp_path_factory):
    from specadmin.cli import _migrate
    from specadmin.runtime.data import db
    from specadmin.runtime.app.context import AppContext

    app_dir = copy_app("kaiping", tmp_path_factory.mktemp(f"rules-{request.param}"))
    url = None
    if request.param == "postgres":
        url = postgres_url()
        await reset_postgres(url)
    import os

    old = os.environ.get("DATABASE_URL")
    if url:
        os.environ["DATABASE_URL"] = url
    try:
        await _migrate(app_dir, False)
    finally:
        if url:
            os.environ.pop("DATABASE_URL", None) if old is None else os.environ.__setitem__("DATABASE_URL", old)
    ctx = AppContext.open(app_dir, url)
    await db.start(ctx.engine)
    await ctx.refresh_caches()
    yield ctx
    await db.stop(ctx.engine)


async def clear(ctx) -> None:
    for name in ("scan_alert_day", "scan_alert", "scan_record", "place"):
        table = ctx.table(name)
        await table.delete(force=True)


places_st = st.lists(
    st.tuples(st.one_of(st.none(), st.integers(0, 4)), st.integers(0, 4)),  # (min or no thresholds, max - min)
    min_size=1, max_size=4)
# SPAN daily counts per place around a per-place level, so long runs inside or outside the bounds
# are common; noise down to -2 (clipped at 0) makes days without any scan frequent too.
counts_st = st.lists(st.tuples(st.integers(0, 7), st.lists(st.integers(-2, 1), min_size=SPAN, max_size=SPAN)),
                     min_size=4, max_size=4).map(lambda ps: [[max(0, level + n) for n in noise] for level, noise in ps])
runs_st = st.lists(st.tuples(st.integers(0, SPAN - 1), st.integers(0, 6)), min_size=1, max_size=3)


async def load(ctx, places, counts, hour_seed: int) -> list[tuple[str, int | None, int | None]]:
    place, scan = ctx.table("place"), ctx.table("scan_record")
    made = []
    for i, (low, width) in enumerate(places):
        code = f"H{i}"
        high = None if low is None else low + width
        await place.insert(place(place_code=code, name=f"场所{i}", min_daily=low, max_daily=high))
        made.append((code, low, high))
    rows = []
    for i, _ in enumerate(places):
        for d, n in enumerate(counts[i]):
            for k in range(n):
                minute = (hour_seed * 37 + k * 211 + d * 13) % (24 * 60)  # 00:00 .. 23:59, both edges reached
                at = dt.datetime.combine(BASE + dt.timedelta(days=d), dt.time(minute // 60, minute % 60))
                rows.append(scan(place_code=f"H{i}", scanned_at=at))
    if rows:
        await scan.insert(*rows)
    return made


def reference(made, counts, runs, days=7):
    """Straightforward per-place evaluation: every window end of each run, in order, all days breaching."""
    raised: list[tuple[str, dt.date, dt.date, str, tuple]] = []
    for start_idx, length in runs:
        first = BASE + dt.timedelta(days=start_idx)
        last = first + dt.timedelta(days=length)
        for i, (code, low, high) in enumerate(made):
            if low is None:
                continue
            end = first
            while end <= last:
                window = [end - dt.timedelta(days=days - 1 - j) for j in range(days)]
                daily = [counts[i][(d - BASE).days] if 0 <= (d - BASE).days < SPAN else 0 for d in window]
                for reason, breach in (("below", all(c < low for c in daily)), ("above", all(c > high for c in daily))):
                    overlaps = any(r[0] == code and r[3] == reason and r[1] <= end and r[2] >= window[0] for r in raised)
                    if breach and not overlaps:
                        raised.append((code, window[0], end, reason, tuple(daily)))
                end += dt.timedelta(days=1)
    return sorted(raised)


async def actual(ctx):
    alert, day = ctx.table("scan_alert"), ctx.table("scan_alert_day")
    rows = await alert.select(alert.id, alert.place.place_code, alert.period_start, alert.period_end, alert.reason,
                              alert.period_label, alert.status)
    out = []
    for r in rows:
        days = await day.select(day.day, day.scan_count).where(day.alert == r["id"]).order_by(day.day)
        assert [d["day"] for d in days] == [r["period_start"] + dt.timedelta(days=j) for j in range(7)]
        assert r["period_label"] == f"{r['period_start']}至{r['period_end']}" and r["status"] == "unreceived"
        out.append((r["place.place_code"], r["period_start"], r["period_end"], r["reason"],
                    tuple(d["scan_count"] for d in days)))
    return sorted(out)


@settings(max_examples=40, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(places=places_st, counts=counts_st, runs=runs_st, hour_seed=st.integers(0, 1000))
async def test_scan_alert_rule_matches_per_place_reference(env, places, counts, runs, hour_seed):
    ctx = env
    rule = ctx.app.rule("scan_anomaly")
    await clear(ctx)
    made = await load(ctx, places, counts, hour_seed)
    for start_idx, length in runs:
        first = BASE + dt.timedelta(days=start_idx)
        await evaluate(ctx, rule, first, first + dt.timedelta(days=length))
    expected = reference(made, counts, runs)
    assert await actual(ctx) == expected
    # Re-running every range again creates nothing new.
    for start_idx, length in runs:
        first = BASE + dt.timedelta(days=start_idx)
        result = await evaluate(ctx, rule, first, first + dt.timedelta(days=length))
        assert result["created"] == 0
    assert await actual(ctx) == expected


async def test_days_without_scans_count_as_zero_and_raise_below(env):
    ctx = env
    await clear(ctx)
    place = ctx.table("place")
    await place.insert(place(place_code="Z1", name="无扫码场所", min_daily=1, max_daily=10),
                       place(place_code="Z2", name="未设阈值", min_daily=None, max_daily=None))
    result = await evaluate(ctx, ctx.app.rule("scan_anomaly"), BASE + dt.timedelta(days=6), BASE + dt.timedelta(days=6))
    assert result["created"] == 1 and result["places"] == 1  # Z2 has no thresholds: skipped
    assert await actual(ctx) == [("Z1", BASE, BASE + dt.timedelta(days=6), "below", (0,) * 7)]


async def test_six_breaching_days_raise_nothing_and_any_day_option_raises(env):
    import dataclasses

    ctx = env
    await clear(ctx)
    made = await load(ctx, [(2, 3)], [[0] * 6 + [3] + [0] * 7] + [[0] * SPAN] * 3, 0)
    rule = ctx.app.rule("scan_anomaly")
    end = BASE + dt.timedelta(days=6)
    assert (await evaluate(ctx, rule, end, end))["created"] == 0  # day 7 is inside the bounds
    loose = dataclasses.replace(rule, any_day=True)
    assert (await evaluate(ctx, loose, end, end))["created"] == 1
    assert made[0][0] == "H0"


async def test_missing_places_created_once_from_newest_scan(env):
    ctx = env
    await clear(ctx)
    place, scan = ctx.table("place"), ctx.table("scan_record")
    await place.insert(place(place_code="K1", name="已有场所"))
    at = dt.datetime(2026, 3, 5, 8, 0)
    await scan.insert(
        scan(place_code="K1", place_name="已有场所", scanned_at=at),
        scan(place_code="N1", place_name="旧名称", category="其他", street="长沙街道", scanned_at=at),
        scan(place_code="N1", place_name="新名称", category="餐饮场所", city="开平市", street="长沙街道", manager="王五",
             scanned_at=at + dt.timedelta(days=1)),
        scan(place_code="N2", place_name="二号", category="not-a-category", scanned_at=at))
    rule = ctx.app.rule("missing_places")
    first = await evaluate(ctx, rule, BASE, BASE)
    assert first["created"] == 2 and first["keys"] == ["N1", "N2"]
    rows = await place.select(place.place_code, place.name, place.category, place.city, place.street, place.manager,
                              place.supervisor, place.min_daily).order_by(place.place_code)
    assert rows[1:] == [
        {"place_code": "N1", "name": "新名称", "category": "catering", "city": "开平市", "street": "changsha",
         "manager": "王五", "supervisor": None, "min_daily": None},
        {"place_code": "N2", "name": "二号", "category": None, "city": "开平市", "street": None, "manager": None,
         "supervisor": None, "min_daily": None}]
    assert (await evaluate(ctx, rule, BASE, BASE))["created"] == 0
    assert await place.count() == 3


async def test_long_backfill_read_in_key_chunks_matches_reference(env, monkeypatch):
    """A backfill longer than LONG_SPAN days reads SQLite in chunks of keys; same alerts as the reference."""
    import random

    from specadmin.runtime.rules import consecutive

    monkeypatch.setattr(consecutive, "KEY_CHUNK", 2)  # several chunks with only four places
    rng = random.Random(5)
    places = [(rng.randint(0, 3), rng.randint(0, 3)) for _ in range(4)]
    counts = [[max(0, lvl + rng.randint(-2, 1)) for _ in range(SPAN)] for lvl in (0, 2, 6, 7)]
    await clear(env)
    made = await load(env, places, counts, 3)
    runs = [(0, 19)]  # window ends over 20 days: a 26-day span
    await evaluate(env, env.app.rule("scan_anomaly"), BASE, BASE + dt.timedelta(days=19))
    expected = reference(made, counts, runs)
    assert expected and await actual(env) == expected


async def test_alerts_inserted_in_several_batches_once_each_with_their_days(env, monkeypatch):
    """Bulk insertion (one executemany per batch, ids read back for the per-day rows) across batch
    boundaries: every alert exactly once with its own 7 days, as the reference; re-running days and an
    overlapping backfill add nothing."""
    from specadmin.runtime.rules import consecutive

    monkeypatch.setattr(consecutive, "BATCH", 3)  # 16 alerts: 6 batches, a place's two alerts split across them
    await clear(env)
    made = await load(env, [(2, 1)] * 4 + [(0, 0)] * 4, [[0] * SPAN] * 4 + [[5] * SPAN] * 4, 1)
    rule = env.app.rule("scan_anomaly")
    end = BASE + dt.timedelta(days=6)
    assert (await evaluate(env, rule, end, end))["created"] == 8  # an alert per place exists before the batches
    assert (await evaluate(env, rule, end, end + dt.timedelta(days=7)))["created"] == 8
    expected = reference(made, [[0] * SPAN] * 4 + [[5] * SPAN] * 4, [(6, 7)])
    assert len(expected) == 16 and await actual(env) == expected
    for first, last in [(end + dt.timedelta(days=i), end + dt.timedelta(days=i)) for i in range(8)] + [
            (BASE + dt.timedelta(days=3), BASE + dt.timedelta(days=16))]:
        assert (await evaluate(env, rule, first, last))["created"] == 0
    assert await actual(env) == expected
    assert await env.table("scan_alert_day").count() == 16 * 7


async def test_bulk_insert_binds_what_the_orm_insert_would(env):
    """The bulk route's parameters equal those of Piccolo's own insert of table(**values): column defaults
    filled in, conversions applied; a missing required value or an unknown name is refused as Table() does."""
    from specadmin.runtime.rules.common import _insert_statement, row_parameters

    engine_type = "sqlite" if env.engine.engine_type == "sqlite" else "postgres"
    cases = {"scan_alert": {"place": 3, "period_start": BASE, "period_end": BASE + dt.timedelta(days=6),
                            "period_label": "x", "reason": "below"},
             "scan_alert_day": {"alert": 5, "day": BASE, "scan_count": 4},
             "place": {"place_code": "P1", "name": "场所"}}
    for name, values in cases.items():
        table = env.table(name)
        sql, plan = _insert_statement(table)
        _, orm = table.insert(table(**values)).querystrings[0].compile_string(engine_type=engine_type)
        assert list(row_parameters(plan, values)) == orm and sql.startswith(f'INSERT INTO "{table._meta.tablename}"')
    plan = _insert_statement(env.table("scan_alert_day"))[1]
    with pytest.raises(ValueError):
        row_parameters(plan, {"day": BASE, "scan_count": 1})  # alert is required
    with pytest.raises(ValueError):
        row_parameters(plan, {"alert": 1, "day": BASE, "scan_count": 1, "nope": 1})
