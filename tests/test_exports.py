"""Export to .xlsx and .csv: the user's data scope, filters and masking apply; large exports
run as background jobs with a download link (issue 4 item 5)."""
from __future__ import annotations

import asyncio
import io

import pytest
from openpyxl import load_workbook
from test_imports_support import kaiping, login  # noqa: F401

pytestmark = pytest.mark.asyncio(loop_scope="session")
FULL_ID = "440783199001011234"  # the fixture's scans carry this ID number


def sheet_rows(content: bytes) -> list[tuple]:
    return list(load_workbook(io.BytesIO(content), read_only=True).worksheets[0].iter_rows(values_only=True))


async def test_supervising_unit_export_holds_only_its_rows_masked(kaiping):
    unit1 = await login(kaiping, "unit1")
    r = await unit1.get("/api/scan_record/export.xlsx", params={"screen": "scan_query"})
    assert r.status_code == 200
    rows = sheet_rows(r.content)
    header, body = rows[0], rows[1:]
    assert header[0] == "公共场所ID" and "被采集人身份证" in header
    assert {row[0] for row in body} == {"P1"} and len(body) == 3
    ids = {row[header.index("被采集人身份证")] for row in body}
    assert FULL_ID not in ids and all("*" in i for i in ids)
    phones = {row[header.index("联系电话")] for row in body}
    assert "13812345678" not in phones


async def test_export_honours_filters_and_csv_matches(kaiping):
    ops, unit1 = await login(kaiping, "ops"), await login(kaiping, "unit1")
    ops_rows = sheet_rows((await ops.get("/api/scan_record/export.xlsx",
                                          params={"screen": "scan_query", "place_code": "P2"})).content)[1:]
    assert len(ops_rows) == 4 and {r[0] for r in ops_rows} == {"P2"}
    assert sheet_rows((await unit1.get("/api/scan_record/export.xlsx",
                                       params={"screen": "scan_query", "place_code": "P2"})).content)[1:] == []
    csv_text = (await unit1.get("/api/scan_record/export.csv", params={"screen": "scan_query"})).content.decode("utf-8-sig")
    lines = csv_text.strip().splitlines()
    assert lines[0].startswith("公共场所ID,") and len(lines) == 4 and FULL_ID not in csv_text


async def test_background_export_reports_progress_and_a_download_link(kaiping):
    unit1, unit2 = await login(kaiping, "unit1"), await login(kaiping, "unit2")
    job = (await unit1.get("/api/scan_record/export.xlsx", params={"screen": "scan_query", "background": "1"})).json()
    assert job["status"] == "running" and job["download"].endswith("/file")
    for _ in range(100):
        status = (await unit1.get(f"/api/exports/{job['job']}")).json()
        if status["status"] != "running":
            break
        await asyncio.sleep(0.05)
    assert status["status"] == "done" and status["rows"] == 3
    assert (await unit2.get(job["download"])).status_code == 403  # someone else's export
    rows = sheet_rows((await unit1.get(job["download"])).content)
    assert len(rows) == 4


async def test_export_without_export_grant_is_refused(kaiping):
    nobody = await login(kaiping, "nobody")
    assert (await nobody.get("/api/scan_record/export.xlsx", params={"screen": "scan_query"})).status_code == 403


async def test_cli_export_applies_the_users_scope_and_masking(kaiping, tmp_path):
    import os
    import subprocess
    import sys
    from pathlib import Path

    out = tmp_path / "unit1.xlsx"
    env = dict(os.environ)
    env.pop("DATABASE_URL", None)
    if kaiping["url"]:
        env["DATABASE_URL"] = kaiping["url"]
    done = subprocess.run([str(Path(sys.executable).with_name("specadmin")), "export", str(kaiping["dir"]),
                           "scan_record", str(out), "--screen", "scan_query", "--user", "unit1"],
                          env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    rows = sheet_rows(out.read_bytes())
    assert {r[0] for r in rows[1:]} == {"P1"} and FULL_ID not in str(rows)
