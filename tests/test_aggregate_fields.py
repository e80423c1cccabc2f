"""Aggregates over child rows (`type: computed` with `aggregate:`, spec-language issue item 2), on
SQLite and PostgreSQL, through the example of specs/REFERENCE.md run as written: count, exists, sum
and the latest child value; a tab for "has none", filters, sort, export, statistics and an action
condition reading them; a soft ref by business key; a window of relative dates moving with the test
clock (runtime/data/where.py `clock`); every child row counted whoever reads the parent (a viewer
scoped out of the children sees the same numbers); a write refused; broken specs named with code and line."""
from __future__ import annotations

import csv
import datetime as dt
import io
from pathlib import Path

import pytest
from conftest import BACKENDS, api_login, clock_at, reference_blocks, spec_app

ASYNC = pytest.mark.asyncio(loop_scope="session")
MODULE = reference_blocks()["modules/places_tasks.yaml"]
RULE = """rules:
  quiet:
    kind: consecutive_days
    label: 扫码稀少
    source: {entity: scan, key: place_code, date: scanned_at}
    measure: count
    bounds: {entity: place, key: place_code, min: 1, where: {last_scan: {lt: $today-7}}}
    reasons: {below: open}
    creates: {entity: task, fields: {title: $period, state: $reason}}
"""
APP = "app: places_tasks\nlabel: 场所与任务\nmodules: [places_tasks]\n"
PASSWORD = "Aggregate@2026x"
T = dt.datetime
NOON = T(2026, 12, 6, 12, 0)
SCANS = {"A": [T(2026, 12, 6, 9, 0), T(2026, 12, 1, 10, 0), T(2026, 11, 20, 8, 0)],
         "B": [T(2026, 11, 25, 10, 0)], "C": [], "Z": [T(2026, 12, 6, 11, 0)]}  # Z: a place not (yet) known
TASKS = {"甲事件": [("open", "1.5"), ("open", "2"), ("done", "1")], "乙事件": [("done", "4")], "丙事件": []}


def write_app(app_dir: Path, module: str = MODULE + RULE) -> Path:
    (app_dir / "modules").mkdir(parents=True, exist_ok=True)
    (app_dir / "app.yaml").write_text(APP, encoding="utf-8")
    (app_dir / "modules" / "places_tasks.yaml").write_text(module, encoding="utf-8")
    return app_dir


@pytest.fixture(scope="module", params=BACKENDS)
async def env(request, tmp_path_factory):
    from specadmin.runtime.identity.users import ensure_user

    app_dir = write_app(tmp_path_factory.mktemp(f"aggregate-{request.param}"))
    async with spec_app(app_dir, request.param, PASSWORD) as (app, client, _):
        ctx = app.state.ctx
        place, scan, event, task = (ctx.table(n) for n in ("place", "scan", "event", "task"))
        for code in "ABC":
            await place.insert(place(place_code=code, name=f"场所{code}"))
        for code, moments in SCANS.items():
            for at in moments:
                await scan.insert(scan(place_code=code, scanned_at=at))
        ids = {}
        for title, tasks in TASKS.items():
            ids[title] = (await event.insert(event(title=title, closed=False)).returning(event.id))[0]["id"]
            for i, (state, hours) in enumerate(tasks):
                await task.insert(task(title=f"{title}{i}", event=ids[title], state=state, hours=hours))
        await ensure_user(ctx, "clerk", PASSWORD, name="办事员", org_code="HQ", roles=("clerk",))
        clerk = await api_login(app, "clerk", PASSWORD)
        try:
            yield {"client": client, "clerk": clerk, "ids": ids, "ctx": ctx}
        finally:
            await clerk.aclose()


async def listed(client, entity: str, screen: str, **params) -> list[dict]:
    r = await client.get(f"/api/{entity}", params={"screen": screen, **params})
    assert r.status_code == 200, r.text
    return r.json()["items"]


async def events(client, **params) -> dict[str, dict]:
    return {i["title"]: i for i in await listed(client, "event", "event_admin", **params)}


async def places(client, **params) -> list[dict]:
    return await listed(client, "place", "place_admin", **params)


@ASYNC
async def test_count_exists_and_sum_of_child_rows_per_parent(env):
    items = await events(env["client"])
    assert {t: (i["open_tasks"], i["has_tasks"], float(i["hours"])) for t, i in items.items()} == {
        "甲事件": (2, True, 4.5), "乙事件": (0, True, 4.0), "丙事件": (0, False, 0.0)}
    assert items["丙事件"]["has_tasks"] is False and items["甲事件"]["has_tasks"] is True  # 是/否, not 0/1
    detail = (await env["client"].get(f"/api/event/{env['ids']['甲事件']}", params={"screen": "event_admin"})).json()
    assert (detail["open_tasks"], detail["has_tasks"]) == (2, True)


@ASYNC
async def test_latest_and_windowed_count_through_a_soft_ref_by_business_key(env):
    with clock_at(NOON):
        rows = {i["place_code"]: (i["last_scan"], i["scans_7d"]) for i in await places(env["client"])}
    assert rows == {"A": ("2026-12-06 09:00:00", 2), "B": ("2026-11-25 10:00:00", 0), "C": (None, 0)}


@ASYNC
async def test_list_and_detail_pages_show_the_aggregates(env):
    client = env["client"]
    with clock_at(NOON):
        page = await client.get("/s/place_admin")
        detail = await client.get(f"/s/event_admin/{env['ids']['甲事件']}")
    # the first tab (近7日无扫码) opens: B, last scanned on 11-25, and C, never
    assert page.status_code == 200 and "<td>2026-11-25 10:00:00</td>" in page.text and ">场所A<" not in page.text
    assert detail.status_code == 200 and "未完成任务数" in detail.text and "工时合计" in detail.text
    assert ">是<" in detail.text, detail.text  # exists is shown as 是/否


@ASYNC
async def test_the_relative_window_moves_with_the_clock(env):
    client = env["client"]
    with clock_at(T(2026, 12, 8, 12, 0)):  # from 12-02: the scan of 12-01 has left the window
        assert {i["place_code"]: i["scans_7d"] for i in await places(client)} == {"A": 1, "B": 0, "C": 0}
        assert [i["place_code"] for i in await places(client, tab="seen_today")] == []
    with clock_at(T(2026, 12, 13, 8, 0)):
        assert [i["place_code"] for i in await places(client, tab="quiet")] == ["A", "B", "C"]
    with clock_at(NOON):
        assert [i["place_code"] for i in await places(client, tab="quiet")] == ["B", "C"]
        assert [i["place_code"] for i in await places(client, tab="seen_today")] == ["A"]


@ASYNC
async def test_a_tab_lists_the_rows_with_none_and_filters_read_the_aggregate(env):
    client = env["client"]
    assert sorted(await events(client, tab="no_open")) == ["丙事件", "乙事件"]
    assert sorted(await events(client, open_tasks_from="1")) == ["甲事件"]
    assert sorted(await events(client, open_tasks_to="0")) == ["丙事件", "乙事件"]
    assert sorted(await events(client, has_tasks="false")) == ["丙事件"]
    assert sorted(await events(client, has_tasks="true")) == ["乙事件", "甲事件"]
    with clock_at(NOON):
        assert [i["place_code"] for i in await places(client, last_scan_from="2026-11-30")] == ["A"]
        assert [i["place_code"] for i in await places(client, scans_7d_from="1")] == ["A"]
    bad = await client.get("/api/event", params={"screen": "event_admin", "open_tasks_from": "许多"})
    assert bad.status_code == 400 and "open_tasks_from" in bad.text, bad.text
    page = await client.get("/s/event_admin")
    assert page.status_code == 200 and 'name="open_tasks_from"' in page.text and 'name="has_tasks"' in page.text


@ASYNC
async def test_a_list_sorts_on_an_aggregate(env):
    client = env["client"]
    assert [i["title"] for i in await listed(client, "event", "event_admin", sort="-hours")] == ["甲事件", "乙事件", "丙事件"]
    with clock_at(NOON):
        ordered = [i["place_code"] for i in await places(client, sort="-last_scan") if i["last_scan"]]
    assert ordered == ["A", "B"]


@ASYNC
async def test_every_child_row_counts_whoever_reads_the_parent(env):
    """The clerk sees only the tasks she registered (none), yet an event's numbers are the event's."""
    clerk = env["clerk"]
    assert await listed(clerk, "task", "task_admin") == []
    items = await events(clerk)
    assert (items["甲事件"]["open_tasks"], items["甲事件"]["has_tasks"]) == (2, True)
    assert sorted(await events(clerk, tab="no_open")) == ["丙事件", "乙事件"]


@ASYNC
async def test_an_action_condition_reads_the_aggregate(env):
    client, ids = env["client"], env["ids"]
    r = await client.post("/api/event/actions/close", json={"ids": [ids["甲事件"], ids["丙事件"]], "params": {}})
    assert r.status_code == 200 and (r.json()["done"], r.json()["skipped"]) == ([ids["丙事件"]], [ids["甲事件"]]), r.text


@ASYNC
async def test_export_and_statistics_read_the_aggregate(env):
    client = env["client"]
    r = await client.get("/api/event/export.csv", params={"screen": "event_admin", "sort": "-open_tasks"})
    assert r.status_code == 200, r.text
    rows = list(csv.reader(io.StringIO(r.content.decode("utf-8-sig"))))
    assert rows[0][:3] == ["标题", "未完成任务数", "有任务"]
    assert [row[:2] for row in rows[1:]][0] == ["甲事件", "2"]
    stat = await client.get("/api/stats/event_stat")
    assert stat.status_code == 200, stat.text
    assert sorted((bool(i["has_tasks"]), i["events"], i["open"]) for i in stat.json()["items"]) == [(False, 1, 0), (True, 2, 2)]


@ASYNC
async def test_an_aggregate_is_never_written(env):
    r = await env["client"].post("/api/event", json={"title": "丁事件", "open_tasks": 3}, params={"screen": "event_admin"})
    assert r.status_code == 422 and "未完成任务数" in r.text, r.text


@ASYNC
async def test_a_rules_bound_set_is_filtered_by_an_aggregate(env):
    """A rule's `bounds.where` keeps the places last scanned more than 7 days ago (B), as of the clock."""
    from specadmin.runtime.rules.bounds import bound_rows

    rule = env["ctx"].app.rule("quiet")
    with clock_at(NOON):
        assert [r["k"] for r in await bound_rows(env["ctx"], rule)] == ["B"]
    with clock_at(T(2026, 12, 20, 12, 0)):
        assert sorted(r["k"] for r in await bound_rows(env["ctx"], rule)) == ["A", "B"]


def test_the_child_gets_an_index_for_the_latest_value(tmp_path):
    """(via, field) for a max/min aggregate: a place's latest scan is one index seek; count and exists
    use the ref's own index (every ref column has one)."""
    from specadmin.generator.build import load_app
    from specadmin.specs.physical import physical_tables

    tables = {t.entity: t for t in physical_tables(load_app(write_app(tmp_path)))}
    assert ("place_code", "scanned_at") in tables["scan"].indexes
    assert next(c for c in tables["task"].columns if c.name == "event").param_dict.get("index") is True
    assert next(c for c in tables["scan"].columns if c.name == "place_code").param_dict.get("index") is True


BROKEN = [  # (replace, with, code, message fragment)
    ("aggregate: {of: task, via: event, agg: count, where: {state: open}}",
     "aggregate: {of: tasks, via: event, agg: count, where: {state: open}}", "SA205", "names no entity 'tasks'"),
    ("aggregate: {of: task, via: event, agg: exists}", "aggregate: {of: task, via: title, agg: exists}",
     "SA206", "'title' is not a ref of 'task' to 'event'"),
    ("aggregate: {of: task, via: event, agg: exists}", "aggregate: {of: task, via: event, agg: exists, field: hours}",
     "SA207", "exists counts rows and takes no 'field'"),
    ("agg: sum, field: hours}", "agg: sum, field: state}", "SA207", "sum needs integer or decimal"),
    ("where: {state: open}}", "where: {status: open}}", "SA080", "'status' is not a stored field of 'task'"),
    ("aggregate: {of: task, via: event, agg: exists}", "aggregate: {of: event, agg: exists}",
     "SA209", "'event' over its own rows"),
    ("min: 1, where: {last_scan", "min: scans_7d, where: {last_scan", "SA208", "bounds min 'scans_7d' of 'place' is an aggregate"),
    ("hours: {type: computed, label: 工时合计, aggregate:", "hours: {type: decimal, label: 工时合计, aggregate:",
     "SA205", "aggregate belongs to a field of type computed"),
]


@pytest.mark.parametrize("old,new,code,fragment", BROKEN, ids=[b[2] + "-" + b[3][:14] for b in BROKEN])
def test_check_names_a_broken_aggregate(tmp_path, capsys, old, new, code, fragment):
    from specadmin.cli import main

    assert old in MODULE + RULE
    broken = (MODULE + RULE).replace(old, new, 1)
    write_app(tmp_path, broken)
    assert main(["check", str(tmp_path)]) == 1
    errors = [e for e in capsys.readouterr().err.splitlines() if "[SA" in e]
    line = next(i for i, text in enumerate(broken.splitlines(), 1) if new in text)
    assert len(errors) == 1 and errors[0].startswith(f"{tmp_path.name}/modules/places_tasks.yaml:{line}: [{code}]"), errors
    assert fragment in errors[0], errors
