"""短信配置 (plugins/workflow/sms.py) on the Chongzhou hub, SQLite and PostgreSQL: the ops centre's rules by
event type (a parent type covers its children), level and action type write one pending SMS per handler of
each org an action gives a todo, in the action's transaction; a 一般 event, an inactive rule, a refused or
rolled-back action send nothing; a rule's template is checked when saved; the SMS leave through the notify
sender to the gateway; a broken `sms:` section is named with WF020–WF022, file and line."""
from __future__ import annotations

import json
import shutil
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from conftest import BACKENDS, EXAMPLES, api_login, reference_blocks, running_app
from test_chongzhou_app import DEMO, PASSWORD

ASYNC = pytest.mark.asyncio(loop_scope="session")
FORM = '{"stall_count": 2}'
PHONES = {"dept1": "13800000001", "dept2": "13800000002", "town": "13800000003"}
TEXT = "{level}事件“{title}”已{action}至{org}，请及时处置。"


@pytest.fixture(scope="module", params=BACKENDS)
async def hub(request, tmp_path_factory):
    async with running_app("chongzhou", tmp_path_factory, request.param, "chongzhou-sms") as app:
        ctx = app.state.ctx
        await DEMO.load(ctx)
        org, user, et = ctx.table("org"), ctx.table("user"), ctx.table("event_type")
        for name, phone in PHONES.items():  # the handlers' mobiles (sensitive: stored encrypted)
            await user.update({user.mobile: ctx.sensitive.encode(ctx.app.entity("user"), {"mobile": phone})["mobile"]}
                              ).where(user.username == name)
        orgs = {r["code"]: r["id"] for r in await org.select(org.id, org.code)}
        types = {r["code"]: r["id"] for r in await et.select(et.id, et.code)}
        clients = {name: await api_login(app, name, PASSWORD) for name in ("town", "dept1", "config")}
        rules = {}
        for name, body in {
            # 城管 (parent type 02) covers 占道经营 020101; 重大 events; 交办
            "major": {"name": "城管重大事件交办短信", "event_type": types["02"], "levels": ["major"],
                      "actions": ["dispatch"], "recipients": ["users"], "text": TEXT, "active": True},
            "general": {"name": "一般事件交办短信（停用）", "levels": ["general"], "actions": ["dispatch"],
                        "text": "一般事件“{title}”已{action}。", "active": False},
        }.items():
            r = await clients["config"].post("/api/sms_rule", params={"screen": "sms_rule_admin"}, json=body)
            assert r.status_code == 201, r.text
            rules[name] = r.json()["id"]
        yield {"app": app, "ctx": ctx, "orgs": orgs, "types": types, "c": clients, "rules": rules}
        for c in clients.values():
            await c.aclose()


async def launch(hub, title: str, level: str) -> int:
    r = await hub["c"]["town"].post("/api/workflow/event", json={"data": {
        "title": title, "event_type": hub["types"]["020101"], "form_data": FORM, "level": level}, "action": "launch"})
    assert r.status_code == 201 and r.json()["state"] == "open", r.text
    return r.json()["id"]


async def dispatch(hub, event_id: int, who: str = "town", *extra: dict):
    orgs = hub["orgs"]
    assignments = [{"org": orgs["CZ-CGJ"], "role": "lead", "requirement": "请城管局牵头"},
                   {"org": orgs["CZ-ZJJ"], "role": "co", "requirement": "请住建局配合"}, *extra]
    return await hub["c"][who].post(f"/api/workflow/event/{event_id}/dispatch",
                                    json={"params": {"assignments": json.dumps(assignments), "limit_days": 2}})


async def sms_of(hub, title: str) -> list[dict]:
    """The workflow SMS rows whose text names the event, recipients decoded."""
    ctx = hub["ctx"]
    box = ctx.table("notification_outbox")
    rows = await box.select().where(box.notification == "workflow_sms").order_by(box.id)
    return [{**r, "recipient": ctx.sensitive.decode(r["recipient"])} for r in rows if title in (r["body"] or "")]


@ASYNC
async def test_a_major_dispatch_texts_each_dispatched_orgs_handlers_by_the_rule_for_its_parent_type(hub):
    event_id = await launch(hub, "重大占道事件甲", "major")
    assert await sms_of(hub, "重大占道事件甲") == []  # 发起 is no action type of the rule
    r = await dispatch(hub, event_id)
    assert r.status_code == 200, r.text
    sent = await sms_of(hub, "重大占道事件甲")
    got = sorted((s["recipient"], s["group_id"], s["body"], s["status"], s["channel"]) for s in sent)
    orgs = hub["orgs"]
    assert got == [
        (PHONES["dept1"], orgs["CZ-ZJJ"], "重大事件“重大占道事件甲”已交办至崇州市住房和城乡建设局，请及时处置。", "pending", "sms"),
        (PHONES["dept2"], orgs["CZ-CGJ"], "重大事件“重大占道事件甲”已交办至崇州市城市管理局，请及时处置。", "pending", "sms"),
    ]
    assert PHONES["town"] not in {s["recipient"] for s in sent}  # the dispatching org gets no todo, so no SMS
    box = hub["ctx"].table("notification_outbox")  # mobiles encrypted at rest (SM4), like every outbox row
    stored = await box.select(box.recipient).where(box.id.is_in([s["id"] for s in sent]))
    assert all(r["recipient"] and not r["recipient"].startswith("138") for r in stored)
    admin = await api_login(hub["app"], "admin", PASSWORD)  # 短信发送记录 lists them (the demo's superuser)
    try:
        r = await admin.get("/api/notification_outbox", params={"screen": "notification_outbox_admin", "page_size": 500})
    finally:
        await admin.aclose()
    assert r.status_code == 200, r.text
    assert len([i for i in r.json()["items"] if i["id"] in {s["id"] for s in sent}]) == 2


@ASYNC
async def test_a_general_event_and_an_inactive_rule_send_nothing_until_the_rule_is_switched_on(hub):
    event_id = await launch(hub, "一般占道事件乙", "general")
    assert (await dispatch(hub, event_id)).status_code == 200
    assert await sms_of(hub, "一般占道事件乙") == []  # the major rule wants 重大; the 一般 rule is off
    r = await hub["c"]["config"].patch(f"/api/sms_rule/{hub['rules']['general']}", params={"screen": "sms_rule_admin"},
                                       json={"active": True})
    assert r.status_code == 200, r.text
    try:
        event_id = await launch(hub, "一般占道事件丙", "general")
        assert (await dispatch(hub, event_id)).status_code == 200
        sent = await sms_of(hub, "一般占道事件丙")
        assert sorted(s["recipient"] for s in sent) == sorted([PHONES["dept1"], PHONES["dept2"]])
        assert {s["body"] for s in sent} == {"一般事件“一般占道事件丙”已交办。"}
    finally:
        await hub["c"]["config"].patch(f"/api/sms_rule/{hub['rules']['general']}", params={"screen": "sms_rule_admin"},
                                       json={"active": False})


@ASYNC
async def test_a_refused_or_rolled_back_dispatch_sends_nothing(hub):
    event_id = await launch(hub, "重大占道事件丁", "major")
    r = await dispatch(hub, event_id, "dept1")  # 住建局 holds no task of this event
    assert r.status_code in (403, 404, 409), r.text
    # the first two assignments pass (tasks made, orgs notified), the third names no org: all rolled back
    r = await dispatch(hub, event_id, "town", {"org": 999999, "role": "co", "requirement": "不存在的单位"})
    assert r.status_code == 422 and "第 3 项的单位不存在" in r.text, r.text
    assert await sms_of(hub, "重大占道事件丁") == []
    task = hub["ctx"].table("event_task")
    assert await task.count().where(task.event == event_id, task.role.is_in(["lead", "co"])) == 0


@ASYNC
async def test_a_rules_template_may_only_name_the_events_fields_action_and_org(hub):
    r = await hub["c"]["config"].post("/api/sms_rule", params={"screen": "sms_rule_admin"}, json={
        "name": "占位符错误", "actions": ["dispatch"], "text": "事件“{titel}”已{action}"})
    assert r.status_code == 422, r.text
    assert "短信内容：占位符 {titel} 不可用" in r.json()["errors"]["text"]
    r = await hub["c"]["config"].post("/api/sms_rule", params={"screen": "sms_rule_admin"}, json={
        "name": "动作不存在", "actions": ["fly"], "text": "事件“{title}”"})
    assert r.status_code == 422 and "fly" in r.json()["errors"]["actions"], r.text


@ASYNC
async def test_pending_workflow_sms_leave_through_the_gateway(hub):
    from specadmin.plugins.workflow.sms import SOURCE
    from specadmin.runtime.notify.dispatch import run_once
    from specadmin.runtime.notify.gateway import HttpGateway

    received: list[dict] = []

    class Gateway(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802
            received.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Gateway)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        event_id = await launch(hub, "重大占道事件戊", "major")
        assert (await dispatch(hub, event_id)).status_code == 200
        gateway = HttpGateway(url=f"http://127.0.0.1:{server.server_port}/sms", retries=1, backoff=0)
        counts = await run_once(hub["ctx"], gateway, names=[SOURCE])
    finally:
        server.shutdown()
        server.server_close()
    assert counts["failed"] == 0 and counts["sent"] >= 2
    mine = [m for m in received if "重大占道事件戊" in m["text"]]
    assert sorted(m["phone"] for m in mine) == sorted([PHONES["dept1"], PHONES["dept2"]])
    assert {s["status"] for s in await sms_of(hub, "重大占道事件戊")} == {"sent"}


BREAKS = (  # (code, text in event_flow.yaml or messages.yaml, broken text, message part)
    ("WF020", "text: text,\n          active: active", "text: body,\n          active: active", "实体 sms_rule 没有字段 body"),
    ("WF021", "supervise: 督办, urge: 催办}", "supervise: 督办, urge: 催办, fly: 飞}", "短信动作类型 fly 不是流程的动作"),
    ("WF022", "match: {event_type: event_type, levels: level}", "match: {event_type: area, levels: level}",
     "短信匹配字段 event_type 与 area 不可比较"),
)


def copied_hub(tmp_path):
    app = tmp_path / "cz"
    shutil.copytree(EXAMPLES / "chongzhou", app, ignore=shutil.ignore_patterns("generated", "var", "__pycache__"))
    return app


def test_the_references_rule_module_checks_clean_in_the_hub(tmp_path, capsys):
    from specadmin.cli import main

    app = copied_hub(tmp_path)
    (app / "modules" / "messages.yaml").write_text(reference_blocks()["modules/sms_rules.yaml"], encoding="utf-8")
    assert main(["check", str(app)]) == 0, capsys.readouterr().err


def test_each_broken_sms_part_is_named_with_its_code_file_and_line(tmp_path, capsys):
    from specadmin.cli import main

    app = copied_hub(tmp_path)
    flow, messages = app / "modules" / "event_flow.yaml", app / "modules" / "messages.yaml"
    for _, old, new, _ in BREAKS:
        for path in (flow, messages):
            text = path.read_text(encoding="utf-8")
            if old in text:
                path.write_text(text.replace(old, new, 1), encoding="utf-8")
                break
        else:
            raise AssertionError(old)
    assert main(["check", str(app)]) == 1
    err = capsys.readouterr().err
    flow_lines = flow.read_text(encoding="utf-8").splitlines()
    sms_line = next(i for i, line in enumerate(flow_lines, 1) if line.strip().startswith("sms: {rules: sms_rule"))
    for code, _, _, message in BREAKS:
        found = [e for e in err.splitlines() if f"[{code}]" in e]
        assert any(message in e for e in found), (code, err)
        assert any(f"modules/event_flow.yaml:{sms_line}:" in e or f"modules/event_flow.yaml:{sms_line + 1}:" in e
                   for e in found), (code, found)
