"""Data feeds on the Xicheng app (§1.3), on SQLite and PostgreSQL: inbound pushes through the
API-caller gate, outbound pushes after commit to a real HTTP receiver, retries, dead letters, replay.

The receiver is an http.server in a thread. On each request it reads the pushed site from the
database through its own connection (sqlite3 / asyncpg), so a push that arrived before the
commit would find nothing.
"""
from __future__ import annotations

import asyncio
import contextvars
import datetime as dt
import json
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest
from conftest import api_login, BACKENDS, copy_app, start_app
from specadmin.runtime.crypto import sign, signing_string

# Async tests and fixtures share the session loop (pyproject: asyncio_default_*_loop_scope).
PASSWORD = "Xicheng@2026"
STREETS = {"S1": "西长安街街道", "S2": "新街口街道"}


# -- the receiving server -------------------------------------------------------------

class Receiver:
    """Records every POST; answers `status`; looks the pushed site up through its own connection."""

    def __init__(self, lookup):
        self.requests: list[dict] = []
        self.status = 200
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 (http.server's naming)
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                seen = lookup(body["row_id"]) if body["entity"] == "testing_site" else None
                receiver.requests.append({"path": self.path, "auth": self.headers.get("Authorization"),
                                          "body": body, "seen_in_db": seen})
                self.send_response(receiver.status)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"{}")

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


def closed_port_url() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/down"


def site_lookup(ctx, url):
    """A function (row id) -> site_code read through a connection of its own, in the server thread."""
    if url is None:
        import sqlite3

        path = ctx.engine.path

        def read(row_id):
            with sqlite3.connect(path) as conn:
                row = conn.execute("SELECT site_code FROM testing_site WHERE id = ?", (row_id,)).fetchone()
            return row[0] if row else None
        return read

    import asyncpg

    async def fetch(row_id):
        conn = await asyncpg.connect(url)
        try:
            return await conn.fetchval("SELECT site_code FROM testing_site WHERE id = $1", row_id)
        finally:
            await conn.close()
    return lambda row_id: asyncio.run(fetch(row_id))


# -- fixture ----------------------------------------------------------------------------

@pytest.fixture(scope="module", params=BACKENDS)
async def env(request, tmp_path_factory):
    from specadmin.runtime.api_callers.keys import issue_token, register_key
    from specadmin.runtime.identity.seed import ensure_org
    from specadmin.runtime.identity.users import ensure_user

    app_dir = copy_app("xicheng", tmp_path_factory.mktemp(f"feeds-{request.param}"))
    app, url = await start_app(app_dir, request.param)
    ctx = app.state.ctx
    try:
        xc = await ensure_org(ctx, "XC", "西城区", "district", None, "government")
        orgs = {"XC": xc}
        for i, (code, name) in enumerate(STREETS.items()):
            orgs[code] = await ensure_org(ctx, f"XC-{code}", name, "street", xc, "government")
        await ctx.refresh_caches()
        await ensure_user(ctx, "admin", PASSWORD, name="管理员", org_code="XC", roles=("sysadmin",), superuser=True)
        await ensure_user(ctx, "street1", PASSWORD, name="街道", org_code="XC-S1", roles=("street_user",))
        plan = ctx.table("mass_test_plan")
        await plan.insert(plan(plan_no="P2026-01", plan_name="第一轮大规模核酸"))
        await register_key(ctx, "screen_hub", role="data_feed", name="大屏数据中心")
        keys = await register_key(ctx, "signer", role="data_feed", name="签名接入方")
        token = await issue_token(ctx, "screen_hub")
        await register_key(ctx, "stale", role="data_feed")
        stale_token = await issue_token(ctx, "stale")
        callers = ctx.table("api_caller")
        await callers.update({callers.valid_to: dt.date.today() - dt.timedelta(days=1)}).where(callers.code == "stale")
        await register_key(ctx, "wrong_role", role="street_user")
        wrong_token = await issue_token(ctx, "wrong_role")
        client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver")
        yield {"app": app, "ctx": ctx, "url": url, "client": client, "orgs": orgs, "token": token, "keys": keys,
               "stale_token": stale_token, "wrong_token": wrong_token, "lookup": site_lookup(ctx, url)}
    finally:
        for hook in app.on_shutdown:
            await hook(app)


@pytest.fixture
async def receiver(env, monkeypatch):
    """A live receiver for both targets, retry settings for the test, and an empty outbox."""
    server = Receiver(env["lookup"])
    monkeypatch.setenv("XICHENG_BIGSCREEN_URL", server.url + "/bigscreen")
    monkeypatch.setenv("XICHENG_ONEMAP_URL", server.url + "/onemap")
    monkeypatch.setenv("XICHENG_BIGSCREEN_AUTH", "Bearer bigscreen-secret")
    monkeypatch.setenv("SPECADMIN_FEED_MAX_ATTEMPTS", "3")
    monkeypatch.setenv("SPECADMIN_FEED_BACKOFF", "60")
    table = env["ctx"].table("feed_delivery")
    await table.delete(force=True)
    yield server
    server.stop()


def bearer(env, token_key="token") -> dict:
    return {"Authorization": f"Bearer {env[token_key]}"}


def signed(env, method: str, path: str, body: bytes) -> dict:
    private, public = env["keys"]
    stamp, nonce = str(int(time.time())), f"nonce{time.time_ns()}"
    signature = sign(private, public, signing_string(method, path, [], body, stamp, nonce))
    return {"X-SA-Caller": "signer", "X-SA-Timestamp": stamp, "X-SA-Nonce": nonce, "X-SA-Signature": signature,
            "Content-Type": "application/json"}


def site(code: str, street: str = "S1", **extra) -> dict:
    return {"site_code": code, "name": f"{code}号点", "street": STREETS[street], "address": "北京市西城区",
            "location": {"lng": 116.37, "lat": 39.91}, **extra}


async def rows(env, entity: str, **where) -> list[dict]:
    table = env["ctx"].table(entity)
    query = table.select()
    for name, value in where.items():
        query = query.where(getattr(table, name) == value)
    return await query


async def dispatch(env, now: dt.datetime | None = None) -> dict:
    """Run the dispatcher as `serve` does: in a task of its own, outside any caller's transaction."""
    from specadmin.runtime.feeds.dispatcher import run_once

    task = asyncio.get_running_loop().create_task(run_once(env["ctx"], now), context=contextvars.Context())
    return await task


async def login(env, username: str) -> httpx.AsyncClient:
    return await api_login(env["app"], username, PASSWORD)


# -- inbound ----------------------------------------------------------------------------

async def test_bearer_push_creates_updates_and_deletes_sites_with_per_record_results(env, receiver):
    client = env["client"]
    r = await client.post("/ext/feeds/site_push", json=[site("A1"), site("A2", "S2")], headers=bearer(env))
    assert r.status_code == 200, r.text
    results = r.json()["results"]
    assert [x["status"] for x in results] == ["created", "created"]
    assert [x["key"] for x in results] == [{"site_code": "A1"}, {"site_code": "A2"}]
    stored = (await rows(env, "testing_site", site_code="A2"))[0]
    assert stored["street"] == env["orgs"]["S2"] and stored["location_lat"] == pytest.approx(39.91)

    r = await client.put("/ext/feeds/site_push", json={"site_code": "A1", "name": "改名后的点位"}, headers=bearer(env))
    assert r.status_code == 200 and r.json()["results"][0]["status"] == "updated"
    assert (await rows(env, "testing_site", site_code="A1"))[0]["name"] == "改名后的点位"

    r = await client.request("DELETE", "/ext/feeds/site_push", json={"records": [{"site_code": "A2"}]},
                             headers=bearer(env))
    assert r.status_code == 200 and r.json()["results"][0] == {"status": "deleted", "id": stored["id"], "index": 0,
                                                              "key": {"site_code": "A2"}}
    assert await rows(env, "testing_site", site_code="A2") == []
    # Every write went through EntityService: the operation log names the caller's writes.
    oplog = env["ctx"].table("oplog")
    entry = await oplog.select(oplog.operator, oplog.after).where(
        oplog.subject_type == "testing_site", oplog.op_type == "create", oplog.subject_id == str(stored["id"]))
    assert len(entry) == 1 and entry[0]["operator"] is None
    assert json.loads(entry[0]["after"])["api_caller"] == "api:screen_hub"  # who wrote it, without a user row
    assert await oplog.count().where(oplog.subject_type == "testing_site", oplog.op_type == "delete",
                                     oplog.subject_id == str(stored["id"])) == 1
    # …and left one delivery per target and change (create x2, update, delete, each to bigscreen + onemap).
    assert len(await rows(env, "feed_delivery", feed="site_out")) == 8


async def test_sm2_signed_report_upserts_actual_count_by_plan_and_street(env, receiver):
    client, path = env["client"], "/ext/feeds/actual_report"
    body = json.dumps({"plan": "P2026-01", "street": STREETS["S1"], "actual_count": 1200}).encode()
    r = await client.put(path, content=body, headers=signed(env, "PUT", path, body))
    assert r.status_code == 200, r.text
    assert r.json()["results"][0]["status"] == "created"
    row_id = r.json()["results"][0]["id"]
    actual = env["ctx"].table("mass_test_actual")
    await actual.update({actual.street_edited_count: 1190}).where(actual.id == row_id)  # a street's correction

    body = json.dumps({"plan": "P2026-01", "street": STREETS["S1"], "actual_count": 1350}).encode()
    r = await client.put(path, content=body, headers=signed(env, "PUT", path, body))
    assert r.json()["results"][0] == {"status": "updated", "id": row_id, "index": 0,
                                      "key": {"plan": "P2026-01", "street": STREETS["S1"]}}
    stored = await rows(env, "mass_test_actual")
    assert [(x["actual_count"], x["street_edited_count"]) for x in stored] == [(1350, 1190)]
    # The same signed request again is a replay and is refused.
    headers = signed(env, "PUT", path, body)
    assert (await client.put(path, content=body, headers=headers)).status_code == 200
    replay = await client.put(path, content=body, headers=headers)
    assert replay.status_code == 401 and replay.json()["detail"] == "重复的请求"


async def test_bad_values_reject_the_whole_batch_with_reasons_and_leave_no_rows_or_deliveries(env, receiver):
    bad = site("B2", street="S1", site_kind="no_such_kind")
    bad["street"] = "不存在的街道"
    r = await env["client"].post("/ext/feeds/site_push", json=[site("B1"), bad, {"name": "无编码"}],
                                 headers=bearer(env))
    assert r.status_code == 422, r.text
    answer = r.json()
    assert answer["written"] is False and answer["errors"] == 2
    assert answer["results"][0]["status"] == "not_written"
    assert answer["results"][1]["errors"] == {"street": "“不存在的街道”不存在"}
    assert answer["results"][2]["errors"] == {"site_code": "必填（用于识别记录）"}
    # B1 was inserted (and its deliveries written) inside the batch, then rolled back with it.
    assert await rows(env, "testing_site", site_code="B1") == []
    assert await rows(env, "feed_delivery") == []

    r = await env["client"].post("/ext/feeds/site_push", json=site("B3", site_kind="no_such_kind"), headers=bearer(env))
    assert r.status_code == 422 and set(r.json()["results"][0]["errors"]) == {"site_kind"}
    dup = await env["client"].post("/ext/feeds/sampling_push", json={"sample_no": "Q1", "site": "A1",
                                                                     "sample_time": "2026-11-01 08:00", "person_count": -1},
                                   headers=bearer(env))
    assert dup.status_code == 422 and set(dup.json()["results"][0]["errors"]) == {"person_count"}


async def test_per_record_feed_keeps_good_checkins_and_reports_the_bad_one(env, receiver):
    good = {"site": "A1", "street": STREETS["S1"], "checkin_time": "2026-11-02 09:30", "reporter": "王伟"}
    bad = {"site": "A1", "street": STREETS["S1"], "checkin_time": "昨天", "reporter": "李娜"}
    r = await env["client"].post("/ext/feeds/checkin_report", json=[good, bad], headers=bearer(env))
    assert r.status_code == 200, r.text
    assert [x["status"] for x in r.json()["results"]] == ["created", "error"]
    assert "checkin_time" in r.json()["results"][1]["errors"]
    assert [x["reporter"] for x in await rows(env, "check_in")] == ["王伟"]
    # Operations a feed does not declare are refused: check-ins are create-only.
    assert (await env["client"].request("DELETE", "/ext/feeds/checkin_report", json=good,
                                        headers=bearer(env))).status_code == 400


async def test_unauthenticated_expired_and_wrongly_authorised_callers_are_refused(env, receiver):
    client = env["client"]
    r = await client.post("/ext/feeds/site_push", json=site("C1"))
    assert r.status_code == 401
    r = await client.post("/ext/feeds/site_push", json=site("C1"), headers=bearer(env, "stale_token"))
    assert r.status_code == 401 and r.json()["detail"] == "调用方已过期"
    r = await client.post("/ext/feeds/site_push", json=site("C1"), headers={"Authorization": "Bearer sa_forged"})
    assert r.status_code == 401 and r.json()["detail"] == "令牌无效"
    r = await client.post("/ext/feeds/site_push", json=site("C1"), headers=bearer(env, "wrong_token"))
    assert r.status_code == 403 and r.json()["detail"] == "无权调用接口“点位数据接收”"
    assert await rows(env, "testing_site", site_code="C1") == []
    assert (await client.post("/ext/feeds/no_such_feed", json={}, headers=bearer(env))).status_code == 404


# -- outbound ---------------------------------------------------------------------------

async def test_outbound_push_arrives_only_after_the_commit(env, receiver):
    from specadmin.runtime.api_callers.grants import caller_principal
    from specadmin.runtime.feeds.inbound import Intake

    ctx = env["ctx"]
    caller = (await rows(env, "api_caller", code="screen_hub"))[0]
    principal = await caller_principal(ctx, caller)
    feed = next(f for f in ctx.app.feeds if f.name == "site_push")
    async with ctx.table("testing_site")._meta.db.transaction():
        status, answer = await Intake(ctx, feed, principal).run("create", [site("D1", "S2")])
        assert status == 200
        # Written but not committed: the dispatcher (its own connection) finds nothing to send.
        assert await dispatch(env) == {}
        assert receiver.requests == []
    assert await dispatch(env) == {"sent": 2}
    row_id = answer["results"][0]["id"]
    by_path = {r["path"]: r for r in receiver.requests}
    assert set(by_path) == {"/bigscreen", "/onemap"}
    for request in by_path.values():
        assert request["seen_in_db"] == "D1"  # the receiver read the committed row through its own connection
        body = request["body"]
        assert (body["feed"], body["op"], body["row_id"]) == ("site_out", "create", row_id)
        assert body["data"]["street_label"] == STREETS["S2"] and body["data"]["location"] == {"lng": 116.37, "lat": 39.91}
    assert by_path["/bigscreen"]["auth"] == "Bearer bigscreen-secret" and by_path["/onemap"]["auth"] is None
    assert {r["status"] for r in await rows(env, "feed_delivery")} == {"sent"}

    # A write that rolls back leaves no delivery at all.
    with pytest.raises(RuntimeError):
        async with ctx.table("testing_site")._meta.db.transaction():
            await Intake(ctx, feed, principal).run("create", [site("D2")])
            raise RuntimeError("rollback")
    assert len(await rows(env, "feed_delivery")) == 2 and await dispatch(env) == {}
    assert await rows(env, "testing_site", site_code="D2") == []


async def test_down_receiver_is_retried_with_backoff_then_dead_lettered_and_replayed(env, receiver, monkeypatch):
    monkeypatch.setenv("XICHENG_BIGSCREEN_URL", closed_port_url())  # port closed
    receiver.status = 500  # onemap answers 500
    admin = await login(env, "admin")
    r = await admin.post("/api/testing_site?screen=site_info", json={"site_code": "E1", "name": "E1号点",
                                                                     "street": env["orgs"]["S1"]})
    assert r.status_code == 201, r.text
    start = dt.datetime.now()
    assert await dispatch(env) == {"failed": 2}
    deliveries = await rows(env, "feed_delivery")
    for d in deliveries:
        assert d["attempts"] == 1 and d["status"] == "failed"
        assert 58 <= (d["next_try_at"] - start).total_seconds() <= 63  # backoff 60 s
    assert {d["http_status"] for d in deliveries} == {None, 500}
    assert await dispatch(env) == {}  # not due yet: nothing is tried
    assert len(receiver.requests) == 1
    assert await dispatch(env, start + dt.timedelta(seconds=65)) == {"failed": 2}
    for d in await rows(env, "feed_delivery"):
        assert d["attempts"] == 2 and 118 <= (d["next_try_at"] - start).total_seconds() <= 125  # doubled
    assert await dispatch(env, start + dt.timedelta(seconds=200)) == {"dead": 2}
    assert len(receiver.requests) == 3
    dead = await admin.get("/api/feed_delivery", params={"screen": "feed_delivery_admin", "tab": "dead"})
    assert dead.status_code == 200 and dead.json()["total"] == 2
    assert await dispatch(env, start + dt.timedelta(days=1)) == {}  # dead letters are never retried by themselves

    # The receiver is back: 重新推送 from the dead-letter list delivers each once.
    monkeypatch.setenv("XICHENG_BIGSCREEN_URL", receiver.url + "/bigscreen")
    receiver.status = 200
    r = await admin.post("/api/feed_delivery/actions/replay?screen=feed_delivery_admin",
                         json={"ids": [d["id"] for d in deliveries]})
    assert r.status_code == 200 and sorted(r.json()["done"]) == sorted(d["id"] for d in deliveries)
    assert await dispatch(env) == {"sent": 2}
    assert await dispatch(env) == {}
    assert [r["path"] for r in receiver.requests[3:]] in (["/bigscreen", "/onemap"], ["/onemap", "/bigscreen"])
    sent = await admin.get("/api/feed_delivery", params={"screen": "feed_delivery_admin", "tab": "sent"})
    assert sent.json()["total"] == 2


async def test_serve_dispatcher_pushes_a_checkin_report_in_real_time(env, receiver, monkeypatch):
    from specadmin.runtime.feeds.dispatcher import FeedDispatcher

    monkeypatch.setenv("SPECADMIN_FEED_POLL", "30")  # far longer than the wait below: the wake-up must do it
    dispatcher = FeedDispatcher(env["ctx"])
    env["app"].state.feed_dispatcher = dispatcher
    dispatcher.start()
    try:
        await asyncio.sleep(0.2)  # its first round finds an empty outbox and waits
        r = await env["client"].post("/ext/feeds/checkin_report", headers=bearer(env), json={
            "site": "A1", "street": STREETS["S2"], "checkin_time": "2026-11-02 10:00", "reporter": "张敏",
            "location": {"lng": 116.36, "lat": 39.9}})
        assert r.status_code == 200, r.text
        for _ in range(50):
            if len(receiver.requests) == 2:
                break
            await asyncio.sleep(0.1)
        assert sorted(r["path"] for r in receiver.requests) == ["/bigscreen", "/onemap"]
        assert receiver.requests[0]["body"]["data"]["reporter"] == "张敏"
    finally:
        await dispatcher.stop()


async def test_delivery_screen_and_replay_are_closed_to_street_users(env, receiver):
    street = await login(env, "street1")
    assert (await street.get("/api/feed_delivery")).status_code == 403
    assert (await street.get("/api/feed_delivery", params={"screen": "feed_delivery_admin"})).status_code == 403
    r = await street.post("/api/feed_delivery/actions/replay?screen=feed_delivery_admin", json={"ids": [1]})
    assert r.status_code == 403
    admin = await login(env, "admin")
    assert (await admin.get("/api/feed_delivery", params={"screen": "feed_delivery_admin"})).status_code == 200


# -- the spec ---------------------------------------------------------------------------

FEED_APP = """\
app: demo
label: 示例
modules: [main]
feed_targets:
  screen: {url: "${DEMO_SCREEN_URL:-http://127.0.0.1:9/}"}
"""
FEED_MODULE = """\
entities:
  shop:
    label: 店铺
    fields:
      code: {type: string, label: 编码, required: true, unique: true}
      name: {type: string, label: 名称}
      unit: {type: ref, to: org, label: 单位}
      unit_name: {type: lookup, path: unit.name, label: 单位名称}
screens:
  shop_admin: {entity: shop, label: 店铺, actions: [create, update, delete]}
roles:
  feeder: {label: 接入, grants: {}}
feeds:
  shop_in:
    kind: inbound
    entity: shop
    key: code
    ops: [create, upsert]
    fields: [code, name, unit]
    ref_keys: {unit: code}
    caller_role: feeder
  shop_out:
    kind: outbound
    entity: shop
    events: [create, delete]
    targets: [screen]
    where: {name: {not: null}}
"""


def feed_errors(tmp_path, old: str, new: str) -> list:
    from specadmin.generator.build import load_app
    from specadmin.generator.errors import SpecInvalid

    (tmp_path / "modules").mkdir(exist_ok=True)
    (tmp_path / "app.yaml").write_text(FEED_APP, encoding="utf-8")
    assert old in FEED_MODULE
    (tmp_path / "modules" / "main.yaml").write_text(FEED_MODULE.replace(old, new), encoding="utf-8")
    try:
        model = load_app(tmp_path)
    except SpecInvalid as exc:
        return [(e.code, e.line, e.message) for e in exc.errors]
    return [model]


def test_a_valid_feeds_spec_builds_into_the_model(tmp_path):
    model, = feed_errors(tmp_path, "", "")
    inbound, outbound = model.feeds
    assert (inbound.key, inbound.ops, inbound.caller_role, dict(inbound.ref_keys)) == (("code",), ("create", "upsert"), "feeder", {"unit": "code"})
    assert outbound.events == ("create", "delete") and outbound.fields == ("code", "name", "unit")
    assert model.feed_targets["screen"]["url"].startswith("${DEMO_SCREEN_URL")


@pytest.mark.parametrize("old, new, code, line", [
    ("    key: code\n", "    key: name\n", "SA141", 17),               # key not unique
    ("    key: code\n", "", "SA141", 17),                              # upsert without a key
    ("fields: [code, name, unit]", "fields: [code, unit_name]", "SA140", 19),   # a lookup cannot be sent
    ("ref_keys: {unit: code}", "ref_keys: {unit: codes}", "SA141", 20),
    ("    caller_role: feeder\n", "", "SA142", 14),                    # neither screen nor caller_role
    ("caller_role: feeder", "caller_role: nobody", "SA142", 21),
    ("targets: [screen]", "targets: [bigscreen]", "SA143", 26),
    ("events: [create, delete]", "on: [create, delete]", "SA010", 25),  # YAML reads `on` as true
    ("entity: shop\n    key", "entity: shops\n    key", "SA140", 16),
])
def test_feed_spec_errors_name_code_and_line(tmp_path, old, new, code, line):
    errors = feed_errors(tmp_path, old, new)
    assert any(c == code and at == line for c, at, _ in errors), errors


# -- imports write deliveries too ---------------------------------------------------------

IMPORT_FEEDS = """feeds:
  scan_out:
    kind: outbound
    entity: scan_record
    events: [create]
    targets: [hub]
    fields: [place_code, subject_name, subject_id_number, scanned_at]
  threshold_in:
    kind: inbound
    entity: place
    key: place_code
    ops: [update]
    fields: [place_code, name, min_daily, max_daily]
    screen: threshold_admin
"""
SCAN_HEADERS = ["公共场所ID", "公共场所", "被采集人身份证", "被采集人", "联系电话", "健康码状态", "采集时间"]


@pytest.fixture(scope="module", params=BACKENDS)
async def kaiping_feed(request, tmp_path_factory):
    import re

    from kaiping_fixture import build
    from specadmin.generator.writer import generate

    app_dir = copy_app("kaiping", tmp_path_factory.mktemp(f"feeds-import-{request.param}"))
    (app_dir / "modules" / "feeds_test.yaml").write_text(IMPORT_FEEDS, encoding="utf-8")
    text = (app_dir / "app.yaml").read_text(encoding="utf-8")
    text = re.sub(r"^modules: \[(.*)\]$", r"modules: [\1, feeds_test]", text, flags=re.MULTILINE)
    (app_dir / "app.yaml").write_text(text + '\nfeed_targets:\n  hub: {url: "${FEEDS_TEST_HUB_URL:-http://127.0.0.1:9/}"}\n',
                                      encoding="utf-8")
    generate(app_dir)
    app, url = await start_app(app_dir, request.param)
    try:
        await build(app.state.ctx)
        yield {"app": app, "ctx": app.state.ctx, "url": url}
    finally:
        for hook in app.on_shutdown:
            await hook(app)


def scan_csv(rows: list[list]) -> bytes:
    import csv
    import io

    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(SCAN_HEADERS)
    writer.writerows(rows)
    return buffer.getvalue().encode("utf-8-sig")


async def test_imported_rows_are_pushed_after_the_import_commits_and_a_failed_import_pushes_nothing(kaiping_feed,
                                                                                                     monkeypatch):
    from kaiping_fixture import PASSWORD as KAIPING_PASSWORD
    from test_imports_support import ID_OK, ID_OK2

    env = kaiping_feed
    server = Receiver(lambda row_id: None)
    monkeypatch.setenv("FEEDS_TEST_HUB_URL", server.url + "/hub")
    try:
        client = httpx.AsyncClient(transport=httpx.ASGITransport(app=env["app"]), base_url="http://testserver")
        assert (await client.post("/api/auth/login", json={"username": "ops", "password": KAIPING_PASSWORD})).status_code == 200
        await client.get("/api/auth/me")
        client.headers["x-csrftoken"] = client.cookies["csrftoken"]
        bad = scan_csv([["P1", "一号酒家", ID_OK, "张三", "13900000000", "绿码", "2026-11-06 08:00"],
                        ["P1", "一号酒家", "123", "李四", "13900000001", "绿码", "2026-11-06 09:00"]])
        r = await client.post("/api/scan_record/import", params={"screen": "scan_admin"}, files={"file": ("bad.csv", bad)})
        assert r.status_code == 200 and r.json()["status"] == "failed", r.text
        assert await env["ctx"].table("feed_delivery").count() == 0  # all_or_nothing: nothing written, nothing pushed
        good = scan_csv([["P1", "一号酒家", ID_OK, "张三", "13900000000", "绿码", "2026-11-06 08:00"],
                         ["P2", "二号超市", ID_OK2, "李四", "13900000001", "绿码", "2026-11-06 09:00"]])
        r = await client.post("/api/scan_record/import", params={"screen": "scan_admin"}, files={"file": ("good.csv", good)})
        assert r.status_code == 200 and (r.json()["status"], r.json()["ok"]) == ("done", 2), r.text
        from specadmin.runtime.feeds.dispatcher import run_once

        assert await run_once(env["ctx"]) == {"sent": 2}
        bodies = sorted((x["body"] for x in server.requests), key=lambda b: b["data"]["subject_name"])
        assert [(b["op"], b["data"]["place_code"], b["data"]["subject_name"]) for b in bodies] == [
            ("create", "P1", "张三"), ("create", "P2", "李四")]
        assert all("subject_id_number" not in b["data"] for b in bodies)  # encrypted in the bulk path: never sent
    finally:
        server.stop()


async def test_screen_feed_writes_with_the_callers_grant_fields_and_refuses_callers_without_it(kaiping_feed):
    from specadmin.runtime.api_callers.keys import issue_token, register_key

    ctx = kaiping_feed["ctx"]
    await register_key(ctx, "unit_system", role="supervisor")
    await register_key(ctx, "ops_system", role="ops")  # ops holds place_admin, not threshold_admin
    client = httpx.AsyncClient(transport=httpx.ASGITransport(app=kaiping_feed["app"]), base_url="http://testserver")
    auth = {"Authorization": f"Bearer {await issue_token(ctx, 'unit_system')}"}
    r = await client.put("/ext/feeds/threshold_in", json={"place_code": "P1", "min_daily": 5, "max_daily": 50},
                         headers=auth)
    assert r.status_code == 200 and r.json()["results"][0]["status"] == "updated", r.text
    place = ctx.table("place")
    assert await place.select(place.min_daily, place.max_daily).where(place.place_code == "P1") == [
        {"min_daily": 5, "max_daily": 50}]
    # `name` is a field of the feed, but the supervisor's grant only changes the thresholds.
    r = await client.put("/ext/feeds/threshold_in", json={"place_code": "P1", "name": "改名"}, headers=auth)
    assert r.status_code == 422 and "name" in r.json()["results"][0]["errors"]
    r = await client.put("/ext/feeds/threshold_in", json={"place_code": "P1", "min_daily": 60}, headers=auth)
    assert r.status_code == 422 and r.json()["results"][0]["errors"] == {"min_daily": "场所日人流量阈值（最小值）不能大于最大值"}
    other = {"Authorization": f"Bearer {await issue_token(ctx, 'ops_system')}"}
    r = await client.put("/ext/feeds/threshold_in", json={"place_code": "P1", "min_daily": 1}, headers=other)
    assert r.status_code == 403
