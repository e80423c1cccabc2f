"""The workflow's review, withdrawal, escalation, assistance, plan, signing, key-marking, urging and deadline
behaviour through the API (the small event app of tests/workflow_fixture.py), SQLite and PostgreSQL."""
from __future__ import annotations

import datetime as dt

import pytest
from conftest import BACKENDS, clock_at
from workflow_fixture import act, assignments, flow_env, launched, snapshot

pytestmark = pytest.mark.asyncio(loop_scope="session")
T = dt.datetime


@pytest.fixture(scope="module", params=BACKENDS)
async def env(request, tmp_path_factory):
    async with flow_env(request.param, tmp_path_factory) as env:
        yield env


async def review_of(env, event_id) -> list[dict]:
    review = env["ctx"].table("event_review")
    return await review.select().where(review.event == event_id).order_by(review.id)


async def todo(env, who) -> dict:
    r = await env["c"][who].get("/api/workflow/todo", params={"flow": "event_flow"})
    assert r.status_code == 200, r.text
    return r.json()


async def test_a_return_waits_for_the_dispatcher_who_approves_it_and_the_event_goes_back(env):
    ids = env["ids"]
    event_id = await launched(env, ("DA", "lead"))
    r = await act(env, "da", event_id, "return", reason="不属本单位职责")
    assert r.status_code == 200 and r.json()["state"] == "in_process", r.text
    [review] = await review_of(env, event_id)
    assert (review["kind"], review["status"], review["applicant_org"], review["reviewer_org"]) == (
        "return", "pending", ids["DA"], ids["TOWN"])
    boxes = await todo(env, "town")
    assert [i["box"] for i in boxes["items"] if i["id"] == event_id] == ["review"] and boxes["boxes"]["review"]["count"] >= 1
    r = await act(env, "da", event_id, "handle", opinion="x")  # the task waits for the review
    assert r.status_code == 403 and r.json()["detail"] == "只有承办单位可以处置", r.text
    r = await act(env, "town", event_id, "approve_return", opinion="同意")
    assert r.status_code == 200 and r.json()["state"] == "open", r.text  # nothing outstanding: back with the dispatcher
    snap = await snapshot(env, event_id)
    assert [(t["org"], t["role"], t["state"]) for t in snap["tasks"]] == [
        (ids["TOWN"], "owner", "submitted"), (ids["DA"], "lead", "returned"), (ids["TOWN"], "review", "submitted")]
    [review] = await review_of(env, event_id)
    assert review["status"] == "approved" and review["review_opinion"] == "同意"


async def test_a_rejected_return_puts_the_task_back_and_a_postponed_review_stays_under_review(env):
    event_id = await launched(env, ("DA", "lead"))
    assert (await act(env, "da", event_id, "return", reason="不清楚")).status_code == 200
    r = await act(env, "town", event_id, "postpone_review", reason="待核实", expected="2026-12-20T10:00:00")
    assert r.status_code == 200, r.text
    [review] = await review_of(env, event_id)
    assert (review["status"], review["postpone_reason"], review["expected_review_at"]) == (
        "postponed", "待核实", T(2026, 12, 20, 10, 0))
    r = await act(env, "town", event_id, "reject_return", opinion="请继续办理")
    assert r.status_code == 200 and r.json()["state"] == "in_process", r.text
    snap = await snapshot(env, event_id)
    assert [t["state"] for t in snap["tasks"] if t["role"] == "lead"] == ["todo"]
    assert (await review_of(env, event_id))[0]["status"] == "rejected"
    assert (await act(env, "da", event_id, "handle", opinion="已办")).json()["state"] == "handled"


async def test_the_dispatcher_withdraws_a_task_and_the_event_state_follows_what_is_left(env):
    ids = env["ids"]
    event_id = await launched(env, ("DA", "lead"), ("DB", "co"))
    tasks = {t["org"]: t["id"] for t in (await snapshot(env, event_id))["tasks"]}
    r = await act(env, "da", event_id, "withdraw", task=tasks[ids["DB"]])  # DA did not dispatch it
    assert r.status_code == 422 and r.json()["errors"] == {"task": "撤回的待办：不是该记录可“撤回”的待办"}, r.text
    r = await act(env, "town", event_id, "withdraw", task=tasks[ids["DB"]])
    assert r.status_code == 200 and r.json()["state"] == "in_process", r.text
    r = await act(env, "town", event_id, "withdraw", task=tasks[ids["DB"]])  # already withdrawn
    assert r.status_code == 422, r.text
    r = await act(env, "town", event_id, "withdraw", task=tasks[ids["DA"]])
    assert r.status_code == 200 and r.json()["state"] == "open", r.text


async def test_escalation_moves_handling_and_closing_up_and_only_a_town_centre_reaches_the_city(env):
    ids = env["ids"]
    event_id = await launched(env, ("DA", "lead"))
    r = await act(env, "da", event_id, "escalate", opinion="超出本部门能力")
    assert r.status_code == 200 and r.json()["state"] == "in_process", r.text
    snap = await snapshot(env, event_id)
    assert [(t["org"], t["role"], t["state"]) for t in snap["tasks"]][1:] == [
        (ids["DA"], "lead", "returned"), (ids["TOWN"], "lead", "todo")]
    assert snap["event"][0]["closing_org"] == ids["TOWN"]
    r = await act(env, "town", event_id, "escalate", opinion="请市城运中心协调")
    assert r.status_code == 200, r.text
    snap = await snapshot(env, event_id)
    assert (snap["tasks"][-1]["org"], snap["tasks"][-1]["role"]) == (ids["HQ"], "lead")
    assert snap["event"][0]["closing_org"] == ids["HQ"]
    other = await launched(env, ("DC", "lead"))
    before = await snapshot(env, other)
    r = await act(env, "dc", other, "escalate", opinion="上报")  # 部门丙 sits under the city but is no town centre
    assert r.status_code == 403 and r.json()["detail"] == "只有镇街城运中心可以上报到市城运中心", r.text
    assert await snapshot(env, other) == before


async def test_assistance_keeps_the_event_from_being_handled_until_the_assisting_org_submits(env):
    ids = env["ids"]
    event_id = await launched(env, ("DA", "lead"))
    r = await act(env, "da", event_id, "request_assist", assignments=assignments((ids["DC"], "assist")))
    assert r.status_code == 200, r.text
    assert (await act(env, "da", event_id, "handle", opinion="主办完成")).json()["state"] == "in_process"
    assert (await act(env, "dc", event_id, "handle", opinion="协助完成")).json()["state"] == "handled"
    snap = await snapshot(env, event_id)
    assist = next(t for t in snap["tasks"] if t["role"] == "assist")
    lead = next(t for t in snap["tasks"] if t["role"] == "lead")
    assert assist["parent"] == lead["id"] and assist["dispatcher_org"] == ids["DA"]


async def test_a_plan_dispatches_and_copies_at_launch(env):
    ids, ctx = env["ids"], env["ctx"]
    et = ctx.table("event_type")
    type_id = (await et.insert(et(name="占道经营", limit_days=2, version=1)).returning(et.id))[0]["id"]
    r = await env["root"].post("/api/plan", params={"screen": "plan_admin"}, json={
        "name": "占道预案", "event_type": type_id, "dispatch_orgs": [ids["DA"]], "cc_orgs": [ids["DC"]], "active": True})
    assert r.status_code in (200, 201), r.text
    r = await env["c"]["town"].post("/api/workflow/event", json={
        "data": {"title": "占道", "event_type": type_id}, "action": "launch"})
    assert r.status_code == 201 and r.json()["state"] == "in_process", r.text
    snap = await snapshot(env, r.json()["id"])
    assert [(t["org"], t["role"]) for t in snap["tasks"]] == [(ids["TOWN"], "owner"), (ids["DA"], "lead"),
                                                               (ids["DC"], "cc")]
    r = await act(env, "dc", snap["event"][0]["id"], "instruct", content="抄送单位批示")
    assert r.status_code == 200, r.text  # a CC org may instruct


async def test_signing_is_for_city_dispatched_events_and_is_logged_to_the_city(env):
    ids, ctx = env["ids"], env["ctx"]
    event_id = await launched(env, ("DA", "lead"))
    r = await act(env, "da", event_id, "sign", opinion="收到")
    assert r.status_code == 409 and r.json()["detail"] == "只有市级下派的事件需要签收", r.text
    ev = ctx.table("event")
    await ev.update({ev.city_dispatched_at: T(2026, 12, 7, 9, 0)}).where(ev.id == event_id)
    r = await act(env, "da", event_id, "sign", opinion="收到")
    assert r.status_code == 200, r.text
    snap = await snapshot(env, event_id)
    lead = next(t for t in snap["tasks"] if t["role"] == "lead")
    assert (lead["state"], lead["sign_opinion"]) == ("signed", "收到")
    assert (snap["log"][-1]["action"], snap["log"][-1]["channel"]) == ("sign", "city")
    r = await act(env, "town", event_id, "mark_key")  # a city-dispatched event's key flag is the city's
    assert r.status_code == 409 and r.json()["detail"] == "市级下派或已上报市城运中心的事件不能标记重点工单", r.text
    assert (await act(env, "da", event_id, "handle", opinion="签收后处置")).json()["state"] == "handled"
    assert ids["DA"] == lead["org"]


async def test_urging_sends_an_in_app_message_to_each_handling_org(env):
    ids, ctx = env["ids"], env["ctx"]
    event_id = await launched(env, ("DA", "lead"), ("DB", "co"), title="催办事件")
    r = await act(env, "town", event_id, "urge", content="今天办结")
    assert r.status_code == 200, r.text
    msg = ctx.table("message")
    for user in ("da", "db"):
        assert await msg.exists().where(msg.recipient == ids[user], msg.title == "催办")
    assert not await msg.exists().where(msg.recipient == ids["dc"], msg.title == "催办")


async def test_deadlines_skip_weekend_and_holiday_count_an_adjusted_saturday_and_follow_an_extension(env):
    ids, ctx = env["ids"], env["ctx"]
    root = env["root"]
    for day, kind in (("2026-12-12", "workday"), ("2026-12-14", "holiday")):
        r = await root.post("/api/calendar_day", json={"day": day, "kind": kind, "name": "测试"})
        assert r.status_code in (200, 201), r.text
    try:
        with clock_at(T(2026, 12, 11, 10, 0)):  # Friday; 3 working days: Sat 12 (worked), Tue 15, Wed 16
            event_id = await launched(env, ("DA", "lead"), title="时限事件")
        snap = await snapshot(env, event_id)
        assert (snap["event"][0]["due_at"], snap["event"][0]["due_at_warn_at"]) == (
            T(2026, 12, 16, 17, 30), T(2026, 12, 15, 17, 30))
        lead = next(t for t in snap["tasks"] if t["role"] == "lead")
        assert lead["due_at"] == T(2026, 12, 16, 17, 30)  # the task's own 3 working days from its dispatch
        with clock_at(T(2026, 12, 16, 9, 0)):
            shown = (await env["c"]["da"].get(f"/api/event/{event_id}", params={"screen": "event_work"})).json()
            assert shown["due_at_light"] == "yellow"
            light = [i["light"] for i in (await todo(env, "da"))["items"] if i["id"] == event_id]
            assert light == ["yellow"]
            r = await act(env, "da", event_id, "extend", deadline="2026-12-22T17:30:00", reason="需要协调")
            assert r.status_code == 200, r.text
        [review] = await review_of(env, event_id)
        assert (review["kind"], review["original_deadline"], review["requested_deadline"]) == (
            "extension", T(2026, 12, 16, 17, 30), T(2026, 12, 22, 17, 30))
        assert (await snapshot(env, event_id))["event"][0]["due_at"] == T(2026, 12, 16, 17, 30)  # not yet
        r = await act(env, "town", event_id, "approve_extension", opinion="同意")
        assert r.status_code == 200, r.text
        snap = await snapshot(env, event_id)
        assert (snap["event"][0]["due_at"], snap["event"][0]["due_at_warn_at"]) == (
            T(2026, 12, 22, 17, 30), T(2026, 12, 21, 17, 30))
        assert [t["state"] for t in snap["tasks"] if t["role"] == "lead"] == ["todo"]
        with clock_at(T(2026, 12, 17, 9, 0)):
            shown = (await env["c"]["da"].get(f"/api/event/{event_id}", params={"screen": "event_work"})).json()
            assert shown["due_at_light"] == "green"
        r = await act(env, "town", event_id, "extend", deadline="2026-12-30T17:30:00", reason="本级自处理")
        assert r.status_code == 200, r.text  # the owner's own event: at once, no review
        assert (await snapshot(env, event_id))["event"][0]["due_at"] == T(2026, 12, 30, 17, 30)
        assert len(await review_of(env, event_id)) == 1
    finally:
        day = ctx.table("calendar_day")
        await day.delete().where(day.name == "测试")
        assert ids
