"""Rules with a filtered bound set, a `no_data` reason and alerts that close themselves, through the
example of specs/REFERENCE.md run as written, on SQLite and PostgreSQL: only schools are checked (a
literal min), an empty window is 无巡查记录 while a thin one is 巡查偏少, an alert closes (state and
time) on a later run once visits come in, re-running closes nothing twice, a later breach raises a
new alert; rule alerts reach users through event notifications (create and the close as a change).
The spec checks of the new keys (SA180-SA184) are at the end."""
from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from conftest import BACKENDS, reference_blocks, spec_app, write_spec_app
from specadmin.generator.build import load_app
from specadmin.generator.errors import SpecInvalid

ASYNC = pytest.mark.asyncio(loop_scope="session")
MODULE = reference_blocks()["modules/site_watch.yaml"]
# the app under test adds a threshold rule on shops (literal max, closes) to the documented example
READING = """  reading:
    label: 读数
    fields:
      place_code: {type: string, label: 场所编码}
      read_at: {type: datetime, label: 时间}
      level: {type: integer, label: 数值}
"""
HOT = """  hot_shop:
    kind: threshold
    source: {entity: reading, key: place_code, date: read_at, value: level}
    bounds: {entity: place, key: code, where: {kind: shop}, max: 50}
    reasons: {above: high}
    creates: {entity: watch_alert, fields: {place: $bound, start: $date, end: $date, reason: $reason}}
    closes: {field: state, value: closed, at: closed_at}
"""
TESTED = (MODULE.replace("low: 巡查偏少}", "low: 巡查偏少, high: 读数偏高}", 1)
          .replace("      kind: {type: dict, dict: place_kind, label: 类型}\n",
                   "      kind: {type: dict, dict: place_kind, label: 类型}\n      opened: {type: date, label: 开业日期}\n", 1).replace("screens:\n", READING + "screens:\n", 1)
          .replace("notifications:\n", HOT + "notifications:\n", 1))
APP = "app: watch\nlabel: 巡查\nmodules: [site_watch]\n"
PASSWORD = "Watch@2026xx"
D0 = dt.date(2026, 3, 2)


def day(n: int) -> dt.date:
    return D0 + dt.timedelta(days=n)


def write_app(app_dir: Path, module: str = MODULE) -> Path:
    return write_spec_app(app_dir, APP, {"site_watch": module})


@pytest.fixture(scope="module", params=BACKENDS)
async def env(request, tmp_path_factory):
    from specadmin.runtime.identity.users import ensure_user

    app_dir = write_app(tmp_path_factory.mktemp(f"watch-{request.param}"), TESTED)
    async with spec_app(app_dir, request.param, PASSWORD) as (app, client, hq):
        ctx = app.state.ctx
        watcher = await ensure_user(ctx, "watcher", PASSWORD, name="巡查员", org_code="HQ", roles=("watcher",))
        place = ctx.table("place")
        await place.insert(place(code="S1", name="一中", kind="school"), place(code="S2", name="二中", kind="school"),
                           place(code="M1", name="商铺", kind="shop", opened=dt.date.today() + dt.timedelta(days=30)))
        yield {"ctx": ctx, "watcher": watcher}


async def visits(ctx, code: str, n: int, per_day: int = 1) -> None:
    visit = ctx.table("visit")
    await visit.insert(*[visit(place_code=code, visited_at=dt.datetime.combine(day(n), dt.time(9 + i)))
                         for i in range(per_day)])


async def run(ctx, n: int) -> dict:
    from specadmin.runtime.rules.engine import evaluate

    return await evaluate(ctx, ctx.app.rule("school_visits"), day(n), day(n))


async def alerts(ctx, reasons=("none", "low")) -> list[tuple]:
    a = ctx.table("watch_alert")
    rows = await a.select(a.place.code, a.start, a.end, a.reason, a.state, a.closed_at).where(
        a.reason.is_in(list(reasons))).order_by(a.id)
    return [(r["place.code"], str(r["start"])[:10], str(r["end"])[:10], r["reason"], r["state"],
             r["closed_at"] is not None) for r in rows]


async def messages(ctx, place: str = "中") -> list[tuple]:
    """The messages about the named place(s) (the schools by default: their names end in 中)."""
    m = ctx.table("message")
    return [(r["notification"], r["recipient"], r["title"], r["body"])
            for r in await m.select(m.notification, m.recipient, m.title, m.body).order_by(m.id) if place in r["title"]]


@ASYNC
async def test_rule_alerts_open_close_and_notify_through_the_hooks(env):
    ctx, watcher = env["ctx"], env["watcher"]
    # S1 is visited once a day (below 2), S2 and the shop M1 not at all
    for n in range(3):
        await visits(ctx, "S1", n)
    summary = await run(ctx, 2)
    period = f"{day(0)}至{day(2)}"
    # the shop is outside the bound set; the empty window is no_data, the thin one below
    assert (summary["created"], summary["places"]) == (2, 2)
    assert await alerts(ctx) == [("S1", str(day(0)), str(day(2)), "low", "open", False),
                                 ("S2", str(day(0)), str(day(2)), "none", "open", False)]
    # each new alert reached the watcher as an in-app message (after_create hooks of the bulk insert)
    assert await messages(ctx) == [("watch_new", watcher, "巡查告警：一中", f"一中 {period}：巡查偏少"),
                                   ("watch_new", watcher, "巡查告警：二中", f"二中 {period}：无巡查记录")]

    # day 3: S2 gets its two visits, so its window no longer breaches: its alert closes; S1 stays low
    await visits(ctx, "S2", 3, per_day=2)
    await visits(ctx, "S1", 3)
    assert (await run(ctx, 3))["closed"] == 1
    assert await alerts(ctx) == [("S1", str(day(0)), str(day(2)), "low", "open", False),
                                 ("S2", str(day(0)), str(day(2)), "none", "closed", True)]
    assert (await messages(ctx))[2:] == [("watch_closed", watcher, "巡查告警已关闭：二中", f"二中 {period}：已关闭")]
    again = await run(ctx, 3)  # idempotent: nothing new, nothing closed twice
    assert (again["created"], again["closed"], len(await messages(ctx))) == (0, 0, 3)

    # days 4-6: S1 is visited twice a day (its alert closes on day 4), S2 not at all: a new alert,
    # the closed one stays closed
    for n in (4, 5, 6):
        await visits(ctx, "S1", n, per_day=2)
    assert (await run(ctx, 4))["closed"] == 1
    assert (await run(ctx, 6))["created"] == 1
    assert await alerts(ctx) == [("S1", str(day(0)), str(day(2)), "low", "closed", True),
                                 ("S2", str(day(0)), str(day(2)), "none", "closed", True),
                                 ("S2", str(day(4)), str(day(6)), "none", "open", False)]
    assert [m[0] for m in await messages(ctx)] == ["watch_new", "watch_new", "watch_closed", "watch_closed", "watch_new"]


@ASYNC
async def test_the_bound_set_is_the_rows_its_where_keeps_with_the_literal_bound(env):
    """`where` of the bound set is a where clause as on screens (relative dates too); a literal side is
    every row's bound."""
    from dataclasses import replace
    from types import MappingProxyType

    from specadmin.runtime.rules.bounds import bound_rows

    ctx = env["ctx"]
    rule = ctx.app.rule("school_visits")
    assert sorted(r["k"] for r in await bound_rows(ctx, rule)) == ["S1", "S2"]
    assert {r["min"] for r in await bound_rows(ctx, rule)} == {2}
    nobody = replace(rule, bounds=MappingProxyType({**rule.bounds, "where": {"code": "S9"}}))
    assert await bound_rows(ctx, nobody) == []
    not_yet = replace(rule, bounds=MappingProxyType({**rule.bounds, "where": {"opened": {"gt": "$today"}}}))
    assert [r["k"] for r in await bound_rows(ctx, not_yet)] == ["M1"]


@ASYNC
async def test_a_threshold_alert_closes_when_the_newest_reading_is_back_within_bounds(env):
    from specadmin.runtime.rules.engine import evaluate

    ctx, watcher = env["ctx"], env["watcher"]
    rule = ctx.app.rule("hot_shop")
    reading = ctx.table("reading")
    at = lambda n, h: dt.datetime.combine(day(n), dt.time(h))  # noqa: E731
    # schools are outside this rule's bound set: their 90 raises nothing
    await reading.insert(reading(place_code="M1", read_at=at(0, 9), level=80), reading(place_code="S1", read_at=at(0, 9), level=90))
    assert (await evaluate(ctx, rule, day(0), day(0)))["created"] == 1
    assert await alerts(ctx, ("high",)) == [("M1", str(day(0)), str(day(0)), "high", "open", False)]
    assert [m[:3] for m in await messages(ctx, "商铺")] == [("watch_new", watcher, "巡查告警：商铺")]
    # a newer reading still above raises its own alert and keeps the first open
    await reading.insert(reading(place_code="M1", read_at=at(1, 9), level=70))
    result = await evaluate(ctx, rule, day(0), day(1))
    assert (result["created"], result["closed"]) == (1, 0)
    # the newest reading back within bounds closes both, once
    await reading.insert(reading(place_code="M1", read_at=at(1, 15), level=20))
    result = await evaluate(ctx, rule, day(1), day(1))
    assert (result["created"], result["closed"]) == (0, 2)
    assert [(a[1], a[4], a[5]) for a in await alerts(ctx, ("high",))] == [(str(day(0)), "closed", True),
                                                                         (str(day(1)), "closed", True)]
    assert (await evaluate(ctx, rule, day(0), day(1)))["closed"] == 0


def _make(tmp_path: Path, module: str) -> Path:
    return write_app(tmp_path, module)


CASES = [
    ("literal min above max", "min: 2}", "min: 5, max: 3}", "SA180", "min: 5, max: 3"),
    ("bounds where on unknown field", "where: {kind: school}", "where: {sort: school}", "SA080", "where: {sort: school}"),
    ("bounds where relative date on a dict field", "where: {kind: school}", "where: {kind: $today}", "SA083",
     "where: {kind: $today}"),
    ("closes on a non-field", "closes: {field: state,", "closes: {field: status,", "SA182", "closes: {field: status"),
    ("closes value not in dictionary", "value: closed,", "value: done,", "SA182", "value: done,"),
    ("closes at not a date", "at: closed_at}", "at: period}", "SA182", "at: period}"),
    ("no_data reason not in dictionary", "reasons: {no_data: none,", "reasons: {no_data: empty,", "SA121",
     "no_data: empty"),
    ("no_data without min", "where: {kind: school}, min: 2}", "where: {kind: school}, max: 2}", "SA183",
     "reasons: {no_data"),
    ("closes without a reason kept", "reason: $reason}", "reason: low}", "SA184", "closes: {field: state"),
    ("closes on missing_reference", "kind: consecutive_days", "kind: missing_reference", "SA181", "closes: {field"),
]


@pytest.mark.parametrize("name,old,new,code,needle", CASES, ids=[c[0] for c in CASES])
def test_bound_set_and_closes_mistakes_are_reported_with_code_and_line(tmp_path, name, old, new, code, needle):
    assert old in MODULE
    text = MODULE.replace(old, new, 1)
    with pytest.raises(SpecInvalid) as info:
        load_app(_make(tmp_path, text))
    line = next(i for i, l in enumerate(text.splitlines(), 1) if needle in l)
    assert (code, line) in [(e.code, e.line) for e in info.value.errors], info.value.errors
