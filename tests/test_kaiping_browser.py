"""Kaiping in headless Chromium, clicking as a person would, against a real server process."""
from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from conftest import ROOT, copy_app
from kaiping_fixture import PASSWORD, build

pytestmark = pytest.mark.browser
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def _prepare(app_dir: Path) -> None:
    from specadmin.cli import _migrate
    from specadmin.runtime import db
    from specadmin.runtime.context import AppContext

    await _migrate(app_dir, False)
    ctx = AppContext.open(app_dir, database_url="")
    await db.start(ctx.engine)
    try:
        await ctx.refresh_caches()
        await build(ctx)
    finally:
        await db.stop(ctx.engine)


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    app_dir = copy_app("kaiping", tmp_path_factory.mktemp("kaiping-browser"))
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    os.environ.pop("DATABASE_URL", None)
    asyncio.run(_prepare(app_dir))
    port = _free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "specadmin.cli", "serve", str(app_dir), "--port", str(port), "--workers", "1"],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{base}/login", timeout=1).status_code == 200:
                break
        except httpx.HTTPError:
            time.sleep(0.3)
    else:
        proc.kill()
        pytest.fail(f"server did not start: {proc.stdout.read().decode(errors='replace')[-2000:]}")
    yield base
    proc.terminate()
    proc.wait(timeout=10)


@pytest.fixture(scope="module")
def browser(chromium_path):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=chromium_path, args=CHROMIUM_ARGS)
        yield b
        b.close()


def _login(browser, base: str, username: str):
    page = browser.new_context(locale="zh-CN").new_page()
    page.goto(f"{base}/login")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", PASSWORD)
    page.click("form.login-box button[type=submit]")
    page.wait_for_url(f"{base}/")
    return page


def _codes_on(page) -> set[str]:
    return {c.strip() for c in page.locator("table.list tr.row a.row-link").all_inner_texts()}


def test_ops_creates_place_assigns_unit_and_units_see_only_their_own(server, browser):
    ops = _login(browser, server, "ops")
    assert "场所信息管理" in ops.content()
    ops.click("text=场所信息管理")
    ops.click("a.tab[data-tab=unset]")
    ops.click("text=新增")
    ops.fill("input[name=place_code]", "P-BROWSER")
    ops.fill("input[name=name]", "浏览器测试场所")
    ops.select_option("select[name=category]", label="餐饮场所")
    ops.click("form.edit-form button[type=submit]")
    ops.goto(f"{server}/s/place_admin?tab=unset")
    assert "P-BROWSER" in _codes_on(ops)
    ops.goto(f"{server}/s/place_admin?tab=set")
    assert "P-BROWSER" not in _codes_on(ops)

    ops.goto(f"{server}/s/place_admin?tab=unset")
    ops.click("tr.row:has-text('P-BROWSER') a.row-link")
    ops.click("text=编辑")
    ops.select_option("select[name=supervisor]", label="开平市教育局")
    ops.click("form.edit-form button[type=submit]")
    ops.goto(f"{server}/s/place_admin?tab=set")
    assert "P-BROWSER" in _codes_on(ops)
    ops.goto(f"{server}/s/place_admin?tab=unset")
    assert "P-BROWSER" not in _codes_on(ops)

    unit1 = _login(browser, server, "unit1")
    unit1.click("text=场所人流量阈值管理")
    unit1.goto(f"{server}/s/threshold_admin?tab=unset")
    assert "P-BROWSER" in _codes_on(unit1)
    assert "场所信息管理" not in unit1.locator("nav").inner_text()

    unit2 = _login(browser, server, "unit2")
    unit2.goto(f"{server}/s/threshold_admin?tab=unset")
    assert "P-BROWSER" not in _codes_on(unit2)
    unit2.goto(f"{server}/s/threshold_admin?tab=set")
    assert "P-BROWSER" not in _codes_on(unit2) and "P2" in _codes_on(unit2)


def test_supervisor_sees_field_error_for_min_above_max(server, browser):
    unit1 = _login(browser, server, "unit1")
    unit1.goto(f"{server}/s/threshold_admin?tab=set")
    unit1.click("tr.row:has-text('P1') a.row-link")
    unit1.click("text=编辑")
    assert unit1.locator("input[name=name]").count() == 0
    unit1.fill("input[name=min_daily]", "90")
    unit1.fill("input[name=max_daily]", "9")
    unit1.click("form.edit-form button[type=submit]")
    error = unit1.locator(".field-error[data-field=max_daily]")
    assert "不能大于" in error.inner_text()
    assert unit1.locator("input[name=min_daily]").input_value() == "90"
