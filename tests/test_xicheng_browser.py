"""Xicheng in headless Chromium: a street user works its own street's ledgers; the district sees all."""
from __future__ import annotations

import pytest
from browser_support import login, row_links, serve
from conftest import copy_app
from xicheng_data import PASSWORD, load_core

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    with serve(copy_app("xicheng", tmp_path_factory.mktemp("xicheng-browser")), load_core) as base:
        yield base



def test_street_user_sees_only_its_sites_and_district_sees_every_street(server, browser):
    street1 = login(browser, server, "street1", PASSWORD)
    street1.click("a.tile[data-screen=site_info]")  # the home page tile (the menu group is folded)
    codes = row_links(street1)
    assert codes and all(c.startswith("XC01") for c in codes)
    assert "点位区级统计查询" not in street1.locator("nav").inner_text()
    district = login(browser, server, "district", PASSWORD)
    district.goto(f"{server}/s/site_info")
    assert {c[:4] for c in row_links(district)} >= {"XC01", "XC02", "XC03"}


def test_street_user_reconciles_its_cameras_from_the_unreconciled_tab(server, browser):
    street1 = login(browser, server, "street1", PASSWORD)
    street1.goto(f"{server}/s/camera_admin?tab=unreconciled")
    before = row_links(street1)
    assert before and all(c.startswith(("CAM01", "VN11010200")) for c in before)
    target = "CAM0101"
    street1.check(f"tr.row:has-text('{target}') input[type=checkbox]")
    street1.click("button.batch-action[data-action=reconcile]")
    with street1.expect_navigation():  # 确认批量核对: the page's own dialog (static/dialogs.js)
        street1.click("dialog.sa-dialog[open] button.dialog-ok")
    street1.goto(f"{server}/s/camera_admin?tab=unreconciled")
    assert row_links(street1) == before - {target}


def test_binding_form_offers_only_own_cameras(server, browser):
    street1 = login(browser, server, "street1", PASSWORD)
    street1.goto(f"{server}/s/binding_admin/new")
    options = [o.strip() for o in street1.locator("select[name=camera] option").all_inner_texts() if o.strip()]
    assert options and all("西长安街" in o for o in options if o != "请选择")
