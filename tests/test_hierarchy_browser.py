"""The 本级 / 下级 / 本级及下级 buttons in headless Chromium: the street user of the event hub
(tests/test_hierarchy.py) clicks 本级, then 下级, and the list follows; the choice stays through a tab."""
from __future__ import annotations

import pytest
from browser_support import csp_violations, login, row_links, serve, watch_csp
from test_hierarchy import PASSWORD, load, write_app

pytestmark = pytest.mark.browser


async def _load(ctx) -> None:
    org = ctx.table("org")
    hq = (await org.insert(org(code="HQ", name="总部", level="city", org_type="department", active=True))
          .returning(org.id))[0]["id"]
    await org.update({org.path: f"/{hq}/"}).where(org.id == hq)
    await load(ctx, hq)


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    from specadmin.generator.writer import generate

    app_dir = write_app(tmp_path_factory.mktemp("hierarchy-browser"))
    generate(app_dir)
    with serve(app_dir, _load) as base:
        yield base


def test_clicking_the_level_buttons_changes_the_list(server, browser):
    page = login(browser, server, "jie", PASSWORD)
    watch_csp(page)
    page.goto(f"{server}/s/event_hub")
    assert page.locator(".levels a[aria-pressed=true]").inner_text() == "本级及下级"
    assert row_links(page) == {"街道事件", "社区事件"}  # its first tab, 处置中
    with page.expect_navigation():
        page.locator(".levels a[data-level=self]").click()
    assert page.locator(".levels a[aria-pressed=true]").inner_text() == "本级"
    assert row_links(page) == {"街道事件"}
    with page.expect_navigation():
        page.locator(".levels a[data-level=sub]").click()
    assert row_links(page) == {"社区事件"}
    with page.expect_navigation():
        page.locator(".tabs a[data-tab=done]").click()  # the choice stays: 下级 under 已完成 has nothing
    assert page.locator(".levels a[aria-pressed=true]").inner_text() == "下级"
    assert row_links(page) == set()
    assert csp_violations(page) == []
    page.context.close()
