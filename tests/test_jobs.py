"""Jobs on SQLite and PostgreSQL: the CLI runs and records history, backfill, the embedded
scheduler runs each scheduled minute once, a failed run keeps its error and 重新运行 retries it,
and a real `specadmin worker` (Celery on the real redis-server) runs a job and records it.
"""
from __future__ import annotations

import asyncio
import datetime as dt
import os
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import httpx
import pytest
from conftest import start_app, BACKENDS, copy_app
from kaiping_fixture import PASSWORD, build
from plugin_support import add_to_app_yaml, install_plugin
from specadmin.runtime.plugin import Plugin

pytestmark = pytest.mark.asyncio(loop_scope="session")
SPECADMIN = str(Path(sys.executable).parent / "specadmin")
FLAKY = {"fail": True}
PLUGIN_DIR = Path(tempfile.gettempdir()) / "specadmin-plugin-testjobs"  # its entry point, outside the repository

FLAKY_JOB = """
  flaky_export:
    label: 测试任务
    schedule: "0 3 * * *"
    function: testjobs.flaky
"""


async def flaky_job(call):
    """A plugin job that fails until the test lets it succeed."""
    if FLAKY["fail"]:
        raise RuntimeError("网关不可用")
    return {"created": 0, "days": (call.last - call.first).days + 1}


TEST_PLUGIN = Plugin(name="testjobs", handlers={"flaky": flaky_job})


@pytest.fixture(scope="module", params=BACKENDS)
async def env(request, tmp_path_factory):
    from specadmin.generator.writer import generate

    app_dir = copy_app("kaiping", tmp_path_factory.mktemp(f"jobs-{request.param}"))
    install_plugin(PLUGIN_DIR, "testjobs", "test_jobs:TEST_PLUGIN")
    add_to_app_yaml(app_dir, "testjobs")
    alerts = app_dir / "modules" / "alerts.yaml"
    alerts.write_text(alerts.read_text(encoding="utf-8").replace("\njobs:\n", "\njobs:" + FLAKY_JOB, 1), encoding="utf-8")
    generate(app_dir)
    app, url = await start_app(app_dir, request.param)
    ctx = app.state.ctx
    ids = await build(ctx)
    from specadmin.runtime.identity.users import ensure_user

    await ensure_user(ctx, "root", PASSWORD, name="管理员", org_code="OPS", superuser=True)
    yield {"app": app, "ctx": ctx, "ids": ids, "dir": app_dir, "url": url}
    for hook in app.on_shutdown:
        await hook(app)


def cli_env(env) -> dict:
    out = dict(os.environ)
    out.pop("DATABASE_URL", None)
    if env["url"]:
        out["DATABASE_URL"] = env["url"]
    # the flaky plugin job lives in this file; its entry point in PLUGIN_DIR
    out["PYTHONPATH"] = os.pathsep.join([str(Path(__file__).parent), str(PLUGIN_DIR)])
    return out


async def runs(ctx, job: str) -> list[dict]:
    t = ctx.table("job_run")
    return await t.select().where(t.job == job).order_by(t.id)


async def alerts_of(ctx) -> list[tuple]:
    a = ctx.table("scan_alert")
    rows = await a.select(a.place.place_code, a.period_label, a.reason).order_by(a.period_end, a.place)
    return [(r["place.place_code"], r["period_label"], r["reason"]) for r in rows]


async def test_cli_run_raises_alerts_records_history_and_rerun_adds_nothing(env):
    ctx = env["ctx"]
    for attempt in (1, 2):
        proc = await asyncio.to_thread(subprocess.run, [SPECADMIN, "jobs", str(env["dir"]), "--run", "scan_anomaly",
                                                        "--date", "2026-11-07"],
                                       env=cli_env(env), capture_output=True, text=True, timeout=120)
        assert proc.returncode == 0, proc.stderr
        assert f"created={2 if attempt == 1 else 0}" in proc.stdout
    history = await runs(ctx, "scan_anomaly")
    assert [(r["status"], r["created"], r["trigger"], r["run_date"]) for r in history] == [
        ("succeeded", 2, "cli", dt.date(2026, 11, 7)), ("succeeded", 0, "cli", dt.date(2026, 11, 7))]
    assert all(r["finished_at"] >= r["started_at"] for r in history)
    assert ("P1", "2026-11-01至2026-11-07", "below") in await alerts_of(ctx)


async def test_cli_backfill_range_raises_next_non_overlapping_window_only(env):
    ctx = env["ctx"]
    proc = await asyncio.to_thread(subprocess.run, [SPECADMIN, "jobs", str(env["dir"]), "--run", "scan_anomaly",
                                                    "--from", "2026-11-07", "--to", "2026-11-20"],
                                   env=cli_env(env), capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    recent = [a for a in await alerts_of(ctx) if a[1] >= "2026-11"]
    assert recent == [("P1", "2026-11-01至2026-11-07", "below"), ("P2", "2026-11-01至2026-11-07", "below"),
                      ("P1", "2026-11-08至2026-11-14", "below"), ("P2", "2026-11-08至2026-11-14", "below")]
    last = (await runs(ctx, "scan_anomaly"))[-1]
    assert (last["run_date"], last["date_to"], last["created"]) == (dt.date(2026, 11, 7), dt.date(2026, 11, 20), 2)


async def test_embedded_scheduler_runs_each_due_minute_once_and_only_lock_holder_schedules(env):
    from specadmin.runtime.jobs.embedded import EmbeddedScheduler

    ctx = env["ctx"]
    first, second = EmbeddedScheduler(ctx), EmbeddedScheduler(ctx)
    try:
        assert first.try_lock() and not second.try_lock()
        minute = dt.datetime(2031, 5, 4, 1, 0)
        assert await first.tick(minute) == ["missing_places"]
        await second.tick(minute)  # another process firing the same minute finds the slot taken
        assert await first.tick(minute + dt.timedelta(minutes=1)) == []
        assert await first.tick(minute.replace(minute=30)) == ["scan_anomaly"]
        history = await runs(ctx, "missing_places")
        assert [(r["slot"], r["trigger"], r["status"]) for r in history] == [
            ("missing_places@2031-05-04T01:00", "schedule", "succeeded")]
        assert history[0]["created"] == 1  # P9 is scanned but has no place row
        p = ctx.table("place")
        assert await p.select(p.name, p.supervisor).where(p.place_code == "P9") == [{"name": "P9名称", "supervisor": None}]
    finally:
        await first.stop()
        await second.stop()
    assert second.try_lock()  # the lock is released when the holder stops
    await second.stop()


async def test_failed_run_keeps_error_and_retry_action_runs_it_again(env):
    from specadmin.runtime.jobs.runner import run_job

    ctx = env["ctx"]
    FLAKY["fail"] = True
    failed = await run_job(ctx, "flaky_export", date_from=dt.date(2026, 1, 1), date_to=dt.date(2026, 1, 3))
    assert failed["status"] == "failed" and "网关不可用" in failed["error"] and failed["finished_at"]
    client = httpx.AsyncClient(transport=httpx.ASGITransport(app=env["app"]), base_url="http://testserver")
    assert (await client.post("/api/auth/login", json={"username": "root", "password": PASSWORD})).status_code == 200
    await client.get("/api/auth/me")
    client.headers["x-csrftoken"] = client.cookies["csrftoken"]
    page = (await client.get("/api/job_run", params={"screen": "job_run_admin", "status": "failed"})).json()
    assert failed["id"] in [i["id"] for i in page["items"]]
    FLAKY["fail"] = False
    r = await client.post("/api/job_run/actions/retry", params={"screen": "job_run_admin"}, json={"ids": [failed["id"]]})
    assert r.status_code == 200, r.text
    new_id = r.json()["results"][str(failed["id"])]["run"] if "results" in r.json() else None
    history = await runs(ctx, "flaky_export")
    assert [(h["status"], h["trigger"], h["run_date"], h["date_to"]) for h in history] == [
        ("failed", "cli", dt.date(2026, 1, 1), dt.date(2026, 1, 3)),
        ("succeeded", "retry", dt.date(2026, 1, 1), dt.date(2026, 1, 3))]
    assert new_id == history[1]["id"]
    unit = httpx.AsyncClient(transport=httpx.ASGITransport(app=env["app"]), base_url="http://testserver")
    await unit.post("/api/auth/login", json={"username": "unit1", "password": PASSWORD})
    assert (await unit.get("/api/job_run", params={"screen": "job_run_admin"})).status_code == 403


async def test_celery_worker_runs_job_from_redis_and_records_it(env):
    from specadmin.runtime.jobs.celery_app import TASK, make_celery

    ctx = env["ctx"]
    broker = os.environ.get("SPECADMIN_TEST_REDIS_URL")
    assert broker, "SPECADMIN_TEST_REDIS_URL is not set"
    queue = f"specadmin.test.{uuid.uuid4().hex[:8]}"
    child_env = cli_env(env) | {"REDIS_URL": broker, "SPECADMIN_CELERY_QUEUE": queue}
    os.environ["SPECADMIN_CELERY_QUEUE"] = queue
    try:
        celery = make_celery(env["dir"], broker)
    finally:
        os.environ.pop("SPECADMIN_CELERY_QUEUE")
    beat = celery.conf.beat_schedule["job:scan_anomaly"]["schedule"]
    assert (beat.hour, beat.minute) == ({1}, {30})
    worker = subprocess.Popen([SPECADMIN, "worker", str(env["dir"]), "--no-beat"], env=child_env,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        celery.send_task(TASK, args=["missing_places", "2026-11-07"], queue=queue)
        deadline = time.monotonic() + 90
        done = []
        while time.monotonic() < deadline and not done:
            await asyncio.sleep(0.5)
            # the run is recorded as running first, then finished: wait for the outcome
            done = [r for r in await runs(ctx, "missing_places") if r["trigger"] == "celery" and r["status"] != "running"]
            assert worker.poll() is None, worker.stdout.read()
        assert done and done[0]["status"] == "succeeded" and done[0]["date_to"] == dt.date(2026, 11, 7)
    finally:
        worker.terminate()
        try:
            worker.wait(timeout=20)
        except subprocess.TimeoutExpired:
            worker.kill()


async def test_embedded_scheduler_starts_only_when_asked(env):
    from specadmin.runtime.app.factory import create_app

    assert env["app"].state.scheduler.task is None  # tests and plain create_app: off
    app = create_app(env["dir"], env["url"], run_jobs=True, with_admin=False)
    for hook in app.on_startup:
        await hook(app)
    try:
        task = app.state.scheduler.task
        assert task is not None and not task.done()
    finally:
        for hook in app.on_shutdown:
            await hook(app)
    assert task.cancelled() and app.state.scheduler.task is None
