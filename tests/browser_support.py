"""Shared pieces of the headless-Chromium tests: a real `specadmin serve` process on a free port
over a copied, migrated app with test data, a Playwright browser, and logging in as a person."""
from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Awaitable, Callable, Iterator

import httpx
import pytest
from conftest import ROOT

CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def _prepare(app_dir: Path, load: Callable[..., Awaitable]) -> None:
    from specadmin.cli import _migrate
    from specadmin.runtime.data import db
    from specadmin.runtime.app.context import AppContext

    await _migrate(app_dir, False)
    ctx = AppContext.open(app_dir, database_url="")
    await db.start(ctx.engine)
    try:
        await ctx.refresh_caches()
        await load(ctx)
    finally:
        await db.stop(ctx.engine)


@contextlib.contextmanager
def serve(app_dir: Path, load: Callable[..., Awaitable], extra_env: dict[str, str] | None = None) -> Iterator[str]:
    """Migrate `app_dir` on SQLite, run `await load(ctx)`, serve it; yields the base URL."""
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"} | (extra_env or {})
    saved = os.environ.pop("DATABASE_URL", None)
    try:
        asyncio.run(_prepare(app_dir, load))
    finally:
        if saved is not None:
            os.environ["DATABASE_URL"] = saved
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "specadmin.cli", "serve", str(app_dir), "--port", str(port), "--workers", "1"],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
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
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()


@contextlib.contextmanager
def chromium(path: str):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=path, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


def login(browser, base: str, username: str, password: str):
    """A new browser context logged in through the login form; returns the page on the home page."""
    page = browser.new_context(locale="zh-CN").new_page()
    page.goto(f"{base}/login")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", password)
    page.click("form.login-box button[type=submit]")
    page.wait_for_url(f"{base}/")
    return page


def row_links(page) -> set[str]:
    """The texts of the row links on a list page (the first list column)."""
    return {c.strip() for c in page.locator("table.list tr.row a.row-link").all_inner_texts()}
