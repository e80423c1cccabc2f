"""The Chongzhou event hub's flow (examples/chongzhou/modules/event_flow.yaml) through the workflow API on its
demo org tree, SQLite and PostgreSQL: a town centre launches an event and dispatches it to two departments
(one lead); one returns it and the town approves the return; the other handles; the town verifies and
closes; each step shows in the right org's todo with its badge, and the timeline and handling tree match.
Escalation follows the Chongzhou mapping (村社 → 镇街城运中心 → 市城运中心, past the town's government)."""
from __future__ import annotations

import json

import pytest
from conftest import BACKENDS, api_login, running_app
from test_chongzhou_app import DEMO, PASSWORD

pytestmark = pytest.mark.asyncio(loop_scope="session")
HANDLERS = ("city", "town", "dept1", "dept2", "community", "leader")
FORM = '{"stall_count": 2}'  # 占道经营's published form (demo.py) asks for the number of stalls


@pytest.fixture(scope="module", params=BACKENDS)
async def hub(request, tmp_path_factory):
    async with running_app("chongzhou", tmp_path_factory, request.param, "chongzhou-flow") as app:
        ctx = app.state.ctx
        await DEMO.load(ctx)
        org, user, role = ctx.table("org"), ctx.table("user"), ctx.table("role")
        join = ctx.join_table("user", "roles")
        roles = {r["code"]: r["id"] for r in await role.select(role.id, role.code)}
        users = {r["username"]: r for r in await user.select(user.id, user.username, user.org)}
        held = {(r["owner"], r["target"]) for r in await join.select(join.owner, join.target)}
        for name in HANDLERS:  # the flow's roles beside each demo user's own, where the demo did not give them
            for code in ("event_handler", "event_overseer"):
                if (users[name]["id"], roles[code]) not in held:
                    await join.insert(join(owner=users[name]["id"], target=roles[code]))
        await ctx.refresh_caches()
        orgs = {r["code"]: r["id"] for r in await org.select(org.id, org.code)}
        et = ctx.table("event_type")
        types = {r["code"]: r["id"] for r in await et.select(et.id, et.code)}
        clients = {name: await api_login(app, name, PASSWORD) for name in HANDLERS}
        yield {"app": app, "ctx": ctx, "orgs": orgs, "users": users, "types": types, "c": clients}
        for c in clients.values():
            await c.aclose()


async def act(hub, who, event_id, action, **params):
    r = await hub["c"][who].post(f"/api/workflow/event/{event_id}/{action}", json={"params": params})
    return r


async def todo(hub, who) -> dict:
    r = await hub["c"][who].get("/api/workflow/todo", params={"flow": "event_flow"})
    assert r.status_code == 200, r.text
    return r.json()


def boxes_of(body: dict, event_id: int) -> list[str]:
    return [i["box"] for i in body["items"] if i["id"] == event_id]


async def launch(hub, who: str, title: str, type_code: str = "020101", state: str = "open") -> int:
    r = await hub["c"][who].post("/api/workflow/event", json={
        "data": {"title": title, "event_type": hub["types"][type_code], "form_data": FORM}, "action": "launch"})
    assert r.status_code == 201 and r.json()["state"] == state, r.text
    return r.json()["id"]


async def test_launch_holds_the_type_to_the_orgs_configuration_and_the_data_to_the_published_form(hub):
    event = hub["ctx"].table("event")
    before = await event.count()
    launch_as = hub["c"]["dept1"]  # 住建局's 部门类型配置 lists its own line's types, not 占道经营 (城管)
    r = await launch_as.post("/api/workflow/event", json={
        "data": {"title": "住建局发起占道经营", "event_type": hub["types"]["020101"], "form_data": FORM}, "action": "launch"})
    assert r.status_code == 422, r.text
    assert "部门类型配置中没有该事件类型" in r.json()["errors"]["event_type"]
    town = hub["c"]["town"]
    for form, problem in (('{"goods": "水果"}', "缺少必填项 stall_count"), ('{"stall_count": 0}', "stall_count：不能小于 1"),
                          ('{"stall_count": "两个"}', "stall_count：应为整数"), ("不是 JSON", "应为 JSON")):
        r = await town.post("/api/workflow/event", json={
            "data": {"title": "表单不全", "event_type": hub["types"]["020101"], "form_data": form}, "action": "launch"})
        assert r.status_code == 422, r.text
        assert problem in r.json()["errors"]["form_data"], r.text
    assert await event.count() == before  # create and launch are one transaction: nothing was left behind


async def test_town_dispatch_return_approval_handling_and_closing_through_each_orgs_todo(hub):
    orgs = hub["orgs"]
    event_id = await launch(hub, "town", "崇阳大道流动摊贩占道")
    detail = (await hub["c"]["town"].get(f"/api/workflow/event/{event_id}")).json()
    assert detail["state"] == "open" and detail["row"]["number"].startswith("SJ") and detail["row"]["due_at"]
    before = {who: (await todo(hub, who))["badge"] for who in ("dept1", "dept2", "town")}
    r = await act(hub, "town", event_id, "dispatch", limit_days=2, assignments=json.dumps([
        {"org": orgs["CZ-CGJ"], "role": "lead", "requirement": "请城管局牵头清理"},
        {"org": orgs["CZ-ZJJ"], "role": "co", "requirement": "请住建局配合"}]))
    assert r.status_code == 200 and r.json()["state"] == "in_process", r.text
    assert boxes_of(await todo(hub, "dept2"), event_id) == ["todo"] and boxes_of(await todo(hub, "dept1"), event_id) == ["todo"]
    ctx = hub["ctx"]
    task, delivery = ctx.table("event_task"), ctx.table("feed_delivery")
    dispatched = [r["id"] for r in await task.select(task.id).where(task.event == event_id, task.role.is_in(["lead", "co"]))]
    pushed = await delivery.select(delivery.row_id).where(delivery.feed == "task_to_dept", delivery.entity_name == "event_task")
    assert set(dispatched) <= {r["row_id"] for r in pushed}  # the outbound feed of new tasks follows the flow's rows
    assert (await todo(hub, "dept2"))["badge"] == before["dept2"] + 1
    r = await act(hub, "dept1", event_id, "return", reason="不属住建职责")
    assert r.status_code == 200, r.text
    town = await todo(hub, "town")
    assert boxes_of(town, event_id) == ["review"] and town["badge"] == before["town"] + 1
    assert boxes_of(await todo(hub, "dept1"), event_id) == []  # waiting for the review: no longer in the todo box
    r = await act(hub, "town", event_id, "approve_return", opinion="同意退回")
    assert r.status_code == 200 and r.json()["state"] == "in_process", r.text
    returned = await delivery.select(delivery.row_id).where(delivery.feed == "task_returned_to_dept")
    co_task = await task.select(task.id).where(task.event == event_id, task.org == orgs["CZ-ZJJ"], task.role == "co")
    assert [r["row_id"] for r in returned] == [co_task[0]["id"]]  # 退回业务系统: the task the review returned
    assert (await todo(hub, "town"))["badge"] == before["town"]
    staged = await hub["c"]["dept2"].post("/api/event/actions/handle/files/files",
                                          files={"file": ("清理后.pdf", b"%PDF-1.7\n" + b"cleaned" * 40)})
    assert staged.status_code == 201, staged.text
    r = await act(hub, "dept2", event_id, "handle", opinion="已清理", files=[staged.json()["id"]])
    assert r.status_code == 200 and r.json()["state"] == "handled", r.text
    files = await hub["c"]["town"].get(f"/api/event/{event_id}/files/files_after", params={"screen": "event_handling"})
    assert [f["name"] for f in files.json()["items"]] == ["清理后.pdf"], files.text  # the event's 处理后附件
    assert boxes_of(await todo(hub, "town"), event_id) == ["closing"]
    r = await act(hub, "town", event_id, "close", opinion="核验通过，办结")
    assert r.status_code == 200 and r.json()["state_label"] == "已办结", r.text
    assert boxes_of(await todo(hub, "town"), event_id) == [] and (await todo(hub, "dept2"))["badge"] == before["dept2"]
    detail = (await hub["c"]["town"].get(f"/api/workflow/event/{event_id}")).json()
    assert [e["action_label"] for e in detail["log"]] == ["发起", "交办", "退回", "同意退回", "处置", "结案"]
    assert [e["files"] for e in detail["log"]] == [None, None, None, None, "清理后.pdf", None]
    assert [e["org_name"] for e in detail["log"]] == ["崇阳街道城运中心", "崇阳街道城运中心", "崇州市住房和城乡建设局",
                                                     "崇阳街道城运中心", "崇州市城市管理局", "崇阳街道城运中心"]
    tree = [(t["org_name"], t["role_label"], t["state_label"],
             [(c["org_name"], c["role_label"], c["state_label"],
               [(g["org_name"], g["role_label"]) for g in c["children"]]) for c in t["children"]])
            for t in detail["tasks"]]
    assert tree == [
        ("崇阳街道城运中心", "发起", "已提交", [("崇州市城市管理局", "主办", "已提交", []),
                                          ("崇州市住房和城乡建设局", "协办", "已退回", [("崇阳街道城运中心", "审核")])]),
        ("崇阳街道城运中心", "结案", "已提交", [])]
    assert [a["name"] for a in detail["actions"]] == ["visit"]  # closed: only the return visit is left to the town
    event = hub["ctx"].table("event")
    stored = (await event.select(event.key_locked, event.closed_at).where(event.id == event_id))[0]
    assert stored["key_locked"] is True and stored["closed_at"] is not None


async def test_escalation_climbs_the_chongzhou_tree_past_a_towns_government(hub):
    orgs, ctx = hub["orgs"], hub["ctx"]
    org, event, outbox = ctx.table("org"), ctx.table("event"), ctx.table("notification_outbox")
    phone = ctx.sensitive.encode(ctx.app.entity("org"), {"head_phone": "13800138000"})["head_phone"]
    await org.update({org.head_phone: phone}).where(org.id == orgs["CZ-CY-ZX"])
    event_id = await launch(hub, "community", "永康社区积水")
    await event.update({event.level: "major"}).where(event.id == event_id)
    r = await act(hub, "community", event_id, "escalate", opinion="社区无法处置")
    assert r.status_code == 200 and r.json()["state"] == "in_process", r.text
    sms = await outbox.select(outbox.notification, outbox.body).where(outbox.notification == "major_escalated_sms")
    assert [m["body"] for m in sms] == ["重大事件“永康社区积水”已上报至贵单位，请及时处置。"]  # SMS by level and action
    assert (await event.select(event.closing_org).where(event.id == event_id))[0]["closing_org"] == orgs["CZ-CY-ZX"]
    r = await act(hub, "town", event_id, "escalate", opinion="请市城运中心协调")
    assert r.status_code == 200, r.text
    assert (await event.select(event.closing_org).where(event.id == event_id))[0]["closing_org"] == orgs["CZ-CYZX"]
    assert boxes_of(await todo(hub, "city"), event_id) == ["todo"]
    r = await act(hub, "city", event_id, "supervise", content="限期办结")
    assert r.status_code == 403 and r.json()["detail"] == "只有本级及以上领导或抄送单位可以督办", r.text
    r = await act(hub, "leader", event_id, "supervise", content="限期办结")  # a leader of the city centre
    assert r.status_code == 200, r.text


async def test_a_published_plan_dispatches_at_launch_for_its_org_and_another_is_opened_by_hand(hub):
    orgs, ctx = hub["orgs"], hub["ctx"]
    task, plan = ctx.table("event_task"), ctx.table("plan")
    burning = await launch(hub, "town", "桤泉村秸秆焚烧", "030101", state="in_process")  # 崇阳街道's published plan
    assert sorted((t["org"], t["role"]) for t in await task.select(task.org, task.role).where(
        task.event == burning, task.role != "owner")) == sorted([(orgs["CZ-STJ"], "lead"), (orgs["CZ-CGJ"], "cc")])
    other = await launch(hub, "community", "永康社区秸秆焚烧", "030101")  # the plan applies to 崇阳街道城运中心 only
    inactive = (await plan.select(plan.id).where(plan.active == False))[0]["id"]  # noqa: E712
    r = await act(hub, "community", other, "open_plan", plan=inactive)
    assert r.status_code == 409 and r.json()["detail"] == "该预案未启用", r.text
    active = (await plan.select(plan.id).where(plan.active == True))[0]["id"]  # noqa: E712
    r = await act(hub, "community", other, "close_plan")
    assert r.status_code == 409 and r.json()["detail"] == "该事件没有开启预案", r.text
    r = await act(hub, "community", other, "open_plan", plan=active)
    assert r.status_code == 200 and r.json()["state"] == "in_process", r.text
    r = await act(hub, "community", other, "close_plan")  # it flows now: too late
    assert r.status_code == 409 and r.json()["detail"] == "当前状态“处置中”不能“关闭预案”", r.text
