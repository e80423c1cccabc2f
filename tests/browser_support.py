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


SCREENSHOTS = ROOT / "test-artifacts" / "screenshots"  # named in README.md; kept by CI as artifacts
WIDE = {"width": 1440, "height": 900}  # the screen size the pages are checked and pictured at


def login_wide(browser, base: str, username: str, password: str):
    """`login` in a 1440×900 window."""
    page = login(browser, base, username, password)
    page.set_viewport_size(WIDE)
    return page


def screenshot(page, name: str) -> Path:
    """Save what the page shows (its 1440×900 window) as test-artifacts/screenshots/<name>.png."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path))
    return path


# For each row action of a list page: is it inside the table's visible width and the window, not cut
# by its cell, and is it what a click at its centre reaches (not hidden under the sticky 操作 column)?
_ACTIONS_CHECK = """() => {
  const wrap = document.querySelector(".table-wrap").getBoundingClientRect();
  const problems = [];
  let checked = 0;
  for (const row of document.querySelectorAll("table.list tr.row")) {
    window.scrollBy(0, row.getBoundingClientRect().top - window.innerHeight / 2);  // down only
    for (const op of row.querySelectorAll(".col-ops .op")) {
      const r = op.getBoundingClientRect(), cell = op.closest("td"), name = op.textContent.trim();
      checked += 1;
      if (cell.scrollWidth > cell.clientWidth + 1) problems.push("cut by its cell: " + name);
      if (r.width === 0 || r.left < wrap.left || r.right > Math.min(wrap.right, window.innerWidth)) {
        problems.push("outside the table's view: " + name);
        continue;
      }
      const hit = document.elementFromPoint(r.left + r.width / 2, r.top + r.height / 2);
      if (!hit || !op.contains(hit)) problems.push("covered: " + name + " by " + (hit ? hit.className || hit.tagName : "nothing"));
    }
  }
  window.scrollTo(0, 0);
  return {checked, problems};
}"""


def actions_usable(page) -> int:
    """Assert every row action of the list page is in view and clickable where it is shown (the
    table not scrolled sideways); returns how many were checked."""
    result = page.evaluate(_ACTIONS_CHECK)
    assert result["problems"] == [], result["problems"]
    return result["checked"]


def page_api(page, path: str, **params) -> dict:
    """The JSON API asked with the page's own session (what a page shows must agree with it)."""
    from urllib.parse import urlsplit

    parts = urlsplit(page.url)
    response = page.request.get(f"{parts.scheme}://{parts.netloc}{path}", params=params)
    assert response.ok, response.text()
    return response.json()


def row_links(page) -> set[str]:
    """The texts of the row links on a list page (the first list column)."""
    return {c.strip() for c in page.locator("table.list tr.row a.row-link").all_inner_texts()}


# Every Content-Security-Policy violation of a page, as the browser reports it to the page itself.
CSP_WATCH = """window.__csp = [];
document.addEventListener("securitypolicyviolation", e => window.__csp.push(
    {directive: e.effectiveDirective, blocked: e.blockedURI, source: e.sourceFile, line: e.lineNumber}));"""


def watch_csp(page) -> None:
    """Record CSP violations on every document the page loads from now on (read with csp_violations)."""
    page.add_init_script(CSP_WATCH)


def csp_violations(page) -> list[dict]:
    return page.evaluate("() => window.__csp || []")


def hover_chart(page, chart, index: int | None = None) -> tuple[str, list]:
    """Hover the bar/point of category `index` (default: the busiest) of an ECharts chart element;
    returns (its x label, the values of its series there, as the page prints them) from the chart's
    own data-chart JSON."""
    import json

    data = json.loads(chart.get_attribute("data-chart"))
    if index is None:
        totals = [sum(s["data"][i] for s in data["series"]) for i in range(len(data["x"]))]
        index = totals.index(max(totals))
    x, y = page.evaluate(
        """([el, i]) => { const c = window.echarts.getInstanceByDom(el);
                           return [c.convertToPixel({xAxisIndex: 0}, i), c.getHeight() / 2]; }""",
        [chart.element_handle(), index])
    box = chart.bounding_box()
    page.mouse.move(box["x"] + x, box["y"] + y)
    return str(data["x"][index]), [_as_js(s["data"][index]) for s in data["series"]]


def _as_js(value):
    """A number as a page prints it (JavaScript has no 26472.0)."""
    return int(value) if isinstance(value, float) and value.is_integer() else value


def submit_filters(page) -> None:
    """Click 查询 and wait for the filtered page (the filter form is a GET)."""
    with page.expect_navigation():
        page.click("#btn-search")
