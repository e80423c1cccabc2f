"""预案预警 (plugins/workflow/plan_warnings.py) on the Chongzhou hub, SQLite and PostgreSQL: the job
`plan_warnings` sends one in-app message per handler for each open task of an event under a plan with
warn_days that is due within that many working days (or overdue), never twice, none for a task further off
or a closed event; a plan's content warning notifies its org once when a matching event is launched, not
for one that does not match; a bad condition is refused on save; a broken section is named WF040–WF042."""
from __future__ import annotations

import json
import shutil

import pytest
from conftest import BACKENDS, EXAMPLES, api_login, reference_blocks, running_app
from test_chongzhou_app import DEMO, PASSWORD

from specadmin.runtime.jobs.runner import run_job

ASYNC = pytest.mark.asyncio(loop_scope="session")
FORM = '{"stall_count": 2}'
PLAN = "占道经营任务预警预案"


@pytest.fixture(scope="module", params=BACKENDS)
async def hub(request, tmp_path_factory):
    async with running_app("chongzhou", tmp_path_factory, request.param, "chongzhou-plan") as app:
        ctx = app.state.ctx
        await DEMO.load(ctx)
        org, user, et = ctx.table("org"), ctx.table("user"), ctx.table("event_type")
        orgs = {r["code"]: r["id"] for r in await org.select(org.id, org.code)}
        users = {r["username"]: r for r in await user.select(user.id, user.username, user.org)}
        types = {r["code"]: r["id"] for r in await et.select(et.id, et.code)}
        clients = {name: await api_login(app, name, PASSWORD) for name in ("town", "dept1", "config")}
        r = await clients["config"].post("/api/plan", params={"screen": "plan_admin"}, json={
            "name": PLAN, "event_type": types["020101"], "applicable_org": orgs["CZ-CY-ZX"], "warn_days": 1,
            "content_warning": '{"level": "major"}', "active": True, "published": False})
        assert r.status_code == 201, r.text
        yield {"app": app, "ctx": ctx, "orgs": orgs, "users": users, "types": types, "c": clients,
               "plan": r.json()["id"]}
        for c in clients.values():
            await c.aclose()


async def launch(hub, title: str, level: str = "general") -> int:
    r = await hub["c"]["town"].post("/api/workflow/event", json={"data": {
        "title": title, "event_type": hub["types"]["020101"], "form_data": FORM, "level": level,
        "plan": hub["plan"]}, "action": "launch"})
    assert r.status_code == 201 and r.json()["state"] == "open", r.text
    return r.json()["id"]


async def act(hub, who: str, event_id: int, action: str, params: dict) -> None:
    r = await hub["c"][who].post(f"/api/workflow/event/{event_id}/{action}", json={"params": params})
    assert r.status_code == 200, r.text


async def dispatched(hub, title: str, limit_days: int) -> tuple[int, int]:
    """An event under the plan dispatched to 住建局 (dept1) as lead: (event id, the task's id)."""
    event_id = await launch(hub, title)
    await act(hub, "town", event_id, "dispatch", {"assignments": json.dumps(
        [{"org": hub["orgs"]["CZ-ZJJ"], "role": "lead", "requirement": "请处置"}]), "limit_days": limit_days})
    task = hub["ctx"].table("event_task")
    rows = await task.select(task.id).where(task.event == event_id, task.org == hub["orgs"]["CZ-ZJJ"])
    assert len(rows) == 1
    return event_id, rows[0]["id"]


async def messages(hub, like: str) -> list[dict]:
    box = hub["ctx"].table("message")
    return await box.select().where(box.dedupe_key.like(like)).order_by(box.id)


async def dept1_handlers(hub) -> list[int]:
    return sorted(u["id"] for u in hub["users"].values() if u["org"] == hub["orgs"]["CZ-ZJJ"])


@ASYNC
async def test_a_task_due_within_warn_days_gets_one_message_per_handler_once_and_others_none(hub):
    ctx = hub["ctx"]
    near_event, near = await dispatched(hub, "临期占道事件", 1)  # due at the end of the next working day
    _, far = await dispatched(hub, "远期占道事件", 5)
    _, late = await dispatched(hub, "超期占道事件", 0)  # due at once: overdue when the job runs
    closed_event, closed = await dispatched(hub, "已结案占道事件", 1)
    await act(hub, "dept1", closed_event, "handle", {"opinion": "已处置"})
    await act(hub, "town", closed_event, "close", {"opinion": "结案"})
    first = await run_job(ctx, "plan_warnings")
    assert first["status"] == "succeeded", first
    handlers = await dept1_handlers(hub)
    assert handlers
    got = await messages(hub, f"plan_warnings:task:event_task:{near}:%")
    assert sorted(m["recipient"] for m in got) == handlers
    assert {m["title"] for m in got} == {f"任务预警：{PLAN}"}
    assert all("临期占道事件" in m["body"] and m["link"] == f"/workflow/event/{near_event}" for m in got)
    overdue = await messages(hub, f"plan_warnings:task:event_task:{late}:%")
    assert sorted(m["recipient"] for m in overdue) == handlers
    assert {m["title"] for m in overdue} == {f"超期预警：{PLAN}"}
    assert await messages(hub, f"plan_warnings:task:event_task:{far}:%") == []
    closing = ctx.table("event_task")
    ids = [r["id"] for r in await closing.select(closing.id).where(closing.event == closed_event)]
    for task_id in ids:
        assert await messages(hub, f"plan_warnings:task:event_task:{task_id}:%") == []
    assert closed in ids
    again = await run_job(ctx, "plan_warnings")  # a re-run (a second worker, the next day) writes nothing new
    assert again["status"] == "succeeded", again
    assert len(await messages(hub, f"plan_warnings:task:event_task:{near}:%")) == len(handlers)
    assert len(await messages(hub, f"plan_warnings:task:event_task:{late}:%")) == len(handlers)
    assert json.loads(again["summary"])["created"] == 0


@ASYNC
async def test_a_content_warning_notifies_the_plans_org_once_for_a_major_event_and_not_for_a_general_one(hub):
    town = sorted(u["id"] for u in hub["users"].values() if u["org"] == hub["orgs"]["CZ-CY-ZX"])
    assert town
    major = await launch(hub, "重大占道事件", "major")
    general = await launch(hub, "一般占道事件", "general")
    got = await messages(hub, f"plan_warnings:content:event:{major}:%")
    assert sorted(m["recipient"] for m in got) == town
    assert {m["title"] for m in got} == {f"内容预警：{PLAN}"}
    assert all("重大占道事件" in m["body"] and m["link"] == f"/workflow/event/{major}" for m in got)
    assert await messages(hub, f"plan_warnings:content:event:{general}:%") == []
    await act(hub, "town", major, "dispatch", {"assignments": json.dumps(  # a later write of the event: no repeat
        [{"org": hub["orgs"]["CZ-ZJJ"], "role": "lead", "requirement": "请处置"}]), "limit_days": 3})
    assert len(await messages(hub, f"plan_warnings:content:event:{major}:%")) == len(town)


@ASYNC
@pytest.mark.parametrize("condition, named", [
    ("level = major", "内容预警条件：不是有效的 JSON"),
    ('["major"]', "内容预警条件：应为非空 JSON 对象"),
    ('{"levle": "major"}', "内容预警条件：事件没有可比较的字段 levle"),
    ('{"level": "重大"}', "内容预警条件：字段 level（事件等级）没有选项 重大"),
    ('{"level": {"like": "major"}}', "内容预警条件：字段 level（事件等级）的运算符 like 不可用"),
    ('{"is_key": "yes"}', "内容预警条件：字段 is_key（是否重点工单）的值 \"yes\" 类型不符"),
])
async def test_a_bad_content_condition_is_refused_on_save_naming_the_problem(hub, condition, named):
    r = await hub["c"]["config"].patch(f"/api/plan/{hub['plan']}", params={"screen": "plan_admin"},
                                       json={"content_warning": condition})
    assert r.status_code == 422, r.text
    assert named in r.json()["errors"]["content_warning"], r.text
    plan = hub["ctx"].table("plan")
    stored = await plan.select(plan.content_warning).where(plan.id == hub["plan"]).first()
    assert stored["content_warning"] == '{"level": "major"}'


BREAKS = (  # (code, text in event_flow.yaml, replacement, message)
    ("WF040", "content: content_warning, org: applicable_org", "content: content_warnin, org: applicable_org",
     "预案预警的 content：实体 plan 没有字段 content_warnin"),
    ("WF041", "warn_days: warn_days, due: due_at", "warn_days: warn_days, due: requirement",
     "任务预警的 due：event_task.requirement 应为datetime/date"),
    ("WF042", "states: [open, in_process, handled]}", "states: [open, doing]}",
     "预案预警的 states 中 doing 不是 event.status 的选项"),
)


def test_each_broken_plan_warnings_part_is_named_with_its_code_file_and_line(tmp_path, capsys):
    from specadmin.cli import main

    app = tmp_path / "cz"
    shutil.copytree(EXAMPLES / "chongzhou", app, ignore=shutil.ignore_patterns("generated", "var", "__pycache__"))
    flow = app / "modules" / "event_flow.yaml"
    text = flow.read_text(encoding="utf-8")
    for _, old, new, _ in BREAKS:
        assert old in text, old
        text = text.replace(old, new, 1)
    flow.write_text(text, encoding="utf-8")
    assert main(["check", str(app)]) == 1
    err = capsys.readouterr().err
    line = next(i for i, s in enumerate(text.splitlines(), 1) if s.strip().startswith("plan_warnings: {plan: plan"))
    for code, _, _, message in BREAKS:
        found = [e for e in err.splitlines() if f"[{code}]" in e]
        assert any(message in e for e in found), (code, err)
        assert any(f"modules/event_flow.yaml:{n}:" in e for e in found for n in (line, line + 1, line + 2)), found


def test_the_references_plan_warnings_section_checks_clean_in_the_hub(tmp_path, capsys):
    from specadmin.cli import main

    app = tmp_path / "cz"
    shutil.copytree(EXAMPLES / "chongzhou", app, ignore=shutil.ignore_patterns("generated", "var", "__pycache__"))
    flow = app / "modules" / "event_flow.yaml"
    text = flow.read_text(encoding="utf-8")
    start = text.index("    plan_warnings: {plan: plan")
    end = text.index('    version: "1"', start)
    block = reference_blocks()["plan_warnings.yaml"]
    flow.write_text(text[:start] + "".join("    " + s + "\n" for s in block.splitlines()) + text[end:], encoding="utf-8")
    assert main(["check", str(app)]) == 0, capsys.readouterr().err
