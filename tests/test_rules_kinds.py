"""The other rule kinds at run time, on SQLite and PostgreSQL, in a small generated app (the spec of
test_rules_spec): threshold (a reading above its site's max, raised once), consecutive_days with a
summed measure over 3 days, missing_reference copying fields, and a custom plugin rule."""
from __future__ import annotations

import datetime as dt
import os
import tempfile
from pathlib import Path

import pytest
from conftest import BACKENDS, postgres_url, reset_postgres
from specadmin.runtime.rules.engine import evaluate
from plugin_support import install_plugin
from specadmin.runtime.plugin import Plugin
from test_rules_spec import APP, MODULE

pytestmark = pytest.mark.asyncio(loop_scope="session")
D1 = dt.date(2026, 5, 1)
CUSTOM = """  tally:
    kind: custom
    function: tally.count
"""
CALLS: list = []
PLUGIN_DIR = Path(tempfile.gettempdir()) / "specadmin-plugin-tally"


async def tally_rule(call):
    CALLS.append((call.rule.name, call.first, call.last))
    return {"created": 0, "readings": await call.table("reading").count()}


TEST_PLUGIN = Plugin(name="tally", handlers={"count": tally_rule})


def day(n: int, hour: int = 9) -> dt.datetime:
    return dt.datetime.combine(D1 + dt.timedelta(days=n), dt.time(hour))


@pytest.fixture(scope="module", params=BACKENDS)
async def ctx(request, tmp_path_factory):
    from specadmin.cli import _migrate
    from specadmin.generator.writer import generate
    from specadmin.runtime.data import db
    from specadmin.runtime.app.context import AppContext

    app_dir = tmp_path_factory.mktemp(f"kinds-{request.param}")
    (app_dir / "modules").mkdir()
    install_plugin(PLUGIN_DIR, "tally", "test_rules_kinds:TEST_PLUGIN")
    (app_dir / "app.yaml").write_text(APP + "plugins: [tally]\n", encoding="utf-8")
    # the custom rule goes at the end of the `rules:` section, just before `jobs:`
    (app_dir / "modules" / "main.yaml").write_text(MODULE.replace("\njobs:\n", "\n" + CUSTOM + "jobs:\n", 1),
                                                   encoding="utf-8")
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
    context = AppContext.open(app_dir, url)
    await db.start(context.engine)
    await context.refresh_caches()
    site, reading = context.table("site"), context.table("reading")
    await site.insert(site(code="S1", name="一号站", low=2, high=10), site(code="S2", name="二号站"))
    await reading.insert(reading(site_code="S1", value=12, taken_at=day(0, 8)), reading(site_code="S1", value=5, taken_at=day(0, 23)),
                         reading(site_code="S1", value=11, taken_at=day(1)), reading(site_code="S2", value=100, taken_at=day(0)),
                         reading(site_code="X9", site_name="新站", value=1, taken_at=day(0)),
                         reading(site_code="X9", site_name="新站（更名）", value=1, taken_at=day(2)))
    yield context
    await db.stop(context.engine)


async def alarms(ctx):
    a = ctx.table("alarm")
    return [(r["site.code"], r["start"], r["end"], r["reason"], r["note"]) for r in
            await a.select(a.site.code, a.start, a.end, a.reason, a.note).order_by(a.start).order_by(a.reason)]


async def test_threshold_raises_each_breaching_day_once(ctx):
    rule = ctx.app.rule("spike")
    assert (await evaluate(ctx, rule, D1, D1 + dt.timedelta(days=1)))["created"] == 2  # S2 has no bounds
    assert (await evaluate(ctx, rule, D1, D1 + dt.timedelta(days=1)))["created"] == 0
    assert await alarms(ctx) == [("S1", D1, D1, "high", None), ("S1", D1 + dt.timedelta(days=1), D1 + dt.timedelta(days=1), "high", None)]


async def test_consecutive_days_with_summed_measure_and_per_day_rows(ctx):
    rule = ctx.app.rule("quiet_site")
    before = len(await alarms(ctx))
    # day sums for S1: 17, 11, 0, 0, 0 → days 3-5 all below 2; days 1-2 above 10 but day 3 is not
    result = await evaluate(ctx, rule, D1 + dt.timedelta(days=2), D1 + dt.timedelta(days=4))
    assert result["created"] == 1
    new = (await alarms(ctx))[before:]
    assert new == [("S1", D1 + dt.timedelta(days=2), D1 + dt.timedelta(days=4), "low", "连续三天")]
    d = ctx.table("alarm_day")
    rows = await d.select(d.day, d.total).order_by(d.day)
    assert [(r["day"], float(r["total"])) for r in rows] == [(D1 + dt.timedelta(days=i), 0.0) for i in (2, 3, 4)]


async def test_missing_reference_copies_from_newest_row(ctx):
    rule = ctx.app.rule("unknown_sites")
    assert (await evaluate(ctx, rule, D1, D1))["created"] == 1
    assert (await evaluate(ctx, rule, D1, D1))["created"] == 0
    s = ctx.table("site")
    assert await s.select(s.name, s.low).where(s.code == "X9") == [{"name": "新站（更名）", "low": None}]


async def test_custom_rule_calls_plugin_function(ctx):
    CALLS.clear()
    result = await evaluate(ctx, ctx.app.rule("tally"), D1, D1 + dt.timedelta(days=1))
    assert result == {"created": 0, "readings": 6}
    assert CALLS == [("tally", D1, D1 + dt.timedelta(days=1))]
