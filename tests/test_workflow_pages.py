"""The workflow's pages through the detail-page panel and menu slots (Plugin.detail_panels, menu_entries,
menu_badges) on the small event app of tests/workflow_fixture.py, SQLite and PostgreSQL: the panel shows
the state, only the actions the reader may take now, the handling tree, the timeline and the summary;
我的待办 lists the org's open tasks by box with lights, 交办后任务 what the org dispatched, and the menu
carries the badge count."""
from __future__ import annotations

import html as html_lib
import json
import re

import pytest
from conftest import BACKENDS, api_login, spec_app
from workflow_fixture import PASSWORD, assignments, populate, write_app

pytestmark = pytest.mark.asyncio(loop_scope="session")


@pytest.fixture(scope="module", params=BACKENDS)
async def env(request, tmp_path_factory):
    app_dir = write_app(tmp_path_factory.mktemp(f"workflow-pages-{request.param}"))
    async with spec_app(app_dir, request.param, PASSWORD) as (app, root, _):
        ids = await populate(app)
        from specadmin.runtime.identity.users import ensure_user

        await ensure_user(app.state.ctx, "nobody", PASSWORD, name="无权限用户", org_code="DA", roles=())
        clients = {name: await api_login(app, name, PASSWORD) for name in ("town", "da", "db", "dc")}
        yield {"app": app, "ids": ids, "c": clients}


async def dispatched(env, title: str) -> int:
    c, ids = env["c"], env["ids"]
    r = await c["town"].post("/api/workflow/event", json={"data": {"title": title, "event_type": ids["type"]},
                                                           "action": "launch"})
    assert r.status_code == 201, r.text
    event_id = r.json()["id"]
    r = await c["town"].post(f"/api/workflow/event/{event_id}/dispatch",
                             json={"params": {"assignments": assignments((ids["DA"], "lead"), (ids["DB"], "co"))}})
    assert r.status_code == 200, r.text
    return event_id


def badge(html: str) -> int | None:
    m = re.search(r'data-badge="workflow_todo"[^>]*>(\d+)<', html)
    return int(m.group(1)) if m else None


async def test_detail_page_shows_state_available_actions_tree_timeline_and_summary(env):
    c = env["c"]
    event_id = await dispatched(env, "路灯不亮")
    assert (await c["db"].post(f"/api/workflow/event/{event_id}/handle", json={"params": {"opinion": "已配合"}})).status_code == 200
    html = (await c["da"].get(f"/s/event_work/{event_id}")).text
    panel = html[html.index('id="workflow-panel"'):]
    assert '<span class="wf-state" id="wf-state">处置中</span>' in panel
    mine = re.findall(r'class="btn btn-primary op-action wf-action" data-action="(\w+)"', panel)
    assert {"dispatch", "handle", "return"} <= set(mine) and not {"close", "approve_return", "void", "launch"} & set(mine)
    assert '<template class="action-params" data-action="handle"' in html  # the dialog custom actions use
    tools = html[html.index('class="page-tools"'):html.index('<template class="action-params"')]
    assert 'data-action="handle"' not in tools and 'data-action="close"' not in tools  # offered by the panel only
    pickers = json.loads(html_lib.unescape(re.search(r'data-pickers="([^"]+)"', panel).group(1)))
    assert pickers["actions"]["dispatch"] == {"param": "assignments", "roles": [
        ["lead", "主办"], ["co", "协办"], ["assist", "协助"], ["cc", "抄送"]], "requirement": True}
    assert pickers["actions"]["request_assist"] == {"param": "assignments", "roles": [], "requirement": True}
    assert [o[1].strip() for o in pickers["orgs"]] == ["总部", "城运中心", "部门乙", "部门丙"]  # not 部门甲 itself
    orgs = re.findall(r'<li class="wf-node" data-org="([^"]+)"', panel)
    assert orgs == ["城运中心", "部门甲", "部门乙"]
    assert "请lead" in panel and "请co" in panel  # each node's requirement
    assert re.findall(r'<td class="wf-log-action">([^<]+)</td>', panel) == ["发起", "交办", "处置"]
    assert re.findall(r'<td class="wf-log-opinion">([^<]*)</td>', panel)[-1] == "已配合"
    done = panel[panel.index('class="wf-done"'):panel.index('class="wf-going"')]
    going = panel[panel.index('class="wf-going"'):panel.index('id="wf-briefing"')]
    assert "部门乙" in done and "城运中心" in done and "部门甲" in going and "部门甲" not in done
    assert "【事件处置汇总】路灯不亮：当前状态处置中。" in panel
    other = (await c["dc"].get(f"/s/event_work/{event_id}")).status_code
    assert other == 404  # not a participant: the screen's scope keeps the page closed
    town = (await c["town"].get(f"/s/event_work/{event_id}")).text
    town_panel = town[town.index('id="workflow-panel"'):]
    theirs = re.findall(r'op-action wf-action" data-action="(\w+)"', town_panel)
    assert "dispatch" in theirs and not {"handle", "return", "close"} & set(theirs)
    assert '"dispatch": {"param": "assignments"' in town_panel.replace("&#34;", '"')  # the org picker of 交办


async def test_my_todo_lists_the_orgs_open_tasks_with_lights_boxes_and_the_menu_badge(env):
    c = env["c"]
    before = badge((await c["da"].get("/")).text) or 0
    event_id = await dispatched(env, "井盖缺失")
    home = (await c["da"].get("/")).text
    assert badge(home) == before + 1
    assert 'href="/workflow/todo"' in home and ">我的待办<" in home
    page = (await c["da"].get("/workflow/todo")).text
    rows = re.findall(r'<tr class="row wf-todo-row" data-event="(\d+)" data-task="\d+" data-box="(\w+)">', page)
    assert (str(event_id), "todo") in rows and len(rows) == before + 1
    assert f'href="/s/event_work/{event_id}">井盖缺失</a>' in page
    assert re.search(r'data-light="green"[^>]*>\s*<span class="light light-green"></span>正常 <span class="wf-light-count">(\d+)<',
                     page).group(1) == str(before + 1)
    assert re.search(r'data-box="todo" href="[^"]*">待办 <span class="tab-count" data-count="(\d+)"', page).group(1) == str(before + 1)
    found = (await c["da"].get("/workflow/todo", params={"q": "井盖"})).text
    assert re.findall(r'data-event="(\d+)"', found) == [str(event_id)]
    closing = (await c["da"].get("/workflow/todo", params={"box": "closing"})).text
    assert 'data-event=' not in closing and "暂无待办" in closing
    sent = (await c["town"].get("/workflow/todo", params={"view": "dispatched"})).text
    mine = re.findall(rf'data-event="{event_id}" data-task="\d+" data-box="dispatched">.*?<td class="wf-todo-org">([^<]+)</td>',
                      sent, re.S)
    assert mine == ["部门甲", "部门乙"]
    assert (await c["da"].post(f"/api/workflow/event/{event_id}/handle", json={"params": {"opinion": "好"}})).status_code == 200
    assert badge((await c["da"].get("/")).text) == (before or None)


async def test_a_city_log_splits_the_timeline_into_local_and_city_tabs(env):
    c = env["c"]
    event_id = await dispatched(env, "城市级办结")
    hq = await api_login(env["app"], "hq", PASSWORD)
    r = await hq.post(f"/api/workflow/event/{event_id}/force_close", json={"params": {"opinion": "市级强制办结"}})
    assert r.status_code == 200, r.text
    html = (await c["town"].get(f"/s/event_work/{event_id}")).text
    assert re.findall(r'class="tab wf-log-tab[^"]*" data-channel="(\w+)" role="tab">([^<]+)<', html) == [
        ("local", "处理日志"), ("city", "市级日志")]
    rows = re.findall(r'<tr class="row wf-log-row" data-channel="(\w+)"( hidden)?>.*?<td class="wf-log-action">([^<]+)</td>',
                      html, re.S)
    assert rows == [("local", "", "发起"), ("local", "", "交办"), ("city", " hidden", "强制办结")]
    plain = (await c["town"].get(f"/s/event_work/{await dispatched(env, '仅本级')}")).text
    assert "wf-log-tab" not in plain  # no city log: one list, no tabs


async def test_my_todo_answers_odd_parameters_and_refuses_users_without_the_flows_screens(env):
    c = env["c"]
    for params in ({"box": "nope"}, {"light": "purple"}, {"view": "x" * 300}, {"q": "井" * 500}, {"box": ""}):
        r = await c["da"].get("/workflow/todo", params=params)
        assert r.status_code == 200 and "我的待办" in r.text, (params, r.status_code)
    outsider = await api_login(env["app"], "nobody", PASSWORD)
    r = await outsider.get("/workflow/todo")
    assert r.status_code == 403 and "workflow_todo" not in (await outsider.get("/")).text


async def test_my_todo_pages_through_every_task_instead_of_cutting_the_list(env):
    c, ids = env["c"], env["ids"]
    before = len(re.findall(r'data-event="\d+"', (await c["dc"].get("/workflow/todo", params={"page_size": 100})).text))
    for i in range(22):
        r = await c["town"].post("/api/workflow/event", json={"data": {"title": f"分页{i:02d}", "event_type": ids["type"]},
                                                               "action": "launch"})
        assert r.status_code == 201, r.text
        r = await c["town"].post(f"/api/workflow/event/{r.json()['id']}/dispatch",
                                 json={"params": {"assignments": assignments((ids["DC"], "lead"))}})
        assert r.status_code == 200, r.text
    total = before + 22
    seen = []
    for page in range(1, -(-total // 20) + 1):
        html = (await c["dc"].get("/workflow/todo", params={"page_size": 20, "page": page})).text
        assert f"第 {page} 页 / 共 {total} 条" in html
        seen += re.findall(r'data-event="(\d+)" data-task="(\d+)"', html)
    assert len(seen) == total and len(set(seen)) == total  # every task once, none cut off
    last = (await c["dc"].get("/workflow/todo", params={"page_size": 20, "page": 999})).text  # past the end: the last page
    assert f"第 {-(-total // 20)} 页 / 共 {total} 条" in last
