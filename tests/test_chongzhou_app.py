"""Chongzhou event hub (examples/chongzhou, seed 003) on SQLite and PostgreSQL, with its own demo data: the
query screens of §4.2 answer with their columns; the 本级及下级 / 本级 / 下级 switch narrows a town user's and
the city user's events to their own org and the orgs below it; a grid user sees no other town's events in
lists, details, exports or statistics; the draft box counts the user's own drafts; a monthly statistic
carries 环比/同比; the master-data sync API answers a division with its descendants.
"""
from __future__ import annotations

import base64
import csv
import datetime as dt
import importlib.util
import io

import pytest
from conftest import BACKENDS, EXAMPLES, api_login, running_app

pytestmark = pytest.mark.asyncio(loop_scope="session")

_spec = importlib.util.spec_from_file_location("chongzhou_demo_for_tests", EXAMPLES / "chongzhou" / "demo.py")
DEMO = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(DEMO)
PASSWORD = DEMO.PASSWORD

# screen → (entity, tab): every query screen of §4.2, the handling boxes and the sync screens
QUERY_SCREENS = {
    "event_in_process": ("event", "doing"), "event_completed": ("event", "done"),
    "event_participated": ("event", "doing"), "event_city_dispatched": ("event", "dispatched"),
    "event_all": ("event", "all"), "event_key": ("event", "key"), "review_mine": ("event_review", "pending"),
    "review_applied": ("event_review", None), "my_todo": ("event_task", "todo"),
    "dispatched_tasks": ("event_task", "open"),
}


@pytest.fixture(scope="module", params=BACKENDS)
async def hub(request, tmp_path_factory):
    async with running_app("chongzhou", tmp_path_factory, request.param, "chongzhou") as app:
        ctx = app.state.ctx
        await DEMO.load(ctx)
        org = ctx.table("org")
        orgs = {r["code"]: r for r in await org.select(org.id, org.code, org.path)}
        clients = {}
        yield {"app": app, "ctx": ctx, "orgs": orgs, "clients": clients, "backend": request.param}
        for client in clients.values():
            await client.aclose()


async def client_of(hub, username: str):
    if username not in hub["clients"]:
        hub["clients"][username] = await api_login(hub["app"], username, PASSWORD)
    return hub["clients"][username]


async def rows(hub, username: str, entity: str, screen: str, **params) -> list[dict]:
    client = await client_of(hub, username)
    r = await client.get(f"/api/{entity}", params={"screen": screen, "page_size": 500, **params})
    assert r.status_code == 200, r.text
    return r.json()["items"]


def below(hub, code: str) -> set[int]:
    """Ids of the org `code` and every org below it."""
    path = hub["orgs"][code]["path"]
    return {o["id"] for o in hub["orgs"].values() if o["path"].startswith(path)}


async def stored_events(hub) -> list[dict]:
    event = hub["ctx"].table("event")
    return await event.select(event.id, event.number, event.status, event.owner_org, event.initiator, event.launched_at)


async def test_the_demo_loads_events_in_every_state_with_their_deadlines(hub):
    events = await stored_events(hub)
    assert {e["status"] for e in events} == {"draft", "open", "in_process", "handled", "closed", "force_closed", "voided"}
    event = hub["ctx"].table("event")
    launched = await event.select(event.id, event.due_at, event.launched_at).where(event.launched_at.is_not_null())
    assert launched and all(e["due_at"] is not None and e["due_at"] > e["launched_at"] for e in launched)
    org = hub["ctx"].table("org")
    tagged = await org.select(org.code).where(org.tags == "镇街城运中心")
    assert sorted(r["code"] for r in tagged) == ["CZ-CY-ZX", "CZ-SJ-ZX", "CZ-YM-ZX"]


async def test_each_query_screen_answers_with_its_columns(hub):
    screens = hub["ctx"].screens
    for name, (entity, tab) in QUERY_SCREENS.items():
        items = []
        for username in ("city", "town", "town2", "dept1", "dept2", "community", "grid"):
            items += await rows(hub, username, entity, name, **({"tab": tab} if tab else {}))
        assert items, f"{name} lists nothing for any demo user"
        columns = [c["name"] if isinstance(c, dict) else c for c in screens[name]["list"]]
        missing = [c for c in columns if c.split(".")[0] not in items[0]]
        assert not missing, f"{name}: {missing}"
    doing = await rows(hub, "city", "event", "event_in_process", tab="doing")
    assert {e["status"] for e in doing} <= {"open", "in_process", "handled"}
    done = await rows(hub, "city", "event", "event_completed", tab="done")
    assert {e["status"] for e in done} == {"closed", "force_closed"}  # force-closed ones are listed as completed
    dispatched = await rows(hub, "town", "event", "event_city_dispatched", tab="dispatched")
    assert dispatched and all(e["city_dispatched_at"] for e in dispatched)
    key = await rows(hub, "city", "event", "event_key", tab="key")
    assert key and all(e["is_key"] for e in key)
    found = await rows(hub, "city", "event", "event_all", q=doing[0]["number"])
    assert [e["id"] for e in found] == [doing[0]["id"]]  # keyword search over the number


async def test_my_todo_filters_on_the_task_state_sent_as_filter_state(hub):
    """A filter on a field named like a value the web framework injects (`state`) is `filter_state`: the
    task's state filter of 我的待办 (the app would not start with it as `state`)."""
    pending = await rows(hub, "dept1", "event_task", "dispatched_tasks")
    assert pending is not None
    every = await rows(hub, "town", "event_task", "dispatched_tasks")
    waiting = await rows(hub, "town", "event_task", "dispatched_tasks", filter_state="return_pending")
    assert waiting and {t["state"] for t in waiting} == {"return_pending"} and len(waiting) < len(every)
    todo = await rows(hub, "dept1", "event_task", "my_todo", filter_state="todo")
    task = hub["ctx"].table("event_task")
    stored = await task.select(task.state, task.org).where(task.id.is_in([t["id"] for t in todo]))
    assert todo and {(t["state"], t["org"]) for t in stored} == {("todo", hub["orgs"]["CZ-ZJJ"]["id"])}


async def test_the_level_switch_narrows_a_town_user_and_the_city_user_to_their_own_org_and_below(hub):
    for username, code in (("town", "CZ-CY-ZX"), ("city", "CZ-CYZX")):
        own = hub["orgs"][code]["id"]
        every = await rows(hub, username, "event", "event_in_process", tab="doing")
        mine = await rows(hub, username, "event", "event_in_process", tab="doing", scope_level="self")
        sub = await rows(hub, username, "event", "event_in_process", tab="doing", scope_level="sub")
        assert mine and sub, username
        assert {e["owner_org"] for e in mine} == {own}
        assert own not in {e["owner_org"] for e in sub} and {e["owner_org"] for e in sub} <= below(hub, code)
        assert sorted(e["id"] for e in every) == sorted(e["id"] for e in mine + sub)
    town_all = {e["id"] for e in await rows(hub, "town", "event", "event_all")}
    city_all = {e["id"] for e in await rows(hub, "city", "event", "event_all")}
    assert town_all < city_all


async def test_a_grid_user_sees_no_other_towns_events_in_lists_details_exports_or_statistics(hub):
    grid_org = hub["orgs"]["CZ-CY-C01-G01"]["id"]
    events = await stored_events(hub)
    other_town = below(hub, "CZ-YM")
    foreign = [e for e in events if e["owner_org"] in other_town and e["status"] != "draft"]
    own = [e for e in events if e["owner_org"] == grid_org and e["status"] != "draft"]
    assert foreign and own
    listed = await rows(hub, "grid", "event", "event_all")
    assert {e["owner_org"] for e in listed} == {grid_org}
    grid = await client_of(hub, "grid")
    r = await grid.get(f"/api/event/{foreign[0]['id']}", params={"screen": "event_all"})
    assert r.status_code == 404, r.text
    r = await grid.get(f"/api/related/event_all/{foreign[0]['id']}")
    assert r.status_code == 404, r.text
    r = await grid.get("/api/event/export.csv", params={"screen": "event_all"})
    assert r.status_code == 200, r.text
    exported = list(csv.reader(io.StringIO(r.content.decode("utf-8-sig"))))
    numbers = {cell for line in exported[1:] for cell in line}
    assert {e["number"] for e in own} <= numbers and not {e["number"] for e in foreign} & numbers
    r = await grid.get("/api/stats/workbench")  # the workbench counters count the grid's own events only
    assert r.status_code == 200, r.text
    assert r.json()["totals"]["accepted"] == len(own)
    community = await client_of(hub, "community")
    r = await community.get("/api/stats/workbench")
    assert r.status_code == 200, r.text
    counted = r.json()["totals"]["accepted"]
    assert counted == len([e for e in events if e["owner_org"] in below(hub, "CZ-CY-C01") and e["status"] != "draft"])
    assert (await grid.get("/api/stats/stat_area_communities")).status_code == 403  # no grant: no statistic


async def test_the_draft_box_counts_the_users_own_drafts(hub):
    town = await client_of(hub, "town")
    before = await rows(hub, "town", "event", "event_drafts", tab="drafts")
    r = await town.post("/api/event", params={"screen": "event_drafts"},
                        json={"title": "测试草稿：路灯不亮", "source": "platform", "address": "崇阳街道永康路1号"})
    assert r.status_code == 201, r.text
    event = hub["ctx"].table("event")
    stored = await event.select(event.status, event.number, event.initiator).where(event.id == r.json()["id"])
    assert stored[0]["status"] == "draft" and stored[0]["number"] is None and stored[0]["initiator"] is not None
    after = await rows(hub, "town", "event", "event_drafts", tab="drafts")
    assert len(after) == len(before) + 1
    initiators = await event.select(event.initiator).where(event.id.is_in([e["id"] for e in after]))
    assert {e["initiator"] for e in initiators} == {stored[0]["initiator"]}  # only the user's own drafts
    assert not {e["id"] for e in after} & {e["id"] for e in await rows(hub, "grid", "event", "event_drafts", tab="drafts")}
    page = await town.get("/s/event_drafts", headers={"accept": "text/html"})
    assert page.status_code == 200 and f"({len(after)})" in page.text  # the tab counter


async def test_a_monthly_statistic_answers_with_month_on_month_and_year_on_year(hub):
    events = await stored_events(hub)
    today = dt.date.today()
    first = today.replace(day=1)
    city = await client_of(hub, "city")
    r = await city.get("/api/stats/stat_line_monthly", params={"date_from": first.isoformat(), "date_to": today.isoformat()})
    assert r.status_code == 200, r.text
    body = r.json()
    this_month = [e for e in events if e["launched_at"] and e["launched_at"].date() >= first]
    assert body["totals"]["total"] == len(this_month) > 0
    for key in ("total_mom", "total_mom_rate", "total_yoy", "total_yoy_rate"):
        assert key in body["items"][0], key
    last_month = (first - dt.timedelta(days=1)).replace(day=1)
    previous = [e for e in events if e["launched_at"] and last_month <= e["launched_at"].date() < first]
    assert body["totals"]["total_mom"] == len(previous)
    r = await city.get("/api/stats/stat_line_monthly/export.csv", params={"date_from": first.isoformat()})
    assert r.status_code == 200 and "环比" in r.content.decode("utf-8-sig")


async def ext_client(hub, caller: str, role: str):
    """An /ext client of a registered API caller (接入系统管理) with that role, by bearer token."""
    import httpx

    from specadmin.runtime.api_callers.keys import issue_token, register_key

    await register_key(hub["ctx"], caller, role=role, name=caller)
    token = await issue_token(hub["ctx"], caller)
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=hub["app"]), base_url="http://testserver",
                             headers={"Authorization": f"Bearer {token}"})


async def test_a_department_system_pushes_a_self_closed_event_with_its_attachment_and_its_steps(hub):
    png = base64.b64encode(b"\x89PNG\r\n\x1a\n" + b"\0" * 64).decode()
    number = f"ZJ{hub['backend']}0001"
    async with await ext_client(hub, "zj_system", "hub_push") as ext:
        r = await ext.post("/ext/feeds/event_push", json=[{
            "title": "住建局自处置：工地围挡破损", "number": number, "source": "wechat", "event_type": "010102",
            "area": "510184001", "source_system_id": "ZJ-2026-77",
            "files_before": [{"name": "现场.png", "content_base64": png}]}])
        assert r.status_code == 200, r.text
        assert r.json()["results"][0]["status"] == "created", r.text
        r = await ext.post("/ext/feeds/event_log_push", json=[{
            "event": number, "at": "2026-12-01 10:00:00", "operator_name": "张工", "action": "handle",
            "action_label": "处置", "opinion": "已修复围挡"}])
        assert r.status_code == 200 and r.json()["results"][0]["status"] == "created", r.text
    event, log = hub["ctx"].table("event"), hub["ctx"].table("event_log")
    stored = (await event.select(event.id, event.files_before, event.status).where(event.number == number))[0]
    assert stored["files_before"] == "现场.png" and stored["status"] == "draft"
    assert await log.count().where(log.event == stored["id"]) == 1


async def test_the_division_sync_api_answers_a_division_with_its_descendants(hub):
    division = hub["ctx"].table("division")
    town = (await division.select(division.id).where(division.code == "510184001"))[0]
    async with await ext_client(hub, "dept_system", "hub_api") as ext:
        r = await ext.get("/ext/api/division", params={"screen": "sync_division", "q": f"/{town['id']}/"})
        assert r.status_code == 200, r.text
        items = r.json()["items"]
        assert sorted(i["code"] for i in items) == ["510184001", "510184001001", "510184001002"]
        by_id = {r["id"]: r["code"] for r in await division.select(division.id, division.code)}
        assert {i["code"]: by_id[i["parent"]] for i in items} == {  # code, parent (id, label), name, level
            "510184001": "510184", "510184001001": "510184001", "510184001002": "510184001"}
        r = await ext.get("/ext/api/event_type", params={"screen": "sync_event_type", "page_size": 100})
        assert r.status_code == 200, r.text
        types = {i["code"]: i for i in r.json()["items"]}
        assert types["010101"]["parent_code"] == "0101" and types["0101"]["parent_code"] == "01"
        assert types["01"]["parent_code"] is None and types["010101"]["level"] == "sub"


async def test_the_apps_own_screens_over_built_in_entities_have_pages(hub):
    """组织机构信息接口 and 区域编码信息接口 are app screens over the built-in org and division entities: their
    pages and exports are served like any other screen's (they used to be left out of the app's screens)."""
    config = await client_of(hub, "config")
    for screen, entity, code in (("sync_org", "org", "CZ-CY-ZX"), ("sync_division", "division", "510184001")):
        page = await config.get(f"/s/{screen}", params={"q": code}, headers={"accept": "text/html"})
        assert page.status_code == 200 and code in page.text, screen
        r = await config.get(f"/api/{entity}/export.csv", params={"screen": screen, "q": code})
        assert r.status_code == 200 and code in r.content.decode("utf-8-sig"), screen


async def test_a_keyword_on_a_list_whose_display_field_is_a_reference_is_refused_not_a_server_error(hub):
    """部门类型配置 shows its rows by their 部门 (a ref, an integer column): without `search:` a keyword has no
    text column to match, which is a 400 naming that, on both databases (PostgreSQL failed on ILIKE)."""
    config = await client_of(hub, "config")
    for url in ("/api/dept_event_type", "/api/dept_event_type/export.csv"):
        r = await config.get(url, params={"screen": "dept_type_admin", "q": "住建"})
        assert r.status_code == 400 and "关键字" in r.json()["detail"], r.text
    r = await config.get("/api/plan", params={"screen": "plan_admin", "q": "焚烧"})
    assert r.status_code == 200 and [p["name"] for p in r.json()["items"]] == ["崇阳街道秸秆焚烧处置预案"]

