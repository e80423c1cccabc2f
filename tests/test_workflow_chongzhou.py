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


@pytest.fixture(scope="module", params=BACKENDS)
async def hub(request, tmp_path_factory):
    async with running_app("chongzhou", tmp_path_factory, request.param, "chongzhou-flow") as app:
        ctx = app.state.ctx
        await DEMO.load(ctx)
        org, user, role = ctx.table("org"), ctx.table("user"), ctx.table("role")
        join = ctx.join_table("user", "roles")
        roles = {r["code"]: r["id"] for r in await role.select(role.id, role.code)}
        users = {r["username"]: r for r in await user.select(user.id, user.username, user.org)}
        for name in HANDLERS:  # the flow's roles beside each demo user's own
            await join.insert(join(owner=users[name]["id"], target=roles["event_handler"]),
                              join(owner=users[name]["id"], target=roles["event_overseer"]))
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


async def launch(hub, who: str, title: str) -> int:
    r = await hub["c"][who].post("/api/workflow/event", json={
        "data": {"title": title, "event_type": hub["types"]["020101"]}, "action": "launch"})
    assert r.status_code == 201, r.text
    return r.json()["id"]


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
    assert (await todo(hub, "dept2"))["badge"] == before["dept2"] + 1
    r = await act(hub, "dept1", event_id, "return", reason="不属住建职责")
    assert r.status_code == 200, r.text
    town = await todo(hub, "town")
    assert boxes_of(town, event_id) == ["review"] and town["badge"] == before["town"] + 1
    assert boxes_of(await todo(hub, "dept1"), event_id) == []  # waiting for the review: no longer in the todo box
    r = await act(hub, "town", event_id, "approve_return", opinion="同意退回")
    assert r.status_code == 200 and r.json()["state"] == "in_process", r.text
    assert (await todo(hub, "town"))["badge"] == before["town"]
    r = await act(hub, "dept2", event_id, "handle", opinion="已清理")
    assert r.status_code == 200 and r.json()["state"] == "handled", r.text
    assert boxes_of(await todo(hub, "town"), event_id) == ["closing"]
    r = await act(hub, "town", event_id, "close", opinion="核验通过，办结")
    assert r.status_code == 200 and r.json()["state_label"] == "已办结", r.text
    assert boxes_of(await todo(hub, "town"), event_id) == [] and (await todo(hub, "dept2"))["badge"] == before["dept2"]
    detail = (await hub["c"]["town"].get(f"/api/workflow/event/{event_id}")).json()
    assert [e["action_label"] for e in detail["log"]] == ["发起", "交办", "退回", "同意退回", "处置", "结案"]
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
    orgs = hub["orgs"]
    event_id = await launch(hub, "community", "永康社区积水")
    r = await act(hub, "community", event_id, "escalate", opinion="社区无法处置")
    assert r.status_code == 200 and r.json()["state"] == "in_process", r.text
    event = hub["ctx"].table("event")
    assert (await event.select(event.closing_org).where(event.id == event_id))[0]["closing_org"] == orgs["CZ-CY-ZX"]
    r = await act(hub, "town", event_id, "escalate", opinion="请市城运中心协调")
    assert r.status_code == 200, r.text
    assert (await event.select(event.closing_org).where(event.id == event_id))[0]["closing_org"] == orgs["CZ-CYZX"]
    assert boxes_of(await todo(hub, "city"), event_id) == ["todo"]
    r = await act(hub, "city", event_id, "supervise", content="限期办结")
    assert r.status_code == 403 and r.json()["detail"] == "只有本级及以上领导或抄送单位可以督办", r.text
    r = await act(hub, "leader", event_id, "supervise", content="限期办结")  # a leader of the city centre
    assert r.status_code == 200, r.text
