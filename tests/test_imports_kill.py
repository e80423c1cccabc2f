"""`specadmin import` as a subprocess: exit status and error report, and SIGKILL midway
leaves no partial batch and no rows (the batch row and the data commit together)."""
from __future__ import annotations

import csv
import datetime as dt
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from test_imports_support import ID_BAD, ID_OK, kaiping, with_check  # noqa: F401

pytestmark = pytest.mark.asyncio(loop_scope="session")
SPECADMIN = str(Path(sys.executable).with_name("specadmin"))


def big_csv(path: Path, rows: int) -> None:
    start = dt.datetime(2026, 10, 1)
    with open(path, "w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["公共场所ID", "公共场所", "被采集人身份证", "被采集人", "联系电话", "采集时间"])
        for i in range(rows):
            writer.writerow(["P1", "一号酒家", with_check(f"4407831990{i % 10**7:07d}"), "某人", f"139{i:08d}",
                             (start + dt.timedelta(seconds=i)).strftime("%Y-%m-%d %H:%M:%S")])


def command(env, *args) -> tuple[list[str], dict]:
    environ = dict(os.environ)
    environ.pop("DATABASE_URL", None)
    if env["url"]:
        environ["DATABASE_URL"] = env["url"]
    return [SPECADMIN, "import", str(env["dir"]), "scan_record", *args], environ


async def test_cli_exits_1_and_prints_the_error_report_when_rows_are_rejected(kaiping, tmp_path):
    path = tmp_path / "two.csv"
    path.write_text(f"公共场所ID,被采集人身份证,采集时间\nP1,{ID_OK},2026-12-01 08:00\nP1,{ID_BAD},2026-12-01 09:00\n",
                    encoding="gbk")
    before = await kaiping["ctx"].table("scan_record").count()
    args, environ = command(kaiping, str(path), "--user", "ops")
    done = subprocess.run(args, env=environ, capture_output=True, text=True, timeout=120)
    assert done.returncode == 1, done.stderr
    report = next(line.split("：", 1)[1] for line in done.stdout.splitlines() if line.startswith("错误报告"))
    assert Path(report).exists()
    assert await kaiping["ctx"].table("scan_record").count() == before
    skip = subprocess.run(args + ["--mode", "skip_bad_rows"], env=environ, capture_output=True, text=True, timeout=120)
    assert skip.returncode == 0 and "导入 1 行" in skip.stdout
    assert await kaiping["ctx"].table("scan_record").count() == before + 1


async def test_sigkill_midway_leaves_no_batch_and_no_rows(kaiping, tmp_path):
    path = tmp_path / "big.csv"
    big_csv(path, 150_000)
    ctx = kaiping["ctx"]
    before = await ctx.table("scan_record").count()
    batches = await ctx.table("import_batch").count()
    args, environ = command(kaiping, str(path), "--user", "ops", "--mode", "skip_bad_rows")
    proc = subprocess.Popen(args, env=environ, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    seen = bytearray()
    started = threading.Event()

    def watch() -> None:
        while chunk := os.read(proc.stderr.fileno(), 4096):
            seen.extend(chunk)
            if "已处理".encode() in seen:
                started.set()

    threading.Thread(target=watch, daemon=True).start()
    try:
        assert started.wait(120), seen.decode(errors="replace")
        time.sleep(0.3)  # well inside the file: rows are being written in the open transaction
        assert proc.poll() is None, "the import finished before it could be killed; use a bigger file"
        proc.send_signal(signal.SIGKILL)
        proc.wait(30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == -signal.SIGKILL
    assert await ctx.table("scan_record").count() == before
    assert await ctx.table("import_batch").count() == batches
