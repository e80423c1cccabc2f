"""站内消息 popup in Chromium: a message that arrives while a page is open shows top-right with its
title when the page checks (the 60 s poll, or the tab becoming visible again); its link opens the
message (marks it read, lands on its link) and the badge follows. Messages already there at the
browser's first check only show as the badge."""
from __future__ import annotations

import asyncio
import datetime as dt
import os
from concurrent.futures import ThreadPoolExecutor

import pytest
from conftest import copy_app
from kaiping_fixture import PASSWORD
from test_messages import LINK, _browser_data


def _add_message(app_dir, username: str, title: str) -> None:
    from browser_support import _prepare

    async def load(ctx) -> None:
        m, u = ctx.table("message"), ctx.table("user")
        uid = (await u.select(u.id).where(u.username == username).first())["id"]
        await m.insert(m(recipient=uid, title=title, body="新到的消息", link=LINK, dedupe_key=f"popup:{title}",
                         day=dt.date(2026, 12, 3), sent_at=dt.datetime(2026, 12, 3, 8)))

    saved = os.environ.pop("DATABASE_URL", None)
    try:  # in a thread of its own: Playwright's sync API keeps an event loop running in this one
        with ThreadPoolExecutor(1) as pool:
            pool.submit(asyncio.run, _prepare(app_dir, load)).result()
    finally:
        if saved is not None:
            os.environ["DATABASE_URL"] = saved


@pytest.mark.browser
def test_new_message_pops_up_top_right_and_its_link_opens_it(tmp_path, chromium_path):
    from browser_support import chromium, login, serve

    app_dir = copy_app("kaiping", tmp_path / "app")
    with serve(app_dir, _browser_data) as base, chromium(chromium_path) as browser:
        page = login(browser, base, "unit1", PASSWORD)
        page.wait_for_function("() => window.localStorage.getItem('specadmin.messages.seen') !== null")
        assert page.locator("#message-popup").count() == 0  # the two old messages are the badge only
        assert page.inner_text("#message-badge").strip() == "2"
        _add_message(app_dir, "unit1", "新的预警提醒")
        page.evaluate("() => document.dispatchEvent(new Event('visibilitychange'))")
        page.wait_for_selector("#message-popup")
        assert page.inner_text("#message-popup .message-popup-open").strip() == "新的预警提醒"
        assert page.inner_text("#message-badge").strip() == "3"
        box = page.locator("#message-popup").bounding_box()
        width = page.viewport_size["width"]
        assert box["x"] > width / 2 and box["y"] < 200  # top-right
        page.click("#message-popup .message-popup-open")
        page.wait_for_url(f"{base}{LINK}")
        assert page.inner_text("#message-badge").strip() == "2"
        page.goto(f"{base}/messages")
        assert page.locator("tr.message.unread").count() == 2
        assert page.locator("#message-popup").count() == 0  # shown once, not again on the next page
