"""The map page and the form's point picker in headless Chromium (issue item 14): when the configured
tile server is unreachable (a closed local port) the map falls back to its coordinate grid, shows the rows as markers with a popup linking to the detail page, and a
click on the form's small map writes the point into the geo field's text input; no CSP violation.
The app is the example of specs/REFERENCE.md ("maps"), served on SQLite."""
from __future__ import annotations

import re

import pytest
from browser_support import csp_violations, login, serve, watch_csp
from conftest import reference_blocks

pytestmark = pytest.mark.browser
PASSWORD = "Toilet@2026x"
TILES = "http://127.0.0.1:9/{z}/{x}/{y}.png"  # nothing listens on the discard port: every tile fails


async def _load(ctx) -> None:
    from specadmin.runtime.identity.users import ensure_user

    org, toilet = ctx.table("org"), ctx.table("toilet")
    hq = (await org.insert(org(code="HQ", name="总部", level="city", org_type="department", active=True))
          .returning(org.id))[0]["id"]
    await org.update({org.path: f"/{hq}/"}).where(org.id == hq)
    await ctx.refresh_caches()
    await ensure_user(ctx, "root", PASSWORD, name="管理员", org_code="HQ", superuser=True)
    for name, lng, lat in (("西单公厕", 116.3660, 39.9120), ("复兴门公厕", 116.3590, 39.9080)):
        await toilet.insert(toilet(name=name, unit=hq, location_lng=lng, location_lat=lat))


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    from specadmin.generator.writer import generate

    app_dir = tmp_path_factory.mktemp("maps-browser")
    (app_dir / "modules").mkdir()
    app = reference_blocks()["maps/app.yaml"].replace("map: {center", f"map: {{tiles: '{TILES}', center")
    assert TILES in app
    (app_dir / "app.yaml").write_text(app, encoding="utf-8")
    (app_dir / "modules" / "toilets.yaml").write_text(reference_blocks()["modules/toilets.yaml"], encoding="utf-8")
    generate(app_dir)
    with serve(app_dir, _load) as base:
        yield base


def test_the_map_page_shows_markers_on_the_grid_and_the_point_picker_sets_the_value(server, browser):
    page = login(browser, server, "root", PASSWORD)
    watch_csp(page)
    page.goto(f"{server}/s/toilet_admin")
    page.click("#btn-map")
    page.wait_for_url(re.compile(r"/s/toilet_admin/map"))
    page.wait_for_selector("#map[data-points]")
    assert page.get_attribute("#map", "data-total") == "2"
    page.wait_for_selector("#map canvas.leaflet-tile")  # the tiles failed: the coordinate grid instead
    assert page.locator("#map img.leaflet-tile").count() == 0
    assert page.locator("#map path.leaflet-interactive").count() == 2
    assert "视野内共 2 条" in page.inner_text("#map-status")
    page.locator("#map path.leaflet-interactive").first.click()
    popup = page.locator(".leaflet-popup-content .map-popup")
    popup.wait_for()
    assert popup.locator("a").get_attribute("href").startswith("/s/toilet_admin/")
    assert "公厕" in popup.inner_text()
    assert csp_violations(page) == []  # circle markers, class-styled icons and DOM popups: no inline style

    page.goto(f"{server}/s/toilet_admin/new")
    picker = page.locator("#picker-location.leaflet-container")
    picker.wait_for()
    page.wait_for_selector("#picker-location canvas.leaflet-tile")
    box = picker.bounding_box()
    picker.click(position={"x": box["width"] / 2, "y": box["height"] / 2})
    value = page.input_value("#f-location")
    assert re.fullmatch(r"\d+\.\d{6},\d+\.\d{6}", value), value
    lng, lat = map(float, value.split(","))
    assert abs(lng - 116.366) < 0.01 and abs(lat - 39.912) < 0.01  # the configured centre
    assert csp_violations(page) == []
    page.fill("#f-name", "新建公厕")
    with page.expect_navigation():
        page.click("#btn-save")
    assert "新建公厕" in page.content()
    assert csp_violations(page) == []
    page.context.close()
