"""A query screen's rows are pinned by the screen (issue 13, task D item 2): a screen's `where:` holds on
every read through it (list with or without a tab, filters, export, statistic, detail, the rows a write
may target), and no request parameter removes it; a write may still move a row out of it. On SQLite and
PostgreSQL, over specs/REFERENCE.md's example (tests/desk_fixture.py) and over Chongzhou's 处置中."""
from __future__ import annotations

import csv
import importlib.util
import io

import pytest
from conftest import BACKENDS, EXAMPLES, api_login, reference_blocks, running_app, write_spec_app
from desk_fixture import desk_app

pytestmark = pytest.mark.asyncio(loop_scope="session")


@pytest.fixture(scope="module", params=BACKENDS)
async def desk(request, tmp_path_factory):
    async with desk_app(tmp_path_factory, request.param, "where") as env:
        yield env


async def titles(client, screen: str, **params) -> set[str]:
    r = await client.get("/api/case", params={"screen": screen, "page_size": 100, **params})
    assert r.status_code == 200, r.text
    return {i["title"] for i in r.json()["items"]}


async def test_no_tab_filter_or_level_lists_a_row_outside_the_screens_where(desk):
    town = desk["town"]
    assert await titles(town, "case_all") == {"乙参与", "丙他办", "丁已办结"}  # no where: every status
    doing = {"乙参与", "丙他办"}
    assert await titles(town, "case_doing") == doing
    assert await titles(town, "case_doing", tab="all") == doing
    assert await titles(town, "case_doing", scope_level="self") == doing
    assert await titles(town, "case_doing", status="已办结") == set()
    r = await town.get("/api/case", params={"screen": "case_doing"})
    assert r.json()["total"] == 2


async def test_the_detail_export_and_statistic_of_the_screen_keep_its_where(desk):
    town, closed = desk["town"], desk["ids"]["丁已办结"]
    assert (await town.get(f"/api/case/{closed}", params={"screen": "case_doing"})).status_code == 404
    assert (await town.get(f"/api/case/{closed}", params={"screen": "case_all"})).status_code == 200
    r = await town.get("/api/case/export", params={"screen": "case_doing"})
    assert r.status_code == 200, r.text
    cells = {c for row in csv.reader(io.StringIO(r.content.decode("utf-8-sig"))) for c in row}
    assert {"乙参与", "丙他办"} <= cells and "丁已办结" not in cells
    r = await town.get("/api/stats/case_count")
    assert r.status_code == 200, r.text
    assert [(i["status"], i["cases"]) for i in r.json()["items"]] == [("处置中", 2)]


async def test_a_write_reaches_only_the_screens_rows_and_may_move_one_out(desk):
    town, ids = desk["town"], desk["ids"]
    r = await town.patch(f"/api/case/{ids['丁已办结']}", params={"screen": "case_doing"}, json={"title": "改"})
    assert r.status_code == 404, r.text
    r = await town.patch(f"/api/case/{ids['丙他办']}", params={"screen": "case_doing"}, json={"status": "已办结"})
    assert r.status_code == 200, r.text  # not a data scope: closing from 处置中 is allowed, and the row leaves it
    assert await titles(town, "case_doing") == {"乙参与"}
    case = desk["ctx"].table("case")
    await case.update({case.status: "处置中"}).where(case.id == ids["丙他办"])  # as the other tests expect it


def test_a_screen_where_naming_an_unknown_field_is_reported_with_its_line(tmp_path, capsys):
    from specadmin.cli import main

    text = reference_blocks()["modules/desk.yaml"]
    broken = text.replace("where: {status: 处置中}              #", "where: {state: 处置中}              #", 1)
    assert broken != text
    write_spec_app(tmp_path, "app: demo\nlabel: 示例\nmodules: [desk]\n", {"desk": broken})
    assert main(["check", str(tmp_path)]) == 1
    line = next(i for i, s in enumerate(broken.splitlines(), 1) if "where: {state:" in s)
    err = [e.removeprefix(f"{tmp_path.name}/") for e in capsys.readouterr().err.splitlines() if "[SA" in e]
    assert len(err) == 1 and err[0].startswith(f"modules/desk.yaml:{line}: [SA080]"), err


_spec = importlib.util.spec_from_file_location("chongzhou_demo_for_where", EXAMPLES / "chongzhou" / "demo.py")
DEMO = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(DEMO)
OPEN = {"open", "in_process", "handled"}


@pytest.fixture(scope="module", params=BACKENDS)
async def hub(request, tmp_path_factory):
    async with running_app("chongzhou", tmp_path_factory, request.param, "where-cz") as app:
        await DEMO.load(app.state.ctx)
        clients = {name: await api_login(app, name, DEMO.PASSWORD) for name in ("city", "dept1")}
        yield {"app": app, "ctx": app.state.ctx, **clients}
        for client in clients.values():
            await client.aclose()


async def test_chongzhou_in_process_without_a_tab_never_lists_a_closed_event(hub):
    event = hub["ctx"].table("event")
    stored = {r["id"]: r["status"] for r in await event.select(event.id, event.status)}
    assert {"closed"} & set(stored.values())  # the demo has closed events the screen must leave out
    r = await hub["city"].get("/api/event", params={"screen": "event_in_process", "page_size": 500})
    assert r.status_code == 200, r.text
    listed = r.json()["items"]
    assert listed and {stored[i["id"]] for i in listed} <= OPEN
    assert r.json()["total"] == len([s for s in stored.values() if s in OPEN])  # the city sees every org's
    closed = next(i for i, s in stored.items() if s == "closed")
    r = await hub["city"].get(f"/api/event/{closed}", params={"screen": "event_in_process"})
    assert r.status_code == 404, r.text
    r = await hub["city"].get("/api/event/export", params={"screen": "event_in_process"})
    assert r.status_code == 200 and r.content.decode("utf-8-sig").count("\n") - 1 == len(listed), r.text[:300]


async def test_chongzhou_department_sees_in_all_events_those_it_handles_beside_those_it_owns(hub):
    ctx = hub["ctx"]
    event, task, org = ctx.table("event"), ctx.table("event_task"), ctx.table("org")
    user = ctx.table("user")
    dept = (await user.select(user.org).where(user.username == "dept1"))[0]["org"]
    path = (await org.select(org.path).where(org.id == dept))[0]["path"]
    below = {r["id"] for r in await org.select(org.id).where(org.path.like(f"{path}%"))}
    handled = {r["event"] for r in await task.select(task.event).where(task.org.is_in(list(below)))}
    rows = await event.select(event.id, event.owner_org, event.status)
    own = {r["id"] for r in rows if r["owner_org"] in below and r["status"] != "draft"}
    other = {r["id"] for r in rows if r["status"] != "draft"} - own - handled
    assert handled - own and other  # the demo has events the department only handles, and ones it has no part in
    r = await hub["dept1"].get("/api/event", params={"screen": "event_all", "page_size": 500})
    assert r.status_code == 200, r.text
    assert {i["id"] for i in r.json()["items"]} == own | {i for i in handled if i in {r["id"] for r in rows
                                                                                      if r["status"] != "draft"}}
    r = await hub["dept1"].get(f"/api/event/{min(other)}", params={"screen": "event_all"})
    assert r.status_code == 404, r.text
