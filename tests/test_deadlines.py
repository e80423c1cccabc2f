"""Deadlines in working days and hours, the 工作日历 and warning lights on SQLite and PostgreSQL,
through the example app of specs/REFERENCE.md (Chongzhou's event hub) run as written: a deadline is
stored across a weekend, a holiday and an adjusted working Saturday loaded from chinesecalendar; an
edit of the calendar wins and `recompute` applies it; changing the source recomputes on update; the
light of each row and the 临期/超期 tab counts follow the test clock (runtime/data/where.py `clock`);
`specadmin check` names each broken key with its code, file and line."""
from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from conftest import BACKENDS, clock_at, reference_blocks, spec_app, write_spec_app

ASYNC = pytest.mark.asyncio(loop_scope="session")
MODULE = reference_blocks()["modules/hub_events.yaml"]
APP = "app: events\nlabel: 事件\nmodules: [events]\n"
PASSWORD = "Events@2026x"
D = dt.date
T = dt.datetime


def write_app(app_dir: Path, module: str = MODULE) -> Path:
    return write_spec_app(app_dir, APP, {"events": module})


@pytest.fixture(scope="module", params=BACKENDS)
async def env(request, tmp_path_factory):
    from specadmin.runtime.calendar.days import load_year

    app_dir = write_app(tmp_path_factory.mktemp(f"deadlines-{request.param}"))
    async with spec_app(app_dir, request.param, PASSWORD, "崇州市") as (app, client, unit):
        ctx = app.state.ctx
        added = await load_year(ctx, 2026)
        types = {}
        for name, days in (("一般", 1), ("复杂", 2), ("疑难", 3)):
            r = await client.post("/api/event_type", json={"name": name, "limit_days": days})
            assert r.status_code in (200, 201), r.text
            types[days] = r.json()["id"]
        yield {"app": app, "ctx": ctx, "client": client, "types": types, "added": added, "unit": unit}


async def create_event(env, title: str, reported_at: dt.datetime, days: int) -> dict:
    r = await env["client"].post("/api/event", json={"title": title, "event_type": env["types"][days],
                                                      "reported_at": reported_at.isoformat(), "unit": env["unit"]})
    assert r.status_code in (200, 201), r.text
    return r.json()


def moment(text: str | None) -> dt.datetime | None:
    return None if text is None else dt.datetime.fromisoformat(text)


@ASYNC
async def test_loading_a_year_is_idempotent_and_keeps_edits(env):
    from specadmin.runtime.calendar.days import load_year

    ctx, client = env["ctx"], env["client"]
    day = ctx.table("calendar_day")
    rows = {r["day"]: (r["kind"], r["name"]) for r in await day.select(day.day, day.kind, day.name)}
    assert env["added"] == len(rows) > 20
    assert rows[D(2026, 10, 1)] == ("holiday", "国庆节") and rows[D(2026, 10, 10)] == ("workday", "国庆节调休上班")
    assert D(2026, 10, 3) not in rows  # a holiday on a weekend is a day off anyway
    listed = (await client.get("/api/calendar_day", params={"screen": "calendar_day_admin", "kind": "workday"})).json()
    assert D(2026, 10, 10).isoformat() in [item["day"] for item in listed["items"]]
    row_id = (await day.select(day.id).where(day.day == D(2026, 9, 25)))[0]["id"]
    r = await client.patch(f"/api/calendar_day/{row_id}", json={"name": "中秋节（本地）"})
    assert r.status_code == 200, r.text
    assert await load_year(ctx, 2026) == 0
    assert (await day.select(day.name).where(day.id == row_id))[0]["name"] == "中秋节（本地）"


@ASYNC
async def test_deadline_skips_a_weekend_a_holiday_and_counts_an_adjusted_saturday(env):
    friday = await create_event(env, "周五上报", T(2026, 12, 4, 10, 0), 1)
    assert moment(friday["due_at"]) == T(2026, 12, 7, 17, 30)  # over the weekend to Monday's close
    assert moment(friday["reply_by"]) == T(2026, 12, 4, 12, 0)  # 2 working hours
    late = await create_event(env, "周五傍晚上报", T(2026, 12, 4, 16, 30), 1)
    assert moment(late["reply_by"]) == T(2026, 12, 7, 10, 0)  # 1 h on Friday, 1 h on Monday
    holiday = await create_event(env, "节前上报", T(2026, 9, 30, 15, 0), 1)
    assert moment(holiday["due_at"]) == T(2026, 10, 8, 17, 30)  # 10-01..07 off
    saturday = await create_event(env, "节后上报", T(2026, 10, 8, 9, 0), 2)
    assert moment(saturday["due_at"]) == T(2026, 10, 10, 17, 30)  # Saturday 10-10 is worked
    # 4 working hours before the deadline: the light turns yellow at 13:30 on the due day
    assert moment(friday["due_at_warn_at"]) == T(2026, 12, 7, 13, 30)


@ASYNC
async def test_an_update_of_the_source_and_a_calendar_edit_recompute_the_deadline(env):
    from specadmin.runtime.calendar.deadlines import recompute

    ctx, client = env["ctx"], env["client"]
    event = await create_event(env, "延期事件", T(2026, 12, 9, 10, 0), 1)  # Wednesday → Thursday 17:30
    assert moment(event["due_at"]) == T(2026, 12, 10, 17, 30)
    r = await client.patch(f"/api/event/{event['id']}", json={"event_type": env["types"][3]})  # extended to 3 days
    assert r.status_code == 200, r.text
    assert moment(r.json()["due_at"]) == T(2026, 12, 14, 17, 30)  # Thu, Fri, (weekend), Mon
    r = await client.post("/api/calendar_day", json={"day": "2026-12-11", "kind": "holiday", "name": "临时放假"})
    assert r.status_code in (200, 201), r.text
    try:
        values = await recompute(ctx, "event", event["id"])
        assert values["due_at"] == T(2026, 12, 15, 17, 30)
        stored = (await client.get(f"/api/event/{event['id']}")).json()
        assert moment(stored["due_at"]) == T(2026, 12, 15, 17, 30)
    finally:
        day = ctx.table("calendar_day")
        await day.delete().where(day.day == D(2026, 12, 11))
    r = await client.patch(f"/api/event/{event['id']}", json={"title": "延期事件（改名）"})
    assert moment(r.json()["due_at"]) == T(2026, 12, 15, 17, 30)  # no source changed: kept as stored
    r = await client.patch(f"/api/event/{event['id']}", json={"reported_at": "9999-12-31T16:00:00"})
    assert r.status_code == 422 and "超出日期范围" in r.json()["errors"]["reported_at"], r.text  # not a 500
    r = await client.patch(f"/api/event/{event['id']}", json={"reply_by": "2027-01-01T00:00:00"})
    assert r.status_code == 422 and "签收时限" in r.text, r.text  # computed, never written by hand


@ASYNC
async def test_lights_and_their_tab_counts_follow_the_clock(env):
    ctx, client = env["ctx"], env["client"]
    event = ctx.table("event")
    await event.delete(force=True)
    ids = {}
    for title, reported, days in (("甲", T(2026, 12, 4, 10, 0), 1),    # due 12-07 17:30, yellow from 13:30
                                  ("乙", T(2026, 12, 4, 10, 0), 3),    # due 12-09 17:30
                                  ("丙", T(2026, 12, 3, 10, 0), 1)):   # due 12-04 17:30
        ids[title] = (await create_event(env, title, reported, days))["id"]
    r = await client.post("/api/event/actions/close", json={"ids": [ids["丙"]], "params": {}})
    assert r.status_code == 200 and r.json()["done"] == [ids["丙"]], r.text

    async def lights() -> dict:
        items = (await client.get("/api/event", params={"screen": "event_admin"})).json()["items"]
        return {i["title"]: (i["due_at_light"], i["due_at_light_label"]) for i in items}

    async def counts() -> dict:
        out = {}
        for tab in ("due_soon", "overdue", "warned"):
            r = await client.get("/api/event", params={"screen": "event_admin", "tab": tab})
            assert r.status_code == 200, r.text
            out[tab] = sorted(i["title"] for i in r.json()["items"])
            assert r.json()["total"] == len(out[tab])
        return out

    with clock_at(T(2026, 12, 7, 10, 0)):
        assert await lights() == {"甲": ("green", "正常"), "乙": ("green", "正常"), "丙": (None, None)}
        assert await counts() == {"due_soon": [], "overdue": [], "warned": []}
    with clock_at(T(2026, 12, 7, 14, 0)):
        assert await lights() == {"甲": ("yellow", "临期"), "乙": ("green", "正常"), "丙": (None, None)}
        assert await counts() == {"due_soon": ["甲"], "overdue": [], "warned": ["甲"]}
    with clock_at(T(2026, 12, 9, 15, 0)):  # 乙 has 2.5 working hours left; 甲 is overdue; 丙 closed
        assert await lights() == {"甲": ("red", "超期"), "乙": ("yellow", "临期"), "丙": (None, None)}
        assert await counts() == {"due_soon": ["乙"], "overdue": ["甲"], "warned": ["乙", "甲"]}
        r = await client.get("/api/event", params={"screen": "event_admin", "due_at_light": "red"})
        assert r.status_code == 200 and [i["title"] for i in r.json()["items"]] == ["甲"], r.text
        r = await client.get("/api/event", params={"screen": "event_admin", "due_at_light": "green"})
        assert r.json()["total"] == 0, r.text  # 丙 is closed: no light at all
        r = await client.get("/api/event", params={"screen": "event_admin", "due_at_light": "purple"})
        assert r.status_code == 400 and "due_at_light" in r.json()["detail"], r.text
        page = await client.get("/s/event_admin", params={"due_at_light": "yellow"})
        assert page.status_code == 200, page.text[:300]
        assert '<span class="light light-yellow">临期</span>' in page.text and "超期</span>" not in page.text


@ASYNC
async def test_a_notification_counts_the_overdue_rows_by_their_light(env):
    from specadmin.runtime.jobs.runner import run_job

    ctx = env["ctx"]
    event, message = ctx.table("event"), ctx.table("message")
    await event.delete(force=True)
    await message.delete(force=True)
    for title, reported, days in (("甲", T(2026, 12, 4, 10, 0), 1), ("乙", T(2026, 12, 4, 10, 0), 3),
                                  ("丙", T(2026, 12, 3, 10, 0), 1)):
        await create_event(env, title, reported, days)
    with clock_at(T(2026, 12, 7, 12, 0)):  # only 丙 (due 12-04 17:30) is overdue
        assert (await run_job(ctx, "overdue_daily", date_from=D(2026, 12, 7)))["status"] == "succeeded"
    with clock_at(T(2026, 12, 10, 9, 0)):  # all three are
        assert (await run_job(ctx, "overdue_daily", date_from=D(2026, 12, 10)))["status"] == "succeeded"
    assert [(r["day"], r["body"]) for r in await message.select(message.day, message.body).order_by(message.day)] == [
        (D(2026, 12, 7), "你单位有 1 件事件超期未办结。"), (D(2026, 12, 10), "你单位有 3 件事件超期未办结。")]


def test_check_names_each_broken_key_with_its_code_file_and_line(tmp_path, capsys):
    from specadmin.cli import main

    broken = (MODULE.replace("deadline: {from: reported_at, working_days: event_type.limit_days}",
                             "deadline: {from: title, working_days: event_type.name}")
              .replace("deadline: {from: reported_at, working_hours: 2}",
                       "deadline: {from: reported_at, working_hours: 2, days: 1}")
              .replace("done: {status: [closed]}", "done: {status: [finished]}")
              .replace("超期, where: {due_at_light: red}", "超期, where: {due_at_light: purple}")
              .replace("reported_at: {type: datetime, label: 上报时间, required: true}",
                       "reported_at: {type: datetime, label: 上报时间, required: true, lights: {yellow: {hours: 1}}}"))
    broken += ("feeds:\n  event_out:\n    kind: outbound\n    entity: event\n    events: [create]\n"
               "    targets: [hub]\n    where: {due_at_light: red}\n")
    write_app(tmp_path, broken)
    (tmp_path / "app.yaml").write_text(APP + "feed_targets:\n  hub: {label: 事件中心, url: 'http://127.0.0.1:9/x'}\n",
                                       encoding="utf-8")
    assert main(["check", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    lines = broken.splitlines()

    def line_of(text: str) -> int:
        return next(i for i, line in enumerate(lines, 1) if text in line)

    found = sorted(e.removeprefix(f"{tmp_path.name}/") for e in err.splitlines() if "[SA" in e)
    where = "modules/events.yaml"
    assert found == sorted([
        f"{where}:{line_of('lights: {yellow: {hours: 1}}')}: [SA167] field 'reported_at': lights needs a deadline "
        "on the same field",
        f"{where}:{line_of('from: title')}: [SA165] field 'due_at': deadline from 'title' must be $now or a date "
        "or datetime field of 'event'",
        f"{where}:{line_of('from: title')}: [SA166] field 'due_at': deadline working_days 'event_type.name' must be "
        "a number field of 'event' or of a ref (e.g. event_type.limit_days)",
        f"{where}:{line_of('days: 1}')}: [SA165] field 'reply_by': deadline needs exactly one of working_days, "
        "working_hours, days, hours (found working_hours, days)",
        f"{where}:{line_of('finished')}: [SA167] field 'due_at': lights done value 'finished' is not a key of "
        "dictionary 'event_status'",
        f"{where}:{line_of('purple')}: [SA168] where: 'due_at_light' takes green, yellow or red (red, "
        "{in: [yellow, red]}), not 'purple'",
        f"{where}:{len(lines)}: [SA168] where: 'due_at_light' is usable in tabs, action conditions and "
        "notifications only; compare the stored deadline and 'due_at_warn_at' here",
    ]), err


@ASYNC
async def test_calendar_days_import_through_the_screen_and_the_next_deadline_reads_them(env):
    ctx, client = env["ctx"], env["client"]
    day = ctx.table("calendar_day")
    sheet = "日期,类型,名称\n2026-12-11,节假日,临时放假\n2026-10-10,节假日,改为放假\n".encode()
    try:
        r = await client.post("/api/calendar_day/import", params={"screen": "calendar_day_admin", "mode": "upsert"},
                              files={"file": ("days.csv", sheet)})
        assert r.status_code == 200, r.text
        assert {(r["day"], r["kind"]) for r in await day.select(day.day, day.kind).where(
            day.day.is_in([D(2026, 12, 11), D(2026, 10, 10)]))} == {(D(2026, 12, 11), "holiday"),
                                                                   (D(2026, 10, 10), "holiday")}
        thursday = await create_event(env, "导入后上报", T(2026, 12, 10, 9, 0), 1)
        assert moment(thursday["due_at"]) == T(2026, 12, 14, 17, 30)  # Friday 12-11 is off now
    finally:
        await day.delete().where(day.day == D(2026, 12, 11))
        await day.update({day.kind: "workday", day.name: "国庆节调休上班"}).where(day.day == D(2026, 10, 10))


@ASYNC
async def test_rows_written_in_bulk_get_their_deadlines_from_fill_missing(env):
    from specadmin.runtime.calendar.deadlines import fill_missing

    ctx = env["ctx"]
    event = ctx.table("event")
    await event.delete(force=True)
    row_id = (await event.insert(event(title="批量写入", event_type=env["types"][1], reported_at=T(2026, 12, 4, 10, 0),
                                       status="open")).returning(event.id))[0]["id"]  # as an import writes: no hooks
    assert (await event.select(event.due_at).where(event.id == row_id))[0]["due_at"] is None
    assert await fill_missing(ctx) == 1
    row = (await event.select(event.due_at, event.due_at_warn_at, event.reply_by).where(event.id == row_id))[0]
    assert (row["due_at"], row["due_at_warn_at"], row["reply_by"]) == (
        T(2026, 12, 7, 17, 30), T(2026, 12, 7, 13, 30), T(2026, 12, 4, 12, 0))
    assert await fill_missing(ctx) == 0


def test_working_hours_come_from_app_yaml_and_bad_ones_are_named(tmp_path, capsys):
    from specadmin.cli import main
    from specadmin.generator.build import load_app
    from specadmin.runtime.calendar.days import working_hours

    write_app(tmp_path)
    hours = "calendar:\n  working_hours: ['08:30-12:00', '14:00-18:00']\n"
    (tmp_path / "app.yaml").write_text(APP + hours, encoding="utf-8")
    assert working_hours(load_app(tmp_path)) == ((dt.time(8, 30), dt.time(12)), (dt.time(14), dt.time(18)))
    (tmp_path / "app.yaml").write_text(APP + hours.replace("14:00-18:00", "11:00-13:00"), encoding="utf-8")
    assert main(["check", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert f"{tmp_path.name}/app.yaml:5: [SA169] calendar working_hours: 工作时段 11:00-13:00 应晚于前一时段且结束晚于开始" in err, err
