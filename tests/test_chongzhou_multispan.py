"""多跨 outbound calls of the Chongzhou hub (examples/chongzhou: app.yaml feed_targets.dept_systems, modules/
services.yaml) against a local HTTP server that records what it receives, SQLite and PostgreSQL: 交办, 退回业务系统,
批示 and 督办 each arrive in the city's standard format (the target's envelope around the feed's map, typed by
message_type, the time in its format, an HMAC-SM3 signature over timestamp and body), a failed call is retried
with the same body; the inbound 多跨 process query finds an event by source id + event number; a broken format
is named with SA237–SA239, file and line."""
from __future__ import annotations

import datetime as dt
import json
import re
import shutil
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import yaml
from conftest import BACKENDS, EXAMPLES, api_login, reference_blocks, running_app
from test_chongzhou_app import DEMO, PASSWORD, ext_client

ASYNC = pytest.mark.asyncio(loop_scope="session")
FORM = '{"stall_count": 2}'
SECRET = "multispan-test-secret"
TIME = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d$")


class Recorder:
    """A department system: records each POST (headers, body); answers 500 while `fail` holds a count."""

    def __init__(self):
        self.received: list[dict] = []
        self.fail = 0
        recorder = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802
                raw = self.rfile.read(int(self.headers["Content-Length"]))
                recorder.received.append({"headers": dict(self.headers), "raw": raw, "body": json.loads(raw)})
                failing = recorder.fail > 0
                recorder.fail -= failing
                self.send_response(500 if failing else 200)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def of(self, msg_type: str) -> list[dict]:
        return [r for r in self.received if r["body"].get("msgType") == msg_type]


def hmac_sm3(key: bytes, message: bytes) -> str:
    """RFC 2104 HMAC with SM3 (block 64), written out here as the receiver would check it."""
    from gmssl import sm3

    h = lambda data: bytes.fromhex(sm3.sm3_hash(list(data)))  # noqa: E731
    key = key.ljust(64, b"\0")
    return h(bytes(b ^ 0x5C for b in key) + h(bytes(b ^ 0x36 for b in key) + message)).hex()


@pytest.fixture(scope="module", params=BACKENDS)
async def hub(request, tmp_path_factory):
    recorder = Recorder()
    with pytest.MonkeyPatch.context() as env:
        env.setenv("CHONGZHOU_DEPT_URL", f"http://127.0.0.1:{recorder.server.server_port}/dept")
        env.setenv("CHONGZHOU_DEPT_SECRET", SECRET)
        env.setenv("SPECADMIN_FEED_BACKOFF", "60")
        async with running_app("chongzhou", tmp_path_factory, request.param, "chongzhou-multispan") as app:
            ctx = app.state.ctx
            await DEMO.load(ctx)
            org, et = ctx.table("org"), ctx.table("event_type")
            orgs = {r["code"]: r for r in await org.select(org.id, org.code, org.name)}
            types = {r["code"]: r["id"] for r in await et.select(et.id, et.code)}
            clients = {name: await api_login(app, name, PASSWORD) for name in ("town", "dept1", "leader")}
            yield {"app": app, "ctx": ctx, "orgs": orgs, "types": types, "c": clients, "rec": recorder}
            for c in clients.values():
                await c.aclose()
    recorder.server.shutdown()
    recorder.server.server_close()


async def deliver(hub, later_minutes: int = 0) -> dict:
    from specadmin.runtime.feeds.dispatcher import run_once

    at = dt.datetime.now().replace(microsecond=0) + dt.timedelta(minutes=later_minutes)
    return await run_once(hub["ctx"], now=at)


async def act(hub, who, event_id, action, **params):
    r = await hub["c"][who].post(f"/api/workflow/event/{event_id}/{action}", json={"params": params})
    assert r.status_code == 200, r.text
    return r.json()


async def event_row(hub, event_id: int) -> dict:
    event = hub["ctx"].table("event")
    return (await event.select(event.number, event.title, event.source_system_id).where(event.id == event_id))[0]


def check_envelope(message: dict, msg_type: str) -> dict:
    body = message["body"]
    assert set(body) == {"version", "sourceSystem", "msgId", "msgType", "sendTime", "body"}, body
    assert body["version"] == "1.0" and body["sourceSystem"] == "CZ-SJSJZX" and body["msgType"] == msg_type
    assert re.fullmatch(r"[0-9a-f]{32}", body["msgId"]) and TIME.match(body["sendTime"]), body
    headers = {k.lower(): v for k, v in message["headers"].items()}
    assert headers["x-sign"] == hmac_sm3(SECRET.encode(), headers["x-timestamp"].encode() + b"\n" + message["raw"])
    return body["body"]


@ASYNC
async def test_assign_return_instruction_and_supervision_reach_the_department_in_the_city_format(hub):
    orgs, rec = hub["orgs"], hub["rec"]
    r = await hub["c"]["town"].post("/api/workflow/event", json={"data": {
        "title": "多跨占道经营", "event_type": hub["types"]["020101"], "form_data": FORM}, "action": "launch"})
    assert r.status_code == 201, r.text
    event_id = r.json()["id"]
    event = hub["ctx"].table("event")  # as a 多跨 report from a department system tags it (inbound feed event_push)
    await event.update({event.source_system_id: "DEPT-SYS-0001"}).where(event.id == event_id)
    await act(hub, "town", event_id, "dispatch", limit_days=2, assignments=json.dumps([
        {"org": orgs["CZ-CGJ"]["id"], "role": "lead", "requirement": "请城管局牵头清理"},
        {"org": orgs["CZ-ZJJ"]["id"], "role": "co", "requirement": "请住建局配合"}]))
    await act(hub, "dept1", event_id, "return", reason="不属住建职责")
    await act(hub, "town", event_id, "approve_return", opinion="同意退回")
    await act(hub, "leader", event_id, "instruct", content="请加快处置", position="主任")
    await act(hub, "leader", event_id, "supervise", content="限期三日办结", position="主任")
    counts = await deliver(hub)
    assert counts.get("failed", 0) == 0 and counts["sent"] >= 5, counts
    ev = await event_row(hub, event_id)
    mine = lambda t: [check_envelope(m, t) for m in rec.of(t) if m["body"]["body"].get("eventNo") == ev["number"]]  # noqa: E731
    assign = sorted(mine("ASSIGN"), key=lambda b: b["taskRole"])
    assert [(b["deptCode"], b["deptName"], b["taskRole"], b["requirement"]) for b in assign] == [
        ("CZ-ZJJ", orgs["CZ-ZJJ"]["name"], "co", "请住建局配合"),
        ("CZ-CGJ", orgs["CZ-CGJ"]["name"], "lead", "请城管局牵头清理")]
    assert all(b["eventTitle"] == "多跨占道经营" and b["sourceSystemId"] == "DEPT-SYS-0001" and TIME.match(b["deadline"])
               and b["fromDeptCode"] == "CZ-CY-ZX" for b in assign), assign
    assert sorted(assign[0]) == sorted(["eventNo", "eventTitle", "sourceSystemId", "deptCode", "deptName", "taskRole",
                                        "requirement", "deadline", "fromDeptCode"])
    assert mine("RETURN") == [{"eventNo": ev["number"], "sourceSystemId": "DEPT-SYS-0001", "deptCode": "CZ-ZJJ",
                               "deptName": orgs["CZ-ZJJ"]["name"], "taskRole": "co", "reason": "不属住建职责"}]
    for msg_type, content in (("INSTRUCTION", "请加快处置"), ("SUPERVISE", "限期三日办结")):
        [body] = mine(msg_type)
        assert {k: body[k] for k in ("eventNo", "sourceSystemId", "personName", "deptName", "position", "content")} == {
            "eventNo": ev["number"], "sourceSystemId": "DEPT-SYS-0001", "personName": "市城运中心领导",
            "deptName": orgs["CZ-CYZX"]["name"], "position": "主任", "content": content}
        assert TIME.match(body["time"])


@ASYNC
async def test_a_failed_call_is_retried_later_with_the_same_body(hub):
    rec, ctx = hub["rec"], hub["ctx"]
    r = await hub["c"]["town"].post("/api/workflow/event", json={"data": {
        "title": "多跨重试事件", "event_type": hub["types"]["020101"], "form_data": FORM}, "action": "launch"})
    event_id = r.json()["id"]
    await deliver(hub)  # anything earlier tests left pending is out of the way
    before = len(rec.received)
    rec.fail = 1
    await act(hub, "town", event_id, "dispatch", assignments=json.dumps([
        {"org": hub["orgs"]["CZ-CGJ"]["id"], "role": "lead", "requirement": "请处置"}]))
    assert (await deliver(hub)) == {"failed": 1}
    delivery = ctx.table("feed_delivery")
    row = (await delivery.select().where(delivery.feed == "task_to_dept").order_by(delivery.id, ascending=False).limit(1))[0]
    assert row["status"] == "failed" and row["attempts"] == 1 and row["http_status"] == 500
    assert (await deliver(hub)) == {}  # not due yet: the backoff holds it
    assert (await deliver(hub, later_minutes=2)) == {"sent": 1}
    first, second = rec.received[before:]
    assert first["raw"] == second["raw"] and check_envelope(second, "ASSIGN")["eventTitle"] == "多跨重试事件"


@ASYNC
async def test_the_process_query_finds_an_event_by_source_id_and_number(hub):
    ev = hub["ctx"].table("event")
    row = (await ev.select(ev.id, ev.number, ev.source_system_id).where(ev.source_system_id == "DEPT-SYS-0001"))[0]
    client = await api_login(hub["app"], "admin", PASSWORD)  # the demo's superuser (/ext/api callers: test_api_callers)
    try:
        r = await client.get("/api/event", params={"screen": "event_query_api", "number": row["number"],
                                                   "source_system_id": "DEPT-SYS-0001"})
        other = await client.get("/api/event", params={"screen": "event_query_api", "number": row["number"],
                                                       "source_system_id": "DEPT-SYS-9999"})
    finally:
        await client.aclose()
    assert r.status_code == 200, r.text
    assert [i["id"] for i in r.json()["items"]] == [row["id"]]
    assert other.status_code == 200 and other.json()["items"] == []


@ASYNC
async def test_a_multispan_report_with_its_source_tag_lands_at_the_city_centre_dispatched_and_ccd_by_plan(hub):
    ctx, orgs = hub["ctx"], hub["orgs"]
    plan, lead, cc = ctx.table("plan"), ctx.join_table("plan", "dispatch_orgs"), ctx.join_table("plan", "cc_orgs")
    pid = (await plan.insert(plan(name="工地噪音多跨预案", event_type=hub["types"]["010101"], active=True, published=True))
           .returning(plan.id))[0]["id"]
    await lead.insert(lead(owner=pid, target=orgs["CZ-ZJJ"]["id"]))
    await cc.insert(cc(owner=pid, target=orgs["CZ-CGJ"]["id"]))
    record = {"title": "多跨上报：工地夜间施工", "number": f"DS{hub['ctx'].app.name}0001", "event_type": "010101",
              "area": "510184001", "level": "general", "source_system_id": "ZJ-SYS-0009"}
    async with await ext_client(hub, "zj_report", "hub_push") as ext:
        r = await ext.post("/ext/feeds/multispan_report", json=[record, {**record, "number": "DS-UNTAGGED",
                                                                         "source_system_id": None}])
    assert r.status_code == 200, r.text
    good, untagged = r.json()["results"]
    assert good["status"] == "created" and good["action"] == "report", good
    assert untagged["status"] == "error" and "多跨上报须带来源系统标识" in untagged["errors"]["__all__"], untagged
    event, task, log = ctx.table("event"), ctx.table("event_task"), ctx.table("event_log")
    assert await event.count().where(event.number == "DS-UNTAGGED") == 0  # the record and its action, or neither
    stored = (await event.select().where(event.id == good["id"]))[0]
    assert (stored["status"], stored["owner_org"], stored["closing_org"], stored["plan"]) == (
        "in_process", orgs["CZ-CYZX"]["id"], orgs["CZ-CYZX"]["id"], pid)
    assert stored["launched_at"] is not None and stored["due_at"] is not None
    tasks = await task.select(task.org, task.role, task.state).where(task.event == good["id"]).order_by(task.id)
    assert [(t["org"], t["role"], t["state"]) for t in tasks] == [
        (orgs["CZ-CYZX"]["id"], "owner", "submitted"), (orgs["CZ-ZJJ"]["id"], "lead", "todo"),
        (orgs["CZ-CGJ"]["id"], "cc", "todo")]
    logged = await log.select(log.action, log.channel).where(log.event == good["id"])
    assert [(x["action"], x["channel"]) for x in logged] == [("report", "city")]


BREAKS = (  # (code, text in app.yaml or services.yaml, broken text, message part)
    ("SA237", "deptName: org.name, taskRole: role, requirement", "deptName: org.nam, taskRole: role, requirement",
     "map 'deptName: org.nam'"),
    ("SA238", "msgId: $id,", "msgId: $uuid,", "envelope value '$uuid'"),
    ("SA239", 'secret: "${CHONGZHOU_DEPT_SECRET:-}"', "secret: plain-secret", "sign secret must come from the environment"),
)


def test_each_broken_outbound_format_is_named_with_its_code_file_and_line(tmp_path, capsys):
    from specadmin.cli import main

    app = tmp_path / "cz"
    shutil.copytree(EXAMPLES / "chongzhou", app, ignore=shutil.ignore_patterns("generated", "var", "__pycache__"))
    files = (app / "app.yaml", app / "modules" / "services.yaml")
    where = {}
    for code, old, new, _ in BREAKS:
        for path in files:
            text = path.read_text(encoding="utf-8")
            if old in text:
                path.write_text(text.replace(old, new, 1), encoding="utf-8")
                line = next(i for i, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1) if new in line)
                where[code] = (path.relative_to(app).as_posix(), line)
                break
        else:
            raise AssertionError(old)
    assert main(["check", str(app)]) == 1
    err = capsys.readouterr().err
    for code, _, _, message in BREAKS:
        found = [e for e in err.splitlines() if f"[{code}]" in e]
        assert any(message in e for e in found), (code, err)
        assert any(f"{where[code][0]}:{where[code][1]}:" in e for e in found), (code, where[code], found)


def test_the_references_format_example_is_chongzhous_department_target():
    block = yaml.safe_load(reference_blocks()["app.yaml feed_targets (formats)"])["feed_targets"]["dept_systems"]
    app = yaml.safe_load((EXAMPLES / "chongzhou" / "app.yaml").read_text(encoding="utf-8"))
    target = app["feed_targets"]["dept_systems"]
    assert {k: target[k] for k in block} == block
