"""Rule alerts written in bulk (runtime/rules/common.insert_many: executemany on SQLite, COPY on
PostgreSQL), on both databases, with Kaiping's scan_anomaly rule:

- the rows are the ones the ORM writes for the same values (every column but the id, defaults
  included), across more than one batch of alerts, each per-day row under its own alert;
- a crash midway (an after_create hook failing on the second batch) leaves no alert and no
  per-day row behind: the whole run is one transaction;
- the rule's source gets its (key, date) index from the spec's rules (specs/physical.rule_indexes),
  as list indexes come from screens.
"""
from __future__ import annotations

import datetime as dt
import os
import tempfile
from pathlib import Path

import pytest
from conftest import BACKENDS, copy_app, postgres_url, reset_postgres, write_spec_app
from plugin_support import add_to_app_yaml, install_plugin

from specadmin.runtime.plugin import EntityHooks, Plugin
from specadmin.runtime.rules.consecutive import BATCH
from specadmin.runtime.rules.engine import evaluate

pytestmark = pytest.mark.asyncio(loop_scope="session")
PLUGIN_DIR = Path(tempfile.gettempdir()) / "specadmin-plugin-rules-bulk"
FIRST = dt.date(2026, 3, 1)
N_PLACES = BATCH + 40  # more alerts than one batch
FAIL_AFTER: list[int] = []  # set by a test: the after_create hook raises once it has seen this many alerts
SEEN: list[int] = []


async def _after_create(event) -> None:
    SEEN.append(event.row_id)
    if FAIL_AFTER and len(SEEN) > FAIL_AFTER[0]:
        raise RuntimeError("预警后续处理失败")


TEST_PLUGIN = Plugin(name="rules_bulk", hooks={"scan_alert": EntityHooks(after_create=_after_create)})


@pytest.fixture(scope="module", params=BACKENDS)
async def ctx(request, tmp_path_factory):
    from specadmin.cli import _migrate
    from specadmin.generator.writer import generate
    from specadmin.runtime.app.context import AppContext
    from specadmin.runtime.data import db

    install_plugin(PLUGIN_DIR, "rules_bulk", "test_rules_bulk:TEST_PLUGIN")
    app_dir = copy_app("kaiping", tmp_path_factory.mktemp(f"rules-bulk-{request.param}"))
    add_to_app_yaml(app_dir, "rules_bulk")
    generate(app_dir)
    url = None
    if request.param == "postgres":
        url = postgres_url()
        await reset_postgres(url)
        os.environ["DATABASE_URL"] = url
    try:
        await _migrate(app_dir, False)
    finally:
        os.environ.pop("DATABASE_URL", None)
    ctx = AppContext.open(app_dir, url)
    await db.start(ctx.engine)
    await ctx.refresh_caches()
    place, scan = ctx.table("place"), ctx.table("scan_record")
    # Every place wants at least 2 scans a day; place i gets one scan on day i % 9 only, so every
    # window breaches low: one alert per place over the three window ends evaluated (they overlap).
    await place.insert(*[place(place_code=f"B{i:04d}", name=f"场所{i}", min_daily=2, max_daily=100)
                         for i in range(N_PLACES)])
    await scan.insert(*[scan(place_code=f"B{i:04d}", scanned_at=dt.datetime.combine(
        FIRST + dt.timedelta(days=i % 9), dt.time(10))) for i in range(N_PLACES)])
    yield ctx
    await db.stop(ctx.engine)


async def _clear_alerts(ctx) -> None:
    await ctx.table("scan_alert_day").delete(force=True)
    await ctx.table("scan_alert").delete(force=True)


async def _run(ctx) -> dict:
    first_end = FIRST + dt.timedelta(days=6)
    return await evaluate(ctx, ctx.app.rule("scan_anomaly"), first_end, first_end + dt.timedelta(days=2))


def _without_id(row: dict) -> tuple:
    return tuple(sorted((k, v) for k, v in row.items() if k != "id"))


async def test_bulk_rule_writes_the_rows_the_orm_writes(ctx):
    await _clear_alerts(ctx)
    FAIL_AFTER.clear()
    SEEN.clear()
    result = await _run(ctx)
    assert result["created"] == N_PLACES
    alert, day = ctx.table("scan_alert"), ctx.table("scan_alert_day")
    written = await alert.select()
    assert len(written) == N_PLACES and sorted(SEEN) == sorted(r["id"] for r in written)
    # The same values through the ORM, one Table object per row (the path rules took before).
    values = [{"place": r["place"], "period_start": r["period_start"], "period_end": r["period_end"],
               "period_label": r["period_label"], "reason": r["reason"]} for r in written]
    by_orm = await alert.insert(*[alert(**v) for v in values]).returning(alert.id)
    orm_ids = [r["id"] for r in by_orm]
    orm_rows = await alert.select().where(alert.id.is_in(orm_ids))
    bulk_rows = [r for r in await alert.select() if r["id"] not in set(orm_ids)]
    assert sorted(map(_without_id, bulk_rows)) == sorted(map(_without_id, orm_rows))
    assert {r["status"] for r in bulk_rows} == {"unreceived"} and {r["reason"] for r in bulk_rows} == {"below"}
    await alert.delete().where(alert.id.is_in(orm_ids))
    # each alert's seven per-day rows hang under it: its own days, the place's own counts
    codes = {r["id"]: r["place_code"] for r in await ctx.table("place").select()}
    days = await day.select()
    assert len(days) == 7 * N_PLACES
    per_alert: dict[int, list] = {}
    for d in days:
        per_alert.setdefault(d["alert"], []).append((d["day"], d["scan_count"]))
    for r in written:
        i = int(codes[r["place"]][1:])
        expected = [(r["period_start"] + dt.timedelta(days=j), int(r["period_start"] + dt.timedelta(days=j)
                                                                    == FIRST + dt.timedelta(days=i % 9)))
                    for j in range(7)]
        assert sorted(per_alert[r["id"]]) == expected
        assert r["period_end"] - r["period_start"] == dt.timedelta(days=6)
    # a second run raises nothing twice
    assert (await _run(ctx))["created"] == 0


async def test_a_crash_midway_leaves_no_alert_and_no_day_row(ctx):
    await _clear_alerts(ctx)
    SEEN.clear()
    FAIL_AFTER[:] = [BATCH + 1]  # the first batch is written and its hooks ran; the second fails
    try:
        with pytest.raises(RuntimeError, match="预警后续处理失败"):
            await _run(ctx)
    finally:
        FAIL_AFTER.clear()
    assert len(SEEN) == BATCH + 2
    assert await ctx.table("scan_alert").count() == 0
    assert await ctx.table("scan_alert_day").count() == 0
    assert (await _run(ctx))["created"] == N_PLACES  # and the run can simply be repeated


RULE_APP = "app: rulesix\nlabel: 规则索引\nmodules: [main]\n"
RULE_MODULE = """dictionaries:
  reading_reason: {label: 原因, items: {low: 偏少}}
entities:
  meter:
    label: 表计
    fields:
      code: {type: string, label: 编码, required: true, unique: true}
      low: {type: integer, label: 下限}
  reading:
    label: 读数
    fields:
      meter_code: {type: string, label: 表计编码}
      read_at: {type: datetime, label: 时间}
      level: {type: integer, label: 数值}
  reading_alert:
    label: 读数预警
    fields:
      meter: {type: ref, to: meter, label: 表计}
      start: {type: date, label: 开始}
      end: {type: date, label: 结束}
      reason: {type: dict, dict: reading_reason, label: 原因}

rules:
  low_readings:
    kind: consecutive_days
    label: 读数偏少
    source: {entity: reading, key: meter_code, date: read_at}
    days: 3
    bounds: {entity: meter, key: code, min: low}
    reasons: {below: low}
    creates: {entity: reading_alert, fields: {meter: $bound, start: $start, end: $end, reason: $reason}}
"""


async def test_rule_source_gets_key_date_index_from_the_spec(tmp_path):
    from specadmin.generator.build import load_app
    from specadmin.specs.physical import physical_tables

    app = load_app(write_spec_app(tmp_path / "app", RULE_APP, {"main": RULE_MODULE}))
    tables = {t.entity: t for t in physical_tables(app) if t.entity}
    assert ("meter_code", "read_at") in tables["reading"].indexes
    assert not any(ix[:1] == ("level",) for ix in tables["reading"].indexes)
    # without the rule, nothing asks for it
    app = load_app(write_spec_app(tmp_path / "plain", RULE_APP,
                                  {"main": RULE_MODULE.split("\nrules:")[0] + "\n"}))
    tables = {t.entity: t for t in physical_tables(app) if t.entity}
    assert ("meter_code", "read_at") not in tables["reading"].indexes
