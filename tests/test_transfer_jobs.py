"""Job state in the database (issue 10 items 16 and 13), on SQLite and PostgreSQL.

Two processes serve one Xicheng database: a `specadmin serve` subprocess and the app inside the
test. An import, an export and a bulk-query upload started on one are polled and downloaded on
the other (the job state used to live in one process's memory: the other answered 404), and only
by their owner. Uploads are deleted when their job ends; a server killed in the middle of an
import leaves its upload (0600) and a job marked running, and the next start deletes the upload,
reports the job as interrupted and no row of the file exists.
"""
from __future__ import annotations

import asyncio
import contextlib
import csv
import datetime as dt
import io
import os
import random
import signal
import stat
import subprocess
import sys
import time

import httpx
import pytest
from browser_support import free_port
from conftest import BACKENDS, ROOT, api_login, copy_app, start_app
from xicheng_data import DEMO, PASSWORD, load_core

pytestmark = pytest.mark.asyncio(loop_scope="session")


@contextlib.contextmanager
def server(app_dir, url):
    """`specadmin serve` (one worker) over the same app directory and database."""
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"} | {"SPECADMIN_RUN_JOBS": "0"}
    if url:
        env["DATABASE_URL"] = url
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "specadmin.cli", "serve", str(app_dir), "--port", str(port),
                             "--workers", "1"], cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{base}/login", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"server did not start: {proc.stderr.read().decode(errors='replace')[-2000:]}")
            time.sleep(0.3)
        yield proc, base
    finally:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()


@pytest.fixture(scope="module", params=BACKENDS)
async def pair(request, tmp_path_factory):
    app_dir = copy_app("xicheng", tmp_path_factory.mktemp(f"jobs-{request.param}"))
    app, url = await start_app(app_dir, request.param)
    try:
        orgs = await load_core(app.state.ctx)
        with server(app_dir, url) as (proc, base):
            yield {"app": app, "ctx": app.state.ctx, "dir": app_dir, "url": url, "orgs": orgs, "proc": proc,
                   "base": base}
    finally:
        for hook in app.on_shutdown:
            await hook(app)


async def remote(env, username: str) -> httpx.AsyncClient:
    """A client of the server process, logged in."""
    client = httpx.AsyncClient(base_url=env["base"], timeout=120)
    r = await client.post("/api/auth/login", json={"username": username, "password": PASSWORD})
    assert r.status_code == 200, r.text
    assert (await client.get("/api/auth/me")).status_code == 200
    client.headers["x-csrftoken"] = client.cookies["csrftoken"]
    return client


async def local(env, username: str) -> httpx.AsyncClient:
    """A client of the app inside the test process, logged in."""
    return await api_login(env["app"], username, PASSWORD)


def tickets(rows: list[tuple[str, str, int, str]]) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["工单编号", "接诉时间", "所属街道", "诉求内容"])
    writer.writerows(rows)
    return buffer.getvalue().encode("utf-8")


def uploads_left(env) -> list:
    folder = env["dir"] / "var" / "imports" / "uploads"
    return sorted(folder.iterdir()) if folder.exists() else []


async def test_an_import_started_on_one_worker_is_polled_and_its_errors_downloaded_on_another(pair):
    street = pair["orgs"]["XC-S01"]
    data = tickets([("JOB-1", "2026-11-02 10:00", street, "核酸点在哪"), ("JOB-2", "不是时间", street, "坏行")])
    district = await remote(pair, "district")
    r = await district.post("/api/hotline_ticket/import", params={"screen": "hotline_ticket_query",
                                                                   "mode": "skip_bad_rows"},
                            files={"file": ("工单.csv", data)})
    assert r.status_code == 200, r.text
    started = r.json()
    assert (started["status"], started["ok"], started["bad"]) == ("done", 1, 1), started
    here = await local(pair, "district")
    r = await here.get(f"/api/imports/{started['job']}")
    assert r.status_code == 200, r.text
    assert r.json() == started
    report = await here.get(started["error_file"])
    assert report.status_code == 200 and report.content[:2] == b"PK"
    street1 = await local(pair, "street1")
    assert (await street1.get(f"/api/imports/{started['job']}")).status_code == 403
    assert (await street1.get(started["error_file"])).status_code == 403
    assert (await here.get("/api/imports/0123456789abcdef0123456789abcdef")).status_code == 404
    assert uploads_left(pair) == []  # the upload went with its job


async def test_an_export_started_on_one_worker_is_polled_and_downloaded_on_another(pair):
    here = await local(pair, "district")
    r = await here.get("/api/testing_site/export.csv", params={"screen": "site_info", "background": "1"})
    assert r.status_code == 200, r.text
    job = r.json()
    district = await remote(pair, "district")
    for _ in range(600):
        r = await district.get(f"/api/exports/{job['job']}")
        assert r.status_code == 200, r.text
        if r.json()["status"] != "running":
            break
        await asyncio.sleep(0.05)
    assert r.json()["status"] == "done" and r.json()["rows"] == 60, r.json()
    file = await district.get(job["download"])
    assert file.status_code == 200 and len(file.content.decode("utf-8-sig").strip().splitlines()) == 61
    street2 = await remote(pair, "street2")
    assert (await street2.get(job["download"])).status_code == 403


async def test_a_bulk_query_upload_report_made_on_one_worker_is_downloaded_on_another(pair):
    rng = random.Random(16)
    good = DEMO.id_number(rng, "110199")
    bad = good[:-1] + ("0" if good[-1] != "0" else "1")
    street1 = await remote(pair, "street1")
    r = await street1.post("/api/bulk_query/batch_admin/upload", params={"screen": "batch_admin"},
                           files={"file": ("名单.csv", f"身份证号码,姓名\n{good},甲\n{bad},乙\n".encode(), "text/csv")})
    assert r.status_code == 200, r.text
    body = r.json()
    assert (body["status"], body["bad"]) == ("failed", 1) and body["error_file"], body
    here = await local(pair, "street1")
    report = await here.get(body["error_file"])
    assert report.status_code == 200 and report.content[:2] == b"PK"
    other = await local(pair, "street2")
    assert (await other.get(body["error_file"])).status_code == 403
    assert uploads_left(pair) == []


def many_tickets(n: int, street: int) -> bytes:
    start = dt.datetime(2026, 11, 1)
    return tickets([(f"KILL-{i:07d}", (start + dt.timedelta(seconds=i)).strftime("%Y-%m-%d %H:%M:%S"), street,
                     "小区封控期间核酸采样点位置咨询" * 2) for i in range(n)])


async def test_a_killed_import_leaves_nothing_and_its_upload_is_deleted_at_the_next_start(pair):
    from specadmin.runtime.app.factory import create_app

    ctx, ticket = pair["ctx"], pair["ctx"].table("hotline_ticket")
    before = await ticket.count()
    district = await remote(pair, "district")
    r = await district.post("/api/hotline_ticket/import", params={"screen": "hotline_ticket_query"},
                            files={"file": ("大文件.csv", many_tickets(120_000, pair["orgs"]["XC-S02"]))})
    assert r.status_code == 200, r.text
    job = r.json()
    assert job["status"] == "running"
    here = await local(pair, "district")
    for _ in range(6000):  # its progress is seen from the other process
        seen = (await here.get(f"/api/imports/{job['job']}")).json()
        if seen["total"] > 0 or seen["status"] != "running":
            break
        await asyncio.sleep(0.05)
    assert seen["status"] == "running" and seen["total"] > 0, seen
    pair["proc"].send_signal(signal.SIGKILL)
    pair["proc"].wait(30)
    left = uploads_left(pair)
    assert len(left) == 1 and stat.S_IMODE(left[0].stat().st_mode) == 0o600
    assert await ticket.count() == before
    restarted = create_app(pair["dir"], pair["url"])
    for hook in restarted.on_startup:
        await hook(restarted)
    try:
        assert uploads_left(pair) == []
        client = await api_login(restarted, "district", PASSWORD)
        after = (await client.get(f"/api/imports/{job['job']}")).json()
        assert after["status"] == "error" and "中断" in after["message"], after
        assert await ctx.table("hotline_ticket").count() == before
    finally:
        for hook in restarted.on_shutdown:
            await hook(restarted)
