"""The workflow plugin through its API on a small event app (tests/workflow_fixture.py), SQLite and PostgreSQL:
launch → dispatch to several orgs → each handles → the event is handled (derived from its tasks) and a
closing task appears → verify-return or close; who may act (grant and relation), illegal transitions
(409 with the reason in Chinese, nothing changed), state columns refused to PATCH and create, the todo
boxes with their badge, the detail (actions, handling tree, timeline, summary)."""
from __future__ import annotations

import json

import pytest
from conftest import BACKENDS
from workflow_fixture import act, assignments, draft, flow_env, launched, snapshot

pytestmark = pytest.mark.asyncio(loop_scope="session")


@pytest.fixture(scope="module", params=BACKENDS)
async def env(request, tmp_path_factory):
    async with flow_env(request.param, tmp_path_factory) as env:
        yield env


async def test_an_event_goes_from_launch_through_dispatch_and_handling_to_closed(env):
    ids = env["ids"]
    event_id = await launched(env, ("DA", "lead"), ("DB", "co"))
    r = await act(env, "da", event_id, "handle", opinion="已修复")
    assert r.status_code == 200 and r.json()["state"] == "in_process", r.text  # DB still outstanding
    r = await act(env, "db", event_id, "handle", opinion="已配合")
    assert r.status_code == 200 and r.json() == {"id": event_id, "action": "handle", "state": "handled",
                                                 "state_label": "已处置"}, r.text
    todo = (await env["c"]["town"].get("/api/workflow/todo", params={"flow": "event_flow"})).json()
    assert [(i["id"], i["box"]) for i in todo["items"] if i["id"] == event_id] == [(event_id, "closing")]
    r = await act(env, "town", event_id, "close", opinion="办结")
    assert r.status_code == 200 and r.json()["state"] == "closed", r.text
    snap = await snapshot(env, event_id)
    assert [(t["org"], t["role"], t["state"]) for t in snap["tasks"]] == [
        (ids["TOWN"], "owner", "submitted"), (ids["DA"], "lead", "submitted"), (ids["DB"], "co", "submitted"),
        (ids["TOWN"], "closing", "submitted")]
    assert [(entry["action"], entry["action_label"], entry["org"]) for entry in snap["log"]] == [
        ("launch", "发起", ids["TOWN"]), ("dispatch", "交办", ids["TOWN"]), ("handle", "处置", ids["DA"]),
        ("handle", "处置", ids["DB"]), ("close", "结案", ids["TOWN"])]
    assert snap["log"][2]["opinion"] == "已修复" and snap["log"][2]["operator_name"] == "da用户"
    assert snap["event"][0]["owner_org"] == ids["TOWN"] and snap["event"][0]["due_at"] is not None


async def test_verify_return_reopens_the_lead_task_and_drops_the_closing_task(env):
    ids = env["ids"]
    event_id = await launched(env, ("DA", "lead"))
    assert (await act(env, "da", event_id, "handle", opinion="已处理")).json()["state"] == "handled"
    r = await act(env, "town", event_id, "verify_return", opinion="未修好")
    assert r.status_code == 200 and r.json()["state"] == "in_process", r.text
    snap = await snapshot(env, event_id)
    assert [(t["org"], t["role"], t["state"]) for t in snap["tasks"]] == [
        (ids["TOWN"], "owner", "submitted"), (ids["DA"], "lead", "todo")]
    assert (await act(env, "da", event_id, "handle", opinion="再次处理")).json()["state"] == "handled"


async def test_detail_shows_state_actions_tree_log_and_summary(env):
    ids = env["ids"]
    event_id = await launched(env, ("DA", "lead"), ("DB", "co"))
    r = await act(env, "da", event_id, "dispatch", assignments=assignments((ids["DC"], "assist")))
    assert r.status_code == 200, r.text
    await act(env, "db", event_id, "handle", opinion="好")
    body = (await env["c"]["da"].get(f"/api/workflow/event/{event_id}")).json()
    assert body["state"] == "in_process" and body["state_label"] == "处置中" and body["version"] == "v1"
    assert [a["name"] for a in body["actions"]] == ["dispatch", "handle", "withdraw", "escalate", "return", "extend",
                                                     "request_assist", "track"]
    handle = next(a for a in body["actions"] if a["name"] == "handle")
    assert handle["params"] == [{"name": "opinion", "type": "text", "label": "处置意见", "required": True}]
    roots = [(t["org_name"], t["role_label"], [(c["org_name"], c["role_label"]) for c in t["children"]])
             for t in body["tasks"]]
    assert roots == [("城运中心", "发起", []), ("部门甲", "主办", [("部门丙", "协助")]), ("部门乙", "协办", [])]
    assert [(e["action_label"], e["org_name"], e["channel_label"]) for e in body["log"]] == [
        ("发起", "城运中心", "处理日志"), ("交办", "城运中心", "处理日志"), ("交办", "部门甲", "处理日志"),
        ("处置", "部门乙", "处理日志")]
    assert body["summary"]["in_progress"] == ["部门丙", "部门甲"] and "部门乙" in body["summary"]["done"]
    assert {(o["org_name"], o["level"]) for o in body["summary"]["orgs"]} == {
        ("城运中心", "street"), ("部门甲", "street"), ("部门乙", "street"), ("部门丙", "street")}
    assert all(o["level_label"] not in (None, "", "street") for o in body["summary"]["orgs"])
    other = (await env["c"]["town"].get(f"/api/workflow/event/{event_id}")).json()
    assert [a["name"] for a in other["actions"]] == ["dispatch", "withdraw", "escalate", "extend", "track", "mark_key", "urge"]


async def test_todo_counts_boxes_lights_and_the_badge_of_the_actors_org(env):
    event_id = await launched(env, ("DC", "lead"), title="井盖缺失")
    todo = (await env["c"]["dc"].get("/api/workflow/todo", params={"flow": "event_flow"})).json()
    mine = [i for i in todo["items"] if i["id"] == event_id]
    assert [(i["title"], i["box"], i["role_label"], i["state_label"], i["light"]) for i in mine] == [
        ("井盖缺失", "todo", "主办", "待办", "green")]
    assert todo["badge"] == len(todo["items"]) == todo["boxes"]["todo"]["count"] + todo["boxes"]["closing"]["count"]
    assert sum(todo["lights"].values()) == todo["badge"]
    ctx = env["ctx"]
    msg = ctx.table("message")
    assert await msg.exists().where(msg.recipient == env["ids"]["dc"], msg.title == "待办：交办")
    r = await env["c"]["dc"].get("/api/workflow/todo", params={"flow": "nope"})
    assert r.status_code == 404


async def test_state_columns_cannot_be_patched_or_created(env):
    event_id = await launched(env, ("DA", "lead"))
    before = await snapshot(env, event_id)
    r = await env["c"]["town"].patch(f"/api/event/{event_id}", params={"screen": "event_work"},
                                     json={"status": "closed"})
    assert r.status_code == 422 and r.json()["errors"] == {"status": "“状态”只能通过流程操作改变"}, r.text
    task_id = before["tasks"][1]["id"]
    r = await env["c"]["da"].patch(f"/api/event_task/{task_id}", params={"screen": "event_task_list"},
                                   json={"state": "submitted"})
    assert r.status_code == 422 and r.json()["errors"] == {"state": "“状态”只能通过流程操作改变"}, r.text
    assert await snapshot(env, event_id) == before
    r = await env["root"].post("/api/event", params={"screen": "event_work"},
                               json={"title": "直接办结", "status": "closed"})
    assert r.status_code in (403, 422), r.text
    ev = env["ctx"].table("event")
    assert not await ev.exists().where(ev.title == "直接办结")


async def test_bad_parameters_are_422_by_parameter_and_change_nothing(env):
    event_id = await launched(env)
    before = await snapshot(env, event_id)
    r = await act(env, "town", event_id, "dispatch", assignments="not json")
    assert r.status_code == 422 and r.json()["errors"] == {"assignments": "交办单位：应为 JSON 列表"}, r.text
    r = await act(env, "town", event_id, "dispatch", assignments=json.dumps([{"org": 999999, "role": "lead"}]))
    assert r.status_code == 422 and r.json()["errors"] == {"assignments": "交办单位：第 1 项的单位不存在"}, r.text
    r = await act(env, "town", event_id, "dispatch", assignments=assignments((env["ids"]["DA"], "closing")))
    assert r.status_code == 422 and r.json()["errors"] == {"assignments": "交办单位：第 1 项的角色不可选"}, r.text
    r = await act(env, "town", event_id, "dispatch")
    assert r.status_code == 422 and "assignments" in r.json()["errors"], r.text
    da = env["ids"]["DA"]
    for item, error in (({"org": da, "role": ["lead"]}, "第 1 项的角色不可选"),
                        ({"org": da, "role": "boss"}, "第 1 项的角色不可选"),
                        ({"org": str(da), "role": "lead"}, "第 1 项的单位不存在"),
                        ({"org": da, "role": "lead", "requirement": {"x": 1}}, "第 1 项的处置要求应为文字")):
        r = await act(env, "town", event_id, "dispatch", assignments=json.dumps([item]))
        assert r.status_code == 422 and r.json()["errors"] == {"assignments": f"交办单位：{error}"}, r.text
    assert await snapshot(env, event_id) == before


async def test_a_task_number_beyond_any_row_is_a_parameter_error_not_a_server_error(env):
    event_id = await launched(env, ("DA", "lead"))
    before = await snapshot(env, event_id)
    for task in (2**70, -1, 0):
        r = await act(env, "town", event_id, "withdraw", task=task)
        assert r.status_code in (400, 422) and "task" in r.json()["errors"], r.text
    assert await snapshot(env, event_id) == before


STATES = ("draft", "open", "in_process", "handled", "closed", "force_closed", "voided")
LABELS = {"draft": "草稿", "open": "已发起", "in_process": "处置中", "handled": "已处置", "closed": "已办结",
          "force_closed": "强制办结", "voided": "已作废"}
# action -> (label, legal states, the actor who may, one refused by the relation, the reason, params)
ACTIONS = {
    "launch": ("发起", {"draft"}, "town", "outsider", "只有发起人可以发起", {}),
    "dispatch": ("交办", {"open", "in_process"}, "town", "outsider", "只有发起单位或主办单位可以交办", {"assignments": "DB:co"}),
    "handle": ("处置", {"in_process"}, "da", "outsider", "只有承办单位可以处置", {"opinion": "已处理"}),
    "verify_return": ("核查退回", {"handled"}, "town", "outsider", "只有结案单位可以核查退回", {"opinion": "不合格"}),
    "close": ("结案", {"handled"}, "town", "outsider", "只有结案单位可以结案", {"opinion": "办结"}),
    "void": ("作废", {"open"}, "town", "outsider", "只有发起人可以作废", {}),
    "force_close": ("强制办结", {"open", "in_process", "handled"}, "hq", "outsider", "只有市城运中心可以强制办结",
                    {"opinion": "超时"}),
    "track": ("事件跟踪", {"open", "in_process", "handled"}, "town", "outsider", "只有处置单位可以跟踪", {"content": "进展"}),
    "instruct": ("批示", {"open", "in_process", "handled", "closed", "force_closed"}, "hqlead", "town",
                 "只有本级及以上领导或抄送单位可以批示", {"content": "抓紧办理"}),
    "supervise": ("督办", {"in_process"}, "hqlead", "town", "只有本级及以上领导或抄送单位可以督办", {"content": "限期办结"}),
    "mark_key": ("标记重点工单", {"draft", "open", "in_process", "handled"}, "town", "outsider", "只有城运中心可以标记重点工单",
                 {}),
    "urge": ("催办", {"in_process"}, "town", "outsider", "只有城运中心或发起单位可以催办", {"content": "请尽快"}),
    "visit": ("回访", {"closed"}, "town", None, None, {"satisfaction": "满意"}),
    "escalate": ("上报", {"open", "in_process"}, "town", "outsider", "只有发起或主办单位可以上报", {"opinion": "请市级协调"}),
    "request_assist": ("申请协助", {"in_process"}, "da", "outsider", "只有主办或协办单位可以申请协助",
                       {"assignments": "DC:assist"}),
    "extend": ("延期", {"in_process"}, "town", "outsider", "只有承办单位可以申请延期",
               {"deadline": "2027-01-08T17:30:00", "reason": "材料未齐"}),
    "return": ("退回", {"in_process"}, "da", "outsider", "只有承办单位可以退回", {"reason": "不属本单位职责"}),
}


async def in_state(env, state: str) -> int:
    if state == "draft":
        return await draft(env)
    if state in ("open", "voided", "force_closed"):
        event_id = await launched(env)
        if state == "voided":
            assert (await act(env, "town", event_id, "void")).status_code == 200
        if state == "force_closed":
            assert (await act(env, "hq", event_id, "force_close", opinion="测试")).status_code == 200
        return event_id
    event_id = await launched(env, ("DA", "lead"))
    if state in ("handled", "closed"):
        assert (await act(env, "da", event_id, "handle", opinion="好")).json()["state"] == "handled"
    if state == "closed":
        assert (await act(env, "town", event_id, "close", opinion="好")).json()["state"] == "closed"
    return event_id


def _params(env, params: dict) -> dict:
    out = dict(params)
    if "assignments" in out:
        code, role = out["assignments"].split(":")
        out["assignments"] = assignments((env["ids"][code], role))
    return out


@pytest.mark.parametrize("state", STATES)
@pytest.mark.parametrize("action", list(ACTIONS))
async def test_every_action_in_every_state_by_a_user_who_may_and_users_who_may_not(env, action, state):
    label, legal, actor, stranger, reason, params = ACTIONS[action]
    event_id = await in_state(env, state)
    before = await snapshot(env, event_id)
    actors = {"root": env["root"], **env["c"]}
    url = f"/api/workflow/event/{event_id}/{action}"
    body = {"params": _params(env, params)}
    r = await env["c"]["viewer"].post(url, json=body)  # no grant of the action
    assert r.status_code == 403, r.text
    if state not in legal:
        r = await env["root"].post(url, json=body)
        assert r.status_code == 409 and r.json()["detail"] == f"当前状态“{LABELS[state]}”不能“{label}”", r.text
        assert await snapshot(env, event_id) == before
        return
    if stranger is not None:
        r = await actors[stranger].post(url, json=body)
        assert r.status_code == 403 and r.json()["detail"] == reason, r.text
        assert await snapshot(env, event_id) == before
    r = await actors[actor].post(url, json=body)
    assert r.status_code == 200, r.text
    after = await snapshot(env, event_id)
    assert after["log"][-1]["action"] == action and len(after["log"]) == len(before["log"]) + 1
    assert after["event"][0]["version"] > before["event"][0]["version"]


async def test_two_orgs_handling_at_once_lose_nothing_and_derive_the_state_once(env):
    import asyncio

    ids = env["ids"]
    task = env["ctx"].table("event_task")
    for _ in range(50):
        event_id = await launched(env, ("DA", "lead"), ("DB", "co"))
        first, second = await asyncio.gather(act(env, "da", event_id, "handle", opinion="甲"),
                                             act(env, "db", event_id, "handle", opinion="乙"))
        assert first.status_code == second.status_code == 200, (first.text, second.text)
        assert {first.json()["state"], second.json()["state"]} == {"in_process", "handled"}
        snap = await snapshot(env, event_id)
        assert snap["event"][0]["status"] == "handled"
        assert sorted((t["org"], t["role"], t["state"]) for t in snap["tasks"]) == sorted([
            (ids["TOWN"], "owner", "submitted"), (ids["DA"], "lead", "submitted"), (ids["DB"], "co", "submitted"),
            (ids["TOWN"], "closing", "todo")])
        assert [e["action"] for e in snap["log"]].count("handle") == 2
        one, two = await asyncio.gather(act(env, "town", event_id, "close", opinion="一"),
                                        act(env, "town", event_id, "close", opinion="二"))
        assert sorted([one.status_code, two.status_code]) == [200, 409], (one.text, two.text)
        snap = await snapshot(env, event_id)
        assert snap["event"][0]["status"] == "closed" and [e["action"] for e in snap["log"]].count("close") == 1
        assert await task.count().where(task.event == event_id, task.role == "closing") == 1


async def test_the_flows_actions_are_buttons_of_the_screens_detail_page(env):
    event_id = await launched(env, ("DA", "lead"))
    r = await env["c"]["da"].get(f"/s/event_work/{event_id}")
    assert r.status_code == 200, r.text
    for action in ("handle", "return", "request_assist"):  # forms to the action, its parameter dialog on the page
        assert f'action="/s/event_work/action/{action}"' in r.text, action


def _row_buttons(html: str, row_id: int) -> list[str]:
    import re

    row = re.search(rf'<tr class="row" data-id="{row_id}">(.*?)</tr>', html, re.S)
    assert row, f"row {row_id} not on the page"
    return re.findall(r'data-action="([a-z_]+)"', row.group(1))


async def test_list_rows_offer_only_the_flow_actions_their_state_starts(env):
    closed = await launched(env, ("DA", "lead"), title="0列表按钮已办结")
    assert (await act(env, "da", closed, "handle", opinion="好")).json()["state"] == "handled"
    assert (await act(env, "town", closed, "close", opinion="好")).json()["state"] == "closed"
    going = await launched(env, ("DA", "lead"), title="0列表按钮处置中")
    r = await env["c"]["town"].get("/s/event_work", params={"sort": "title"})  # digits before Chinese: page 1
    assert r.status_code == 200, r.text
    assert "dispatch" not in _row_buttons(r.text, closed) and "handle" not in _row_buttons(r.text, closed)
    assert {"dispatch", "handle"} <= set(_row_buttons(r.text, going))
    detail = (await env["c"]["town"].get(f"/api/workflow/event/{closed}")).json()  # the detail panel judges as before
    assert "dispatch" not in [a["name"] for a in detail["actions"]]
