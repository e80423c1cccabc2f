"""A newcomer's first app, as the README gives it, in real subprocesses on SQLite: new → check →
migrate → createuser --superuser → serve, then log in over HTTP and open a page; `migrate` says
when the specs changed since generate; `demo` on an unmigrated app migrates first and, with
--sms-sink, sends the day's SMS through the loop-back gateway (sent, numbers masked on disk)."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from conftest import ROOT, copy_app

PASSWORD = "Newcomer@2026"
ENV = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "SPECADMIN_SMS_URL")}


def specadmin(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "specadmin.cli", *args], cwd=ROOT, env=ENV, input=stdin,
                          capture_output=True, text=True, timeout=300)


def ok(*args: str, stdin: str | None = None) -> str:
    done = specadmin(*args, stdin=stdin)
    assert done.returncode == 0, f"specadmin {' '.join(args)}:\n{done.stdout}\n{done.stderr}"
    assert "Traceback" not in done.stderr
    return done.stdout


def test_new_check_migrate_createuser_serve_and_log_in(tmp_path):
    from browser_support import free_port

    app = str(tmp_path / "first-app")
    printed = ok("new", app)
    for step in ("check", "migrate", "createuser", "serve"):
        assert f"specadmin {step} {app}" in printed  # the next commands, as printed
    assert "OK" in ok("check", app)
    main = Path(app) / "modules" / "main.yaml"
    main.write_text(main.read_text(encoding="utf-8").replace(
        "      name: {type: string, label: 名称, required: true}\n",
        "      name: {type: string, label: 名称, required: true}\n      note: {type: string, label: 备注}\n"),
        encoding="utf-8")
    stale = specadmin("migrate", app)
    assert stale.returncode == 1 and f"specadmin generate {app}" in stale.stderr and "Traceback" not in stale.stderr
    ok("generate", app)
    assert "applied" in ok("migrate", app)
    ok("createuser", app, "admin", "--superuser", "--password-stdin", stdin=PASSWORD + "\n")
    port = free_port()
    server = subprocess.Popen([sys.executable, "-m", "specadmin.cli", "serve", app, "--port", str(port), "--workers", "1"],
                              cwd=ROOT, env=ENV, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        with httpx.Client(base_url=base, timeout=5) as client:
            deadline = time.monotonic() + 30
            while True:
                try:
                    if client.get("/login").status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                if time.monotonic() > deadline or server.poll() is not None:
                    server.kill()
                    pytest.fail(f"serve did not start: {server.stdout.read().decode(errors='replace')[-2000:]}")
                time.sleep(0.3)
            r = client.post("/api/auth/login", json={"username": "admin", "password": PASSWORD})
            assert r.status_code == 200, r.text
            page = client.get("/s/item_admin")
            assert page.status_code == 200 and "事项管理" in page.text and "备注" in page.text
    finally:
        server.terminate()
        server.wait(timeout=10)


DEMO = """async def load(ctx, size):
    import importlib.util
    spec = importlib.util.spec_from_file_location("kaiping_fixture_demo", {fixture!r})
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    await module.build(ctx)
    return "loaded"
"""


def test_demo_on_an_unmigrated_app_migrates_and_sends_sms_through_the_loop_back_gateway(tmp_path):
    """Kaiping with its small test data as demo.py: two units with unreceived alerts get today's SMS."""
    app = copy_app("kaiping", tmp_path / "kaiping")
    (app / "demo.py").write_text(DEMO.format(fixture=str(ROOT / "tests" / "kaiping_fixture.py")), encoding="utf-8")
    out = ok("demo", str(app), "--sms-sink")
    assert "migration(s) first" in out and "loaded" in out
    assert "today: 2 sent, 0 failed" in out
    lines = [json.loads(line) for line in (app / "var" / "sms_sink.jsonl").read_text(encoding="utf-8").splitlines()]
    assert sorted(line["body"]["phone"] for line in lines) == ["139****0001", "139****0002"]
    assert all("未接收" in line["body"]["text"] for line in lines)
    assert oct((app / "var" / "sms_sink.jsonl").stat().st_mode & 0o777) == "0o600"


def test_demo_script_refuses_a_bad_port_before_setting_anything_up():
    done = subprocess.run(["bash", "scripts/demo.sh", "--port", "80x"], cwd=ROOT, capture_output=True, text=True, timeout=30)
    assert done.returncode == 1 and "--port must be a number" in done.stderr
