"""The fast import route on SQLite and PostgreSQL: worker processes give exactly the inline
result (rows, error report, duplicate keys across chunks and against stored rows), and the
import grant is checked before anything in the request is parsed."""
from __future__ import annotations

import os

import pytest
from specadmin.runtime.imports import engine, parallel
from test_imports import EXPECTED_ERRORS, error_rows, messy_workbook, upload
from test_imports_support import kaiping, login, scan_count  # noqa: F401

pytestmark = pytest.mark.asyncio(loop_scope="session")
_convert = parallel._convert


def _tagged(key, numbered):
    """parallel._convert, also naming the process that ran it (module level: workers unpickle it)."""
    chunk = _convert(key, numbered)
    chunk.pid = os.getpid()
    return chunk


@pytest.fixture
def forked(monkeypatch):
    """Two worker processes, two rows per chunk (so keys meet across chunks and workers);
    records which process converted each chunk."""
    monkeypatch.setenv("SPECADMIN_IMPORT_WORKERS", "2")
    monkeypatch.setenv("SPECADMIN_IMPORT_WORKERS_ALWAYS", "1")  # even for a tiny file
    monkeypatch.setattr(engine, "CHUNK", 2)
    apply = engine._Run.apply
    pids: list[int] = []

    async def recording(self, chunk):
        pids.append(getattr(chunk, "pid", os.getpid()))
        return await apply(self, chunk)

    monkeypatch.setattr(parallel, "_convert", _tagged)
    monkeypatch.setattr(engine._Run, "apply", recording)
    return pids


async def test_worker_processes_report_the_same_errors_and_write_the_same_rows(kaiping, forked):
    ops = await login(kaiping, "ops")
    before = await scan_count(kaiping)
    result = await upload(ops, messy_workbook(), "messy.xlsx", mode="skip_bad_rows")
    assert (result["status"], result["total"], result["ok"], result["bad"]) == ("done", 7, 3, 4)
    found = await error_rows(ops, result)
    assert {(r, c) for r, c, _ in found} == {(r, c) for r, c, _ in EXPECTED_ERRORS}
    assert {e for e in EXPECTED_ERRORS if e[2]} <= found  # same reasons (row 8's is any date message)
    assert await scan_count(kaiping) == before + 3
    assert forked and os.getpid() not in forked and len(forked) >= 4  # every chunk came from a worker


async def test_worker_processes_find_keys_already_stored_and_all_or_nothing_writes_nothing(kaiping, forked):
    ops = await login(kaiping, "ops")
    first = await upload(ops, messy_workbook(), "messy-again.xlsx", mode="skip_bad_rows", force="true")
    before = await scan_count(kaiping)
    again = await upload(ops, messy_workbook(), "messy-again.xlsx", force="true")
    assert (again["status"], again["ok"], again["bad"]) == ("failed", 0, 7)
    stored = {(3, "被采集人身份证", "与已有数据重复"), (4, "被采集人身份证", "与已有数据重复"),
              (10, "被采集人身份证", "与已有数据重复")}
    found = await error_rows(ops, again)
    assert stored <= found and {(r, c) for r, c, _ in found} == {(r, c) for r, c, _ in EXPECTED_ERRORS | stored}
    assert await scan_count(kaiping) == before
    assert first["status"] == "done" and os.getpid() not in forked


async def test_user_without_the_import_grant_gets_403_whatever_the_upload(kaiping):
    unit1 = await login(kaiping, "unit1")  # supervisors hold no import grant at all
    ops = await login(kaiping, "ops")
    url, screen = "/api/scan_record/import", {"screen": "scan_admin"}
    malformed = [
        {"params": screen},  # no file at all
        {"params": screen, "files": {"file": ("notes.txt", b"hello")}},  # wrong type
        {"params": {**screen, "force": "perhaps"}},  # a parameter that does not parse
        {"params": screen, "content": b"--x\r\nbroken", "headers": {"content-type": "multipart/form-data; boundary=x"}},
    ]
    for request in malformed:
        denied = await unit1.post(url, **request)
        assert denied.status_code == 403, (request, denied.text)
        refused = await ops.post(url, **request)  # the same request from an importer is a 4xx about the upload
        assert refused.status_code in (400, 422), (request, refused.text)
