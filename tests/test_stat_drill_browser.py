"""A unit user in headless Chromium clicks a figure of the event-hub statistic (specs/REFERENCE.md)
and lands on the event list showing exactly that many events, its own unit's only."""
from __future__ import annotations

import pytest
from test_stat_measures import PASSWORD, ROWS, expected, write_app


async def _load(ctx) -> None:
    from specadmin.runtime.identity.users import ensure_user

    org, event = ctx.table("org"), ctx.table("hub_event")
    ids = {}
    for code, name, parent in (("HQ", "中枢", None), ("U2", "二单位", "HQ")):
        ids[code] = (await org.insert(org(code=code, name=name, level="district", org_type="department", active=True,
                                          parent=ids.get(parent))).returning(org.id))[0]["id"]
        path = f"/{ids[parent]}/{ids[code]}/" if parent else f"/{ids[code]}/"
        await org.update({org.path: path}).where(org.id == ids[code])
    await ctx.refresh_caches()
    await event.insert(*[event(**{**r, "unit": ids[r["unit"]]}) for r in ROWS])
    await ensure_user(ctx, "viewer", PASSWORD, name="查看员", org_code="HQ", roles=("hub_viewer",))


@pytest.mark.browser
def test_unit_user_clicks_a_stat_cell_and_sees_the_events_behind_it(chromium_path, tmp_path_factory):
    from browser_support import chromium, login, serve
    from specadmin.generator.writer import generate

    app_dir = write_app(tmp_path_factory.mktemp("drill-browser"))
    generate(app_dir)
    with serve(app_dir, _load) as base, chromium(chromium_path) as browser:
        page = login(browser, base, "viewer", PASSWORD)
        page.goto(f"{base}/s/hub_monthly?date_from=2026-06-01&date_to=2026-06-30")
        page.wait_for_selector("table.list.stat tr.row")
        want = expected("2026-06", "城管", ("HQ",))
        cell = page.locator("table.list.stat tr.row a.drill[href*='measure=closed']").first
        assert cell.inner_text().strip() == str(want["closed"])
        cell.click()
        page.wait_for_url("**/s/hub_event_admin?**")
        page.wait_for_selector("table.list")
        assert f"共 {want['closed']} 条" in page.locator(".page-info").first.inner_text()
        assert page.locator("table.list tr.row").count() == want["closed"] > 0
