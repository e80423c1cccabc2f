"""Relative dates in where clauses (`$today`, `$today-1`, `$now-24h`, `$month_start`, ...) on SQLite
and PostgreSQL, through the example app of specs/REFERENCE.md run as written: tab counts (今日, 昨日,
临期, 超期, 今日上报, 本月上报) move when the clock crosses a day or a month, an action's `when`
follows the same clock, a notification counts the rows of the last 24 hours, and `specadmin check`
names a malformed token with SA083 at its file and line. The clock seam (runtime/data/where.py
`clock`) is frozen at moments well inside a day, so nothing depends on when the test runs."""
from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from conftest import BACKENDS, clock_at, reference_blocks, spec_app, write_spec_app

ASYNC = pytest.mark.asyncio(loop_scope="session")
MODULE = reference_blocks()["modules/visits.yaml"]
APP = "app: visits\nlabel: 随访\nmodules: [visits]\n"
PASSWORD = "Visits@2026x"
D = dt.date
T = dt.datetime
ROWS = {  # person: (due_on, reported_at, status)
    "甲": (D(2026, 12, 6), T(2026, 12, 6, 9, 0), "待随访"),
    "乙": (D(2026, 12, 5), T(2026, 12, 5, 23, 30), "待随访"),
    "丙": (D(2026, 12, 8), T(2026, 11, 20, 10, 0), "待随访"),
    "丁": (D(2026, 12, 1), T(2026, 12, 5, 10, 0), "已随访"),
}


def write_app(app_dir: Path, module: str = MODULE) -> Path:
    return write_spec_app(app_dir, APP, {"visits": module})


@pytest.fixture(scope="module", params=BACKENDS)
async def env(request, tmp_path_factory):
    app_dir = write_app(tmp_path_factory.mktemp(f"relative-{request.param}"))
    async with spec_app(app_dir, request.param, PASSWORD, "随访中心") as (app, client, unit):
        yield {"app": app, "ctx": app.state.ctx, "client": client, "unit": unit}


@pytest.fixture
async def visits(env) -> dict[str, int]:
    """The four rows of ROWS, alone in the table; {person: id}."""
    ctx = env["ctx"]
    visit, message = ctx.table("visit"), ctx.table("message")
    await visit.delete(force=True)
    await message.delete(force=True)
    ids = {}
    for person, (due_on, reported_at, status) in ROWS.items():
        ids[person] = (await visit.insert(visit(person=person, unit=env["unit"], due_on=due_on,
                                                reported_at=reported_at, status=status)).returning(visit.id))[0]["id"]
    return ids


async def tab_counts(client) -> dict[str, int]:
    """Each tab's count as the list page shows it (`今日 (1)`), checked against the API's total."""
    import re

    page = await client.get("/s/visit_admin")
    assert page.status_code == 200, page.text[:500]
    counts = {m[1]: int(m[2]) for m in re.finditer(r'data-tab="(\w+)"[^>]*>[^<]*<span class="tab-count" data-count="(\d+)"',
                                                     page.text)}
    api = (await client.get("/api/visit", params={"screen": "visit_admin", "tab": "overdue"})).json()
    assert api["total"] == counts["overdue"]
    return counts


def test_tokens_resolve_against_the_moment_they_are_used():
    from specadmin.specs.relative_dates import parse

    noon = T(2026, 12, 9, 12, 0)  # a Wednesday
    assert {t: parse(t).resolve(noon) for t in ("$today", "$today-1", "$today+3d", "$week_start", "$month_start-1",
                                                "$year_start", "$now-24h", "$now+30m", "$now-2d")} == {
        "$today": D(2026, 12, 9), "$today-1": D(2026, 12, 8), "$today+3d": D(2026, 12, 12),
        "$week_start": D(2026, 12, 7), "$month_start-1": D(2026, 11, 30), "$year_start": D(2026, 1, 1),
        "$now-24h": T(2026, 12, 8, 12, 0), "$now+30m": T(2026, 12, 9, 12, 30), "$now-2d": T(2026, 12, 7, 12, 0)}


def test_rows_in_memory_match_like_the_query():
    """Action conditions, chart lines and outbound feeds match a row in memory: dates, datetimes, or
    their ISO text (a feed payload), with the same day-against-datetime rule as the SQL."""
    from specadmin.runtime.data.where import matches

    at = T(2026, 12, 6, 12, 0)
    for reported in (T(2026, 12, 6, 9, 0), "2026-12-06T09:00:00"):
        row = {"reported_at": reported, "due_on": D(2026, 12, 5)}
        assert [matches(row, clause, at) for clause in (
            {"reported_at": "$today"}, {"reported_at": {"lte": "$today"}}, {"reported_at": {"gt": "$today"}},
            {"reported_at": {"gte": "$now-3h"}}, {"reported_at": {"gte": "$now-2h"}},
            {"due_on": {"in": ["$today", "$today-1"]}}, {"due_on": {"gte": "$now-24h"}}, {"due_on": {"not": "$today"}},
        )] == [True, True, False, True, False, True, True, True]
    assert not matches({"due_on": None}, {"due_on": {"lt": "$today"}}, at)


@ASYNC
async def test_tab_counts_move_when_the_day_and_the_month_turn(env, visits):
    client = env["client"]
    with clock_at(T(2026, 12, 6, 12, 0)):
        assert await tab_counts(client) == {"today": 1, "yesterday": 1, "due_soon": 2, "overdue": 1,
                                            "reported": 1, "month": 3}  # 乙 reported at 23:30 yesterday: not today
    with clock_at(T(2026, 12, 7, 12, 0)):  # the next day: 甲 is yesterday's and overdue
        assert await tab_counts(client) == {"today": 0, "yesterday": 1, "due_soon": 1, "overdue": 2,
                                            "reported": 0, "month": 3}
    with clock_at(T(2027, 1, 2, 12, 0)):  # a new month: 本月上报 starts again
        assert await tab_counts(client) == {"today": 0, "yesterday": 0, "due_soon": 0, "overdue": 3,
                                            "reported": 0, "month": 0}


@ASYNC
async def test_an_action_condition_reads_the_clock_of_the_request(env, visits):
    client, visit = env["client"], env["ctx"].table("visit")
    ids = [visits["甲"], visits["丙"]]
    with clock_at(T(2026, 12, 6, 12, 0)):  # 甲 is due today: not overdue yet
        r = await client.post("/api/visit/actions/escalate", json={"ids": ids, "params": {}})
        assert r.status_code == 200 and r.json()["done"] == [], r.text
    with clock_at(T(2026, 12, 7, 12, 0)):
        r = await client.post("/api/visit/actions/escalate", json={"ids": ids, "params": {}})
        assert r.status_code == 200 and (r.json()["done"], r.json()["skipped"]) == ([visits["甲"]], [visits["丙"]]), r.text
    assert {r["person"]: r["status"] for r in await visit.select(visit.person, visit.status)} == {
        "甲": "督办", "乙": "待随访", "丙": "待随访", "丁": "已随访"}


@ASYNC
async def test_a_notification_counts_the_rows_of_the_last_24_hours(env, visits):
    from specadmin.runtime.jobs.runner import run_job

    ctx = env["ctx"]
    with clock_at(T(2026, 12, 6, 12, 0)):  # since 12-05 12:00: 甲 and 乙 (丁 at 10:00 is older)
        assert (await run_job(ctx, "recent_reports_daily", date_from=D(2026, 12, 6)))["status"] == "succeeded"
    with clock_at(T(2026, 12, 7, 8, 30)):  # since 12-06 08:30: 甲 only
        assert (await run_job(ctx, "recent_reports_daily", date_from=D(2026, 12, 7)))["status"] == "succeeded"
    message = ctx.table("message")
    assert [(r["day"], r["body"]) for r in await message.select(message.day, message.body).order_by(message.day)] == [
        (D(2026, 12, 6), "你单位近24小时有 2 条随访上报。"), (D(2026, 12, 7), "你单位近24小时有 1 条随访上报。")]


def test_check_names_a_malformed_token_with_its_file_and_line(tmp_path, capsys):
    from specadmin.cli import main

    broken = (MODULE.replace("due_on: $today-1}", "due_on: $tomorow}")
              .replace("{gte: $now-24h}", "{gte: $today-x}")
              .replace("status: 待随访}, batch", "status: $today}, batch"))
    write_app(tmp_path, broken)
    assert main(["check", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    lines = broken.splitlines()

    def line_of(text: str) -> int:
        return next(i for i, line in enumerate(lines, 1) if text in line)

    assert [e.removeprefix(f"{tmp_path.name}/") for e in err.splitlines() if "[SA" in e] == [
        f"modules/visits.yaml:{line_of('$tomorow')}: [SA083] where: unknown relative date '$tomorow' "
        "(did you mean '$today+1'?); expected $today, $week_start, $month_start, $year_start (each ±N days) "
        "or $now±N with d, h or m",
        f"modules/visits.yaml:{line_of('status: $today')}: [SA083] where: 'status' is a string field; relative "
        "dates such as $today compare only with date and datetime fields",
        f"modules/visits.yaml:{line_of('$today-x')}: [SA083] where: relative date '$today-x': the offset must be "
        "a whole number of days, e.g. $today-1"]
