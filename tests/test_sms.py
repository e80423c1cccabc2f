"""Kaiping's daily SMS (requirements §2.9) against a real HTTP server started here, on SQLite and
PostgreSQL: one message per supervising unit per day with the fixed text to the head's mobile,
even when the job runs twice; a gateway answering 500 or timing out is retried and the outbox
shows the attempts and the error."""
from __future__ import annotations

import datetime as dt
import json
import os
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from conftest import BACKENDS, copy_app, postgres_url, reset_postgres
from kaiping_fixture import build

pytestmark = pytest.mark.asyncio(loop_scope="session")
TEXT = "你有未接收的“扫码”预警待处理，请到OA系统的疫情防控专区查阅，谢谢！"


class Gateway:
    """A local SMS gateway: records each request; fails the first `fail` ones (500) or sleeps `delay` s."""

    def __init__(self):
        self.requests: list[dict] = []
        self.fail = 0
        self.delay = 0.0
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                owner.requests.append({"body": body, "auth": self.headers.get("Authorization")})
                if owner.delay:
                    time.sleep(owner.delay)
                status = 500 if owner.fail > 0 else 200
                owner.fail -= 1
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(b'{"code": 0}')

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/sms/send"

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(scope="module", params=BACKENDS)
async def env(request, tmp_path_factory):
    from specadmin.cli import _migrate
    from specadmin.runtime.data import db
    from specadmin.runtime.app.context import AppContext

    app_dir = copy_app("kaiping", tmp_path_factory.mktemp(f"sms-{request.param}"))
    url = None
    if request.param == "postgres":
        url = postgres_url()
        await reset_postgres(url)
        os.environ["DATABASE_URL"] = url
    try:
        await _migrate(app_dir, False)
    finally:
        os.environ.pop("DATABASE_URL", None)
    ctx = AppContext.open(app_dir, url)
    await db.start(ctx.engine)
    await ctx.refresh_caches()
    ids = await build(ctx)
    gateway = Gateway()
    saved = {k: os.environ.get(k) for k in ("SPECADMIN_SMS_URL", "SPECADMIN_SMS_AUTH", "SPECADMIN_SMS_BODY",
                                            "SPECADMIN_SMS_BACKOFF", "SPECADMIN_SMS_TIMEOUT", "SPECADMIN_SMS_RETRIES")}
    os.environ.update({"SPECADMIN_SMS_URL": gateway.url, "SPECADMIN_SMS_AUTH": "Bearer test-token",
                       "SPECADMIN_SMS_BODY": '{"mobile": "{phone}", "content": "{text}", "sign": "开平"}',
                       "SPECADMIN_SMS_BACKOFF": "0.05", "SPECADMIN_SMS_TIMEOUT": "0.5", "SPECADMIN_SMS_RETRIES": "3"})
    yield {"ctx": ctx, "ids": ids, "gateway": gateway}
    for k, v in saved.items():
        os.environ.pop(k, None) if v is None else os.environ.__setitem__(k, v)
    gateway.close()
    await db.stop(ctx.engine)


async def outbox(ctx, day):
    box = ctx.table("notification_outbox")
    rows = await box.select().where(box.day == day).order_by(box.group_id)
    return [(r["group_label"], ctx.sensitive.decode(r["recipient"]), r["status"], r["attempts"], r["last_error"])
            for r in rows]


async def test_one_sms_per_unit_per_day_even_when_job_runs_twice(env):
    from specadmin.runtime.jobs.runner import run_job

    ctx, gw = env["ctx"], env["gateway"]
    gw.requests.clear()
    day = dt.date(2026, 12, 1)
    first = await run_job(ctx, "unreceived_sms", date_from=day)
    second = await run_job(ctx, "unreceived_sms", date_from=day)
    assert (first["status"], first["created"], second["status"], second["created"]) == ("succeeded", 2, "succeeded", 0)
    assert sorted(r["body"]["mobile"] for r in gw.requests) == ["13900000001", "13900000002"]
    assert all(r["body"] == {"mobile": r["body"]["mobile"], "content": TEXT, "sign": "开平"} for r in gw.requests)
    assert {r["auth"] for r in gw.requests} == {"Bearer test-token"}
    assert await outbox(ctx, day) == [("开平市教育局", "13900000001", "sent", 1, None),
                                      ("开平市卫生健康局", "13900000002", "sent", 1, None)]
    # Unit 1 receives its alert: the next day only unit 2 (tab still non-empty) gets a message.
    alert = ctx.table("scan_alert")
    await alert.update({alert.status: "received"}).where(alert.id == env["ids"]["alert_P1"])
    gw.requests.clear()
    await run_job(ctx, "unreceived_sms", date_from=day + dt.timedelta(days=1))
    assert [r["body"]["mobile"] for r in gw.requests] == ["13900000002"]


async def test_gateway_500_is_retried_with_backoff_and_outbox_shows_attempts(env):
    from specadmin.runtime.notify.sms import send_notification

    ctx, gw = env["ctx"], env["gateway"]
    gw.requests.clear()
    gw.fail = 2  # the first two requests answer 500
    day = dt.date(2026, 12, 5)
    result = await send_notification(ctx, "unreceived_scan_alerts", day)
    assert result["sent"] == 1 and result["failed"] == 0
    assert len(gw.requests) == 3
    assert await outbox(ctx, day) == [("开平市卫生健康局", "13900000002", "sent", 3, None)]


async def test_gateway_timeout_marks_failed_and_next_run_resends_once(env):
    from specadmin.runtime.notify.sms import send_notification

    ctx, gw = env["ctx"], env["gateway"]
    gw.requests.clear()
    gw.delay = 1.0  # longer than SPECADMIN_SMS_TIMEOUT
    day = dt.date(2026, 12, 6)
    try:
        result = await send_notification(ctx, "unreceived_scan_alerts", day)
    finally:
        gw.delay = 0.0
    assert result["failed"] == 1 and len(gw.requests) == 3
    [(_unit, _phone, status, attempts, error)] = await outbox(ctx, day)
    assert (status, attempts) == ("failed", 3) and "超时" in error
    gw.requests.clear()
    assert (await send_notification(ctx, "unreceived_scan_alerts", day))["sent"] == 1
    assert (await send_notification(ctx, "unreceived_scan_alerts", day))["sent"] == 0
    assert len(gw.requests) == 1
    assert (await outbox(ctx, day))[0][2:4] == ("sent", 4)


async def test_two_concurrent_senders_send_each_unit_once(env):
    """Two workers running the job at the same moment: the unique dedupe key lets one of them send."""
    import asyncio

    from specadmin.runtime.notify.sms import send_notification

    ctx, gw = env["ctx"], env["gateway"]
    gw.requests.clear()
    day = dt.date(2026, 12, 9)
    results = await asyncio.gather(*(send_notification(ctx, "unreceived_scan_alerts", day) for _ in range(4)))
    assert sum(r["sent"] for r in results) == 1 and sum(r["skipped"] for r in results) == 3
    assert [r["body"]["mobile"] for r in gw.requests] == ["13900000002"]
