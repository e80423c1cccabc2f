"""Files under an app's var/ (issue 10 item 13): private, masked, and not kept forever.

A Kaiping copy whose var/ was left world-readable by an older version (0755 folders, 0644 files,
reports and exports of various ages) is started with `files: {retention_days: 3}`: every folder
under var/ is 0700 and every file 0600 (the SQLite database and its -wal/-shm included), reports
and exports older than 3 days are gone, younger ones kept. An import with bad rows then writes an
error workbook that is private and shows ID numbers only masked; a background export is private too.
"""
from __future__ import annotations

import io
import os
import stat
import time
import zipfile
from pathlib import Path

import httpx
import pytest
from conftest import BACKENDS, copy_app, start_app
from kaiping_fixture import PASSWORD, build
from openpyxl import load_workbook
from test_imports_support import ID_BAD, ID_OK

from specadmin.runtime.crypto import mask

pytestmark = pytest.mark.asyncio(loop_scope="session")

DAY = 86400
PHONE = "13912345678"


def aged(path: Path, days: float, mode: int = 0o644) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"PK old report")
    path.chmod(mode)
    when = time.time() - days * DAY
    os.utime(path, (when, when))
    return path


def modes(var: Path) -> dict[str, str]:
    """Every folder and file under var/ (var itself included) that is not 0700 / 0600: path -> mode."""
    wrong = {}
    for folder, dirs, files in os.walk(var):
        for name in [folder, *[os.path.join(folder, d) for d in dirs]]:
            mode = stat.S_IMODE(os.stat(name).st_mode)
            if mode != 0o700:
                wrong[os.path.relpath(name, var.parent)] = oct(mode)
        for name in files:
            mode = stat.S_IMODE(os.stat(os.path.join(folder, name)).st_mode)
            if mode != 0o600:
                wrong[os.path.relpath(os.path.join(folder, name), var.parent)] = oct(mode)
    return wrong


@pytest.fixture(scope="module", params=BACKENDS)
async def env(request, tmp_path_factory):
    from specadmin.generator.writer import generate

    app_dir = copy_app("kaiping", tmp_path_factory.mktemp(f"at-rest-{request.param}"))
    with open(app_dir / "app.yaml", "a", encoding="utf-8") as fh:
        fh.write("files: {retention_days: 3}\n")
    generate(app_dir)
    var = app_dir / "var"
    var.mkdir(mode=0o755)
    var.chmod(0o755)
    left = {"old_report": aged(var / "imports" / "old-errors.xlsx", 10),
            "week_export": aged(var / "exports" / "week.xlsx", 5),
            "young_report": aged(var / "imports" / "young-errors.xlsx", 1),
            "young_export": aged(var / "exports" / "young.csv", 0.1),
            "stray": aged(var / "notes" / "stray.txt", 0)}
    for folder in ("imports", "exports", "notes"):
        (var / folder).chmod(0o755)
    app, url = await start_app(app_dir, request.param)
    try:
        ids = await build(app.state.ctx)
        yield {"app": app, "ctx": app.state.ctx, "dir": app_dir, "var": var, "left": left, "ids": ids,
               "backend": request.param}
    finally:
        for hook in app.on_shutdown:
            await hook(app)


async def login(env, username: str) -> httpx.AsyncClient:
    client = httpx.AsyncClient(transport=httpx.ASGITransport(app=env["app"]), base_url="http://testserver")
    r = await client.post("/api/auth/login", json={"username": username, "password": PASSWORD})
    assert r.status_code == 200, r.text
    assert (await client.get("/api/auth/me")).status_code == 200
    client.headers["x-csrftoken"] = client.cookies["csrftoken"]
    return client


async def test_start_up_makes_every_folder_0700_and_every_file_0600_the_database_included(env):
    var = env["var"]
    assert modes(var) == {}
    if env["backend"] == "sqlite":
        written = {p.name for p in var.iterdir()}
        assert {"app.sqlite3", "app.sqlite3-wal", "app.sqlite3-shm"} <= written  # WAL files exist: and are 0600
    assert stat.S_IMODE((var / "keys" / "session.key").stat().st_mode) == 0o600


async def test_reports_and_exports_older_than_the_retention_are_deleted_at_start_up(env):
    left = env["left"]
    assert not left["old_report"].exists() and not left["week_export"].exists()  # 10 and 5 days > 3
    assert left["young_report"].exists() and left["young_export"].exists() and left["stray"].exists()


async def test_the_daily_purge_removes_what_has_aged_since(env):
    from specadmin.runtime.imports.retention import purge, retention_days

    assert retention_days(env["ctx"].app) == 3
    young = env["left"]["young_report"]
    assert purge(env["dir"], 3, now=time.time() + 2.5 * DAY) == [young]  # a day-old report, 2.5 days later
    assert not young.exists() and env["left"]["young_export"].exists()


def bad_scans() -> bytes:
    header = "公共场所ID,公共场所,被采集人身份证,被采集人,联系电话,健康码状态,采集时间\n"
    good = f"P1,一号酒家,{ID_OK},张三,{PHONE},绿码,2026-11-01 08:00\n"
    bad = f"P1,一号酒家,{ID_BAD},李四,{PHONE},绿码,2026-11-01 09:00\n"
    return (header + good + bad + good).encode("utf-8")  # row 3: bad checksum; row 4: duplicate of row 2


async def test_error_workbook_is_private_and_shows_id_numbers_masked(env):
    ops = await login(env, "ops")
    r = await ops.post("/api/scan_record/import", params={"screen": "scan_admin"},
                       files={"file": ("scans.csv", bad_scans())})
    assert r.status_code == 200, r.text
    result = r.json()
    assert result["status"] == "failed" and result["bad"] == 2, result
    on_disk = env["var"] / "imports" / f"{result['job']}-errors.xlsx"
    assert stat.S_IMODE(on_disk.stat().st_mode) == 0o600
    assert stat.S_IMODE(on_disk.parent.stat().st_mode) == 0o700
    download = (await ops.get(result["error_file"])).content
    header, *rows = list(load_workbook(io.BytesIO(download)).active.iter_rows(values_only=True))
    id_at, phone_at = header.index("被采集人身份证"), header.index("联系电话")
    # The rows as uploaded, their sensitive cells masked: ops holds no unmask on scan_admin.
    assert {(row[0], row[id_at], row[phone_at]) for row in rows} == {
        (3, mask(ID_BAD, "id_number"), mask(PHONE, "phone")), (4, mask(ID_OK, "id_number"), mask(PHONE, "phone"))}
    with zipfile.ZipFile(io.BytesIO(download)) as z:
        everything = b"".join(z.read(name) for name in z.namelist())
    assert ID_BAD.encode() not in everything and ID_OK.encode() not in everything
    assert modes(env["var"]) == {}  # the upload is gone, its folder private


async def test_background_export_is_written_private(env):
    import asyncio

    from specadmin.runtime.data import transfer_jobs

    unit1 = await login(env, "unit1")
    job = (await unit1.get("/api/scan_record/export.xlsx", params={"screen": "scan_query", "background": "1"})).json()
    await asyncio.gather(*list(transfer_jobs._TASKS))  # the export runs as a task of this loop
    row = await transfer_jobs.load(env["ctx"], job["job"])
    written = Path(row["result_file"])
    assert row["status"] == "done" and written.parent == env["var"] / "exports" and written.exists()
    assert modes(env["var"]) == {}
