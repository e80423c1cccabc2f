"""Two real Celery workers (`specadmin worker DIR --no-beat`) on the real redis-server send
Kaiping's daily SMS through a real local HTTP gateway configured in app.yaml (`sms:` with
${ENV} secrets), on PostgreSQL and on a shared SQLite file:

- the job sent to both workers at the same moment for the same day reaches the gateway
  exactly once per unit (and the in-app job writes one message per user);
- a unit whose gateway answers 500, then times out, is `failed` in the outbox with its
  attempts and error, and a later run of the same day sends it once, the other unit never again.
"""
from __future__ import annotations

import asyncio
import datetime as dt
import json
import os
import re
import subprocess
import sys
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from conftest import BACKENDS, copy_app, database_env, postgres_url, reset_postgres
from kaiping_fixture import build

ASYNC = pytest.mark.asyncio(loop_scope="session")
SPECADMIN = str(Path(sys.executable).parent / "specadmin")
PHONES = ["13900000001", "13900000002"]
SMS_CONFIG = """
sms:
  url: "${KP_TEST_SMS_URL}"
  auth: "Bearer ${KP_TEST_SMS_TOKEN}"
  body: '{"mobile": "{phone}", "content": "{text}"}'
  timeout: 1
  retries: 2
  backoff: 0.05
"""


class Gateway:
    """Records every request; `modes[phone]` = "500" or "timeout" makes that phone fail; the first
    request of each phase is held `hold` seconds so both workers are busy at the same time."""

    def __init__(self):
        self.requests: list[dict] = []
        self.modes: dict[str, str] = {}
        self.hold = 0.0
        self.lock = threading.Lock()
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                with owner.lock:
                    owner.requests.append({"body": body, "auth": self.headers.get("Authorization")})
                    hold, owner.hold = owner.hold, 0.0
                mode = owner.modes.get(body.get("mobile"))
                # A slow 500 keeps the failing run busy, so the simultaneous run finds the unit claimed.
                time.sleep({"timeout": 1.6, "500": 0.3}.get(mode, hold))
                try:
                    self.send_response(500 if mode == "500" else 200)
                    self.send_header("Content-Type", "application/json")
                    self.end_headers()
                    self.wfile.write(b'{"code": 0}')
                except OSError:  # the client gave up (timeout) before the answer
                    pass

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/sms/send"

    def phones(self) -> list[str]:
        return sorted(r["body"]["mobile"] for r in self.requests)

    def close(self):
        self.server.shutdown()
        self.server.server_close()


class Worker:
    """One `specadmin worker` process; its output is collected by a thread for readiness and logs."""

    def __init__(self, app_dir: Path, env: dict):
        self.lines: list[str] = []
        self.proc = subprocess.Popen([SPECADMIN, "worker", str(app_dir), "--no-beat", "--concurrency", "1"], env=env,
                                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        for line in self.proc.stdout:
            self.lines.append(line)

    def log(self) -> str:
        return "".join(self.lines)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)


@pytest.fixture(scope="module", params=BACKENDS)
async def env(request, tmp_path_factory):
    from specadmin.cli import _migrate
    from specadmin.generator.writer import generate
    from specadmin.runtime.data import db
    from specadmin.runtime.app.context import AppContext
    from specadmin.runtime.jobs.celery_app import make_celery

    broker = os.environ.get("SPECADMIN_TEST_REDIS_URL")
    assert broker, "SPECADMIN_TEST_REDIS_URL is not set"
    app_dir = copy_app("kaiping", tmp_path_factory.mktemp(f"smsw-{request.param}"))
    (app_dir / "app.yaml").write_text((app_dir / "app.yaml").read_text(encoding="utf-8") + SMS_CONFIG, encoding="utf-8")
    generate(app_dir)
    url = None
    if request.param == "postgres":
        url = postgres_url()
        await reset_postgres(url)
    with database_env(url):
        await _migrate(app_dir, False)
    ctx = AppContext.open(app_dir, url)
    await db.start(ctx.engine)
    await ctx.refresh_caches()
    ids = await build(ctx)
    gateway = Gateway()
    queue = f"specadmin.test.sms.{uuid.uuid4().hex[:8]}"
    child = {k: v for k, v in os.environ.items() if not k.startswith("SPECADMIN_SMS_") and k != "DATABASE_URL"}
    child |= {"REDIS_URL": broker, "SPECADMIN_CELERY_QUEUE": queue, "KP_TEST_SMS_URL": gateway.url,
              "KP_TEST_SMS_TOKEN": "worker-secret"} | ({"DATABASE_URL": url} if url else {})
    os.environ["SPECADMIN_CELERY_QUEUE"] = queue
    try:
        celery = make_celery(app_dir, broker)
    finally:
        os.environ.pop("SPECADMIN_CELERY_QUEUE")
    workers = [Worker(app_dir, child), Worker(app_dir, child)]
    try:
        deadline = time.monotonic() + 90
        while not all(" ready." in w.log() for w in workers):
            for w in workers:
                assert w.proc.poll() is None, w.log()[-3000:]
            assert time.monotonic() < deadline, "workers not ready:\n" + "\n---\n".join(w.log()[-2000:] for w in workers)
            await asyncio.sleep(0.3)
        yield {"ctx": ctx, "ids": ids, "gateway": gateway, "celery": celery, "queue": queue, "workers": workers}
    finally:
        for w in workers:
            w.stop()
        gateway.close()
        await db.stop(ctx.engine)


async def run_on_both(env, job: str, day: dt.date) -> list[dict]:
    """Send the job twice at once (one task per worker) and wait until both runs are recorded."""
    from specadmin.runtime.jobs.celery_app import TASK

    ctx = env["ctx"]
    runs = ctx.table("job_run")
    before = await runs.count().where(runs.job == job, runs.trigger == "celery")
    for _ in range(2):
        env["celery"].send_task(TASK, args=[job, day.isoformat()], queue=env["queue"])
    deadline = time.monotonic() + 90
    while True:
        rows = await runs.select().where(runs.job == job, runs.trigger == "celery").order_by(runs.id)
        done = [r for r in rows[before:] if r["status"] != "running"]
        if len(done) == 2:
            return done
        for w in env["workers"]:
            assert w.proc.poll() is None, w.log()[-3000:]
        assert time.monotonic() < deadline, f"runs not finished: {rows[before:]}"
        await asyncio.sleep(0.3)


async def outbox(ctx, day) -> list[tuple]:
    box = ctx.table("notification_outbox")
    rows = await box.select().where(box.day == day).order_by(box.group_label)
    return [(ctx.sensitive.decode(r["recipient"]), r["status"], r["attempts"], r["last_error"]) for r in rows]


@ASYNC
async def test_two_workers_at_once_send_one_sms_per_unit_per_day_via_app_yaml_gateway(env):
    ctx, gw = env["ctx"], env["gateway"]
    gw.requests.clear()
    gw.hold = 0.6  # (below the 1 s timeout) the first send keeps one worker busy while the other runs the same job
    day = dt.date(2026, 12, 1)
    done = await run_on_both(env, "unreceived_sms", day)
    assert [r["status"] for r in done] == ["succeeded", "succeeded"]
    assert sorted(r["created"] for r in done) in ([0, 2], [1, 1])
    assert gw.phones() == PHONES
    assert {r["auth"] for r in gw.requests} == {"Bearer worker-secret"}  # ${KP_TEST_SMS_TOKEN} from app.yaml
    assert all(r["body"]["content"].startswith("你有未接收的“扫码”预警待处理") for r in gw.requests)
    assert sorted(await outbox(ctx, day)) == [(p, "sent", 1, None) for p in PHONES]
    # Each worker took one of the two tasks (prefetch 1, late ack): the runs really overlapped.
    assert all(re.search(r"Task specadmin\.run_job\[[0-9a-f-]+\] received", w.log()) for w in env["workers"])
    # Once more for the same day: nothing new reaches the gateway.
    await run_on_both(env, "unreceived_sms", day)
    assert gw.phones() == PHONES


@ASYNC
async def test_two_workers_write_one_inapp_message_per_user_per_day(env):
    ctx = env["ctx"]
    day = dt.date(2026, 12, 1)
    for _ in range(2):
        await run_on_both(env, "unreceived_inapp", day)
    m = ctx.table("message")
    rows = await m.select(m.recipient, m.day).order_by(m.recipient)
    assert rows == [{"recipient": env["ids"]["user_unit1"], "day": day}, {"recipient": env["ids"]["user_unit2"], "day": day}]


@ASYNC
async def test_failing_unit_is_failed_with_attempts_and_a_later_run_sends_it_once(env):
    """The two simultaneous runs normally split the day's work; should one start only after the
    other gave up on the unit, it is a later run and may try the failed unit again (2 more
    attempts). Either way every attempt is one gateway request and is counted in the outbox."""
    ctx, gw = env["ctx"], env["gateway"]
    day = dt.date(2026, 12, 2)
    gw.requests.clear()
    gw.modes = {PHONES[1]: "500"}
    await run_on_both(env, "unreceived_sms", day)
    [ok, bad] = sorted(await outbox(ctx, day))
    assert ok == (PHONES[0], "sent", 1, None)
    assert bad[1:] in (("failed", 2, "短信网关返回 HTTP 500"), ("failed", 4, "短信网关返回 HTTP 500"))
    assert gw.phones() == [PHONES[0]] + [PHONES[1]] * bad[2]  # retries: 2 per run, from app.yaml

    gw.modes = {PHONES[1]: "timeout"}
    before = bad[2]
    await run_on_both(env, "unreceived_sms", day)
    [(_p, status, attempts, error)] = [row for row in await outbox(ctx, day) if row[0] == PHONES[1]]
    assert status == "failed" and attempts in (before + 2, before + 4) and "超时" in error

    gw.modes = {}
    gw.requests.clear()
    await run_on_both(env, "unreceived_sms", day)
    assert gw.phones() == [PHONES[1]]  # the failed unit exactly once; the unit already served never again
    assert sorted(await outbox(ctx, day)) == [(PHONES[0], "sent", 1, None), (PHONES[1], "sent", attempts + 1, None)]


def test_gateway_settings_come_from_app_yaml_with_env_secrets_and_env_overrides():
    from specadmin.runtime.notify.gateway import HttpGateway

    config = {"url": "https://sms.example/${KP_SMS_PATH}", "auth": "Bearer ${KP_SMS_TOKEN}", "timeout": 3,
              "retries": 4, "backoff": 0.5}
    gw = HttpGateway.from_config(config, {"KP_SMS_PATH": "send", "KP_SMS_TOKEN": "s3cret"})
    assert (gw.url, gw.auth, gw.timeout, gw.retries, gw.backoff) == ("https://sms.example/send", "Bearer s3cret",
                                                                      3.0, 4, 0.5)
    gw = HttpGateway.from_config(config, {"KP_SMS_TOKEN": "s3cret", "SPECADMIN_SMS_URL": "http://override/",
                                          "SPECADMIN_SMS_RETRIES": "1"})
    assert (gw.url, gw.auth, gw.retries) == ("http://override/", "Bearer s3cret", 1)
    assert HttpGateway.from_config({"url": "${KP_MISSING}"}, {}).url is None  # a missing secret reads as 未配置
