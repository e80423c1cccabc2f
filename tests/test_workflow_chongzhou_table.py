"""Every action of Chongzhou's event flow (examples/chongzhou/modules/event_flow.yaml: the 24 of requirements
§4.3 with 开启/关闭预案) in every state of an event, SQLite and PostgreSQL: outside its from-states the actor is
refused with 409 and the Chinese reason (a draft, outside the handling screens' scope, with 404); inside them one who does not stand in the action's relation gets 403
with the action's reason (or 404 when the row is outside their data scope), the actor succeeds, and a refusal
changes nothing (event, tasks, log). One app start per database; events in a state are built through the API.
Also: the demo's 系统参数 near_due_working_days moves an event's light and the todo's 临期 counter."""
from __future__ import annotations

import json

import pytest
import yaml
from conftest import EXAMPLES
from test_workflow_chongzhou import act, hub, launch  # noqa: F401  (the module's app, started once per database)

pytestmark = pytest.mark.asyncio(loop_scope="session")
FLOW = yaml.safe_load((EXAMPLES / "chongzhou" / "modules" / "event_flow.yaml").read_text(encoding="utf-8"))
ACTIONS_DECLARED = FLOW["workflow"]["event_flow"]["actions"]
# actions an inbound feed runs on the records it creates (多跨上报): tests/test_chongzhou_multispan.py drives them
SERVICES = yaml.safe_load((EXAMPLES / "chongzhou" / "modules" / "services.yaml").read_text(encoding="utf-8"))
FEED_ACTIONS = {f["action"] for f in SERVICES["feeds"].values() if f.get("action")}
STATES = ("draft", "open", "in_process", "handled", "closed", "force_closed", "voided")
LABELS = {"draft": "草稿", "open": "已发起", "in_process": "处置中", "handled": "已处置", "closed": "已办结",
          "force_closed": "强制办结", "voided": "已作废"}
LEAD, CO, OTHER = "CZ-CGJ", "CZ-ZJJ", "CZ-STJ"  # dept2 leads, dept1 co-handles; 生态环境局 is asked to help

# action -> (label, actor, stranger (user, status) or None, params, precondition built on the state's event)
TABLE = {
    "launch": ("发起", "town", None, {}, None),
    "open_plan": ("开启预案", "town", None, {"plan": "$active_plan"}, None),
    "close_plan": ("关闭预案", "town", None, {}, "plan_set"),
    "dispatch": ("交办", "town", ("community", 404), {"assignments": "$assist_other"}, None),
    "withdraw": ("撤回", "town", ("community", 404), {"task": "$lead_task", "opinion": "撤回重派"}, None),
    "escalate": ("上报", "town", ("community", 404), {"opinion": "请上级协调"}, None),
    "escalate_city": ("上报市城运中心", "town", ("community", 404), {"dept": "$other_org", "opinion": "请市级部门处置"},
                      None),
    "sign": ("签收", "dept2", ("town", 403), {"opinion": "已签收"}, "city_dispatched"),
    "return": ("退回", "dept1", ("town", 403), {"reason": "不属本单位职责"}, None),
    "approve_return": ("同意退回", "town", ("dept2", 403), {"opinion": "同意"}, "returned"),
    "reject_return": ("驳回退回", "town", ("dept2", 403), {"opinion": "请继续办理"}, "returned"),
    "extend": ("申请延期", "dept2", ("town", 403), {"deadline": "2027-03-01T17:30:00", "reason": "材料未齐"}, None),
    "approve_extension": ("同意延期", "town", ("dept1", 403), {"opinion": "同意"}, "extending"),
    "reject_extension": ("驳回延期", "town", ("dept1", 403), {"opinion": "不同意"}, "extending"),
    "postpone_review": ("暂缓审核", "town", ("dept2", 403), {"reason": "待核实"}, "returned"),
    "request_assist": ("申请协助", "dept2", ("town", 403), {"assignments": "$assist_other", "limit_days": 2}, None),
    "track": ("事件跟踪", "town", ("community", 404), {"content": "进展如何"}, None),
    "handle": ("处置", "dept2", ("town", 403), {"opinion": "已处理"}, None),
    "verify_return": ("退回重新处理", "town", ("dept2", 403), {"opinion": "未处理到位"}, None),
    "close": ("结案", "town", ("dept2", 403), {"opinion": "办结"}, None),
    "force_close": ("强制办结", "town", ("dept2", 403), {"opinion": "超时"}, None),
    "void": ("作废", "town", None, {"reason": "重复上报"}, None),
    "instruct": ("批示", "leader", ("town", 403), {"content": "抓紧办理"}, None),
    "supervise": ("督办", "leader", ("town", 403), {"content": "限期办结"}, None),
    "urge": ("催办", "town", ("dept1", 404), {"content": "请尽快"}, None),
    "visit": ("回访", "town", None, {"satisfaction": "satisfied", "notes": "群众满意"}, None),
}
# a draft is its initiator's alone (草稿箱, scope own_records): the handling screens do not reach it (404)
ON_DRAFTS = set(FLOW["screens"]["event_launch"]["custom_actions"])
# (action, state) pairs of a from-state in which no user can hold the relation: the actor gets 403 there
# (who tries, the reason): the town centre, in scope, is refused by the relation (the departments are out of scope)
UNREACHABLE = {("sign", "open"): ("town", "只有待签收的承办单位可以签收")}
PROBE = "town"  # outside the from-states: the owning town centre, in every screen's scope and holding every grant


def test_the_table_covers_every_action_the_flow_declares():
    assert FEED_ACTIONS <= set(ACTIONS_DECLARED) and not FEED_ACTIONS & set(TABLE)
    assert set(TABLE) == set(ACTIONS_DECLARED) - FEED_ACTIONS and len(TABLE) == 26
    for name, spec in ACTIONS_DECLARED.items():
        assert set(spec.get("from") or STATES) <= set(STATES), name


async def snapshot(hub, event_id) -> dict:
    ctx = hub["ctx"]
    ev, task, log = ctx.table("event"), ctx.table("event_task"), ctx.table("event_log")
    return {"event": await ev.select().where(ev.id == event_id),
            "tasks": await task.select().where(task.event == event_id).order_by(task.id),
            "log": await log.select().where(log.event == event_id).order_by(log.id)}


async def in_state(hub, state: str) -> int:
    """An event launched by the town centre in `state`; from 处置中 on, dept2 leads and dept1 co-handles."""
    if state == "draft":
        r = await hub["c"]["town"].post("/api/workflow/event", json={"data": {
            "title": "表格草稿", "event_type": hub["types"]["020101"], "form_data": '{"stall_count": 2}'}})
        assert r.status_code == 201, r.text
        return r.json()["id"]
    event_id = await launch(hub, "town", f"表格事件{state}")
    if state == "voided":
        assert (await act(hub, "town", event_id, "void", reason="测试")).status_code == 200
    if state in ("open", "voided"):
        return event_id
    orgs = hub["orgs"]
    r = await act(hub, "town", event_id, "dispatch", limit_days=3, assignments=json.dumps([
        {"org": orgs[LEAD], "role": "lead", "requirement": "请牵头"}, {"org": orgs[CO], "role": "co", "requirement": "请配合"}]))
    assert r.status_code == 200 and r.json()["state"] == "in_process", r.text
    if state == "force_closed":
        assert (await act(hub, "town", event_id, "force_close", opinion="测试")).status_code == 200
    if state in ("handled", "closed"):
        assert (await act(hub, "dept2", event_id, "handle", opinion="好")).status_code == 200
        assert (await act(hub, "dept1", event_id, "handle", opinion="好")).json()["state"] == "handled"
    if state == "closed":
        assert (await act(hub, "town", event_id, "close", opinion="好")).json()["state"] == "closed"
    return event_id


async def precondition(hub, event_id: int, state: str, what: str | None) -> None:
    ctx = hub["ctx"]
    ev = ctx.table("event")
    if what == "plan_set":
        plan = ctx.table("plan")
        active = (await plan.select(plan.id).where(plan.active == True).limit(1))[0]["id"]  # noqa: E712
        await ev.update({ev.plan: active}).where(ev.id == event_id)
    elif what == "city_dispatched":
        await ev.update({ev.city_dispatched_at: ev.launched_at}).where(ev.id == event_id)
    elif what == "returned" and state == "in_process":
        assert (await act(hub, "dept1", event_id, "return", reason="不属本单位职责")).status_code == 200
    elif what == "extending" and state == "in_process":
        r = await act(hub, "dept2", event_id, "extend", deadline="2027-03-01T17:30:00", reason="材料未齐")
        assert r.status_code == 200, r.text


async def params_for(hub, event_id: int, params: dict) -> dict:
    ctx, orgs = hub["ctx"], hub["orgs"]
    out = dict(params)
    for key, value in params.items():
        if value == "$active_plan":
            plan = ctx.table("plan")
            out[key] = (await plan.select(plan.id).where(plan.active == True).limit(1))[0]["id"]  # noqa: E712
        elif value == "$assist_other":
            out[key] = json.dumps([{"org": orgs[OTHER], "role": "assist", "requirement": "请协助"}])
        elif value == "$other_org":
            out[key] = orgs[OTHER]
        elif value == "$lead_task":
            task = ctx.table("event_task")
            found = await task.select(task.id).where(task.event == event_id, task.org == orgs[LEAD], task.role == "lead")
            out[key] = found[0]["id"] if found else 0
    return out


@pytest.mark.parametrize("action", list(TABLE))
async def test_each_chongzhou_action_in_each_state_succeeds_only_from_its_states_for_its_actor(hub, action):
    label, actor, stranger, params, needs = TABLE[action]
    legal = set(ACTIONS_DECLARED[action].get("from") or STATES)
    for state in STATES:
        event_id = await in_state(hub, state)
        await precondition(hub, event_id, state, needs)
        body = await params_for(hub, event_id, params)
        before = await snapshot(hub, event_id)
        if state == "draft" and action not in ON_DRAFTS:
            r = await act(hub, actor, event_id, action, **body)
            assert r.status_code == 404, (state, r.text)
            assert await snapshot(hub, event_id) == before, state
            continue
        if state not in legal:
            r = await act(hub, PROBE, event_id, action, **body)
            assert r.status_code == 409 and r.json()["detail"] == f"当前状态“{LABELS[state]}”不能“{label}”", (
                state, r.text)
            assert await snapshot(hub, event_id) == before, state
            continue
        if stranger is not None:
            who, status = stranger
            r = await act(hub, who, event_id, action, **body)
            assert r.status_code == status, (state, who, r.text)
            if status == 403:
                assert r.json()["detail"] == ACTIONS_DECLARED[action]["refuse"], (state, r.text)
            assert await snapshot(hub, event_id) == before, state
        if (action, state) in UNREACHABLE:
            who, reason = UNREACHABLE[(action, state)]
            r = await act(hub, who, event_id, action, **body)
            assert r.status_code == 403 and r.json()["detail"] == reason, (state, r.text)
            assert await snapshot(hub, event_id) == before, state
            continue
        r = await act(hub, actor, event_id, action, **body)
        assert r.status_code == 200, (state, r.text)
        after = await snapshot(hub, event_id)
        assert after["log"][-1]["action"] == action and len(after["log"]) == len(before["log"]) + 1, state


async def test_chongzhous_near_due_parameter_moves_an_events_light_and_the_todo_counter(hub):
    from conftest import api_login
    from test_chongzhou_app import PASSWORD

    from specadmin.runtime.data.where import now as clock_now

    ctx = hub["ctx"]
    param, ev = ctx.table("system_param"), ctx.table("event")
    [row] = await param.select(param.id, param.value).where(param.code == "near_due_working_days")  # demo.py's
    event_id = await in_state(hub, "in_process")  # 3 working days for 城管局's lead task
    config = await api_login(hub["app"], "config", PASSWORD)
    try:
        lights = []
        for value in ("30", row["value"]):  # 30 working days ahead of a 3-day deadline: 临期 at once; then back
            r = await config.patch(f"/api/system_param/{row['id']}", params={"screen": "system_param_admin"},
                                   json={"value": value})
            assert r.status_code == 200, r.text
            [stored] = await ev.select(ev.due_at, ev.due_at_warn_at).where(ev.id == event_id)
            todo = (await hub["c"]["dept2"].get("/api/workflow/todo", params={"flow": "event_flow"})).json()
            mine = next(i["light"] for i in todo["items"] if i["id"] == event_id)
            lights.append((stored["due_at_warn_at"] <= clock_now(), mine, todo["lights"]["yellow"]))
    finally:
        await config.aclose()
    assert [(near, light) for near, light, _ in lights] == [(True, "yellow"), (False, "green")]
    assert lights[0][2] > lights[1][2]  # the 临期 counter of 城管局's todo follows the parameter (its open tasks)
