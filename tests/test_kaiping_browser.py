"""Kaiping in headless Chromium, clicking as a person would, against a real server process."""
from __future__ import annotations

import pytest
from browser_support import login, row_links, serve
from conftest import copy_app
from kaiping_fixture import PASSWORD, build

pytestmark = pytest.mark.browser


async def _build_with_a_superuser(ctx) -> None:
    from specadmin.runtime.identity.users import ensure_user

    await build(ctx)
    await ensure_user(ctx, "root", PASSWORD, name="超级管理员", org_code="KP", superuser=True)


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    with serve(copy_app("kaiping", tmp_path_factory.mktemp("kaiping-browser")), _build_with_a_superuser) as base:
        yield base



def _login(browser, base: str, username: str):
    return login(browser, base, username, PASSWORD)


_codes_on = row_links


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


def test_a_stale_threshold_form_does_not_undo_another_users_save(server, browser):
    """Two people open P1's threshold form; the first saves a new minimum; the second, still on the
    old form, saves a new maximum: refused with "记录已被他人修改", the form then shows the stored
    values (the first save's minimum) and what the second typed; saving again keeps both."""
    first, second = _login(browser, server, "unit1"), _login(browser, server, "unit1")
    for page in (first, second):
        page.goto(f"{server}/s/threshold_admin?tab=set")
        page.click("tr.row:has-text('P1') a.row-link")
        page.click("text=编辑")
    old_max = second.locator("input[name=max_daily]").input_value()
    first.fill("input[name=min_daily]", "11")
    first.click("form.edit-form button[type=submit]")
    assert "保存成功" in first.content()

    second.fill("input[name=max_daily]", "77")
    second.click("form.edit-form button[type=submit]")
    assert "记录已被他人修改，请核对后重新保存" in second.locator(".form-error").inner_text()
    assert second.locator("input[name=min_daily]").input_value() == "11"  # the first save, as stored
    assert second.locator("input[name=max_daily]").input_value() == old_max
    assert "77" in second.locator(".field-mine[data-field=max_daily]").inner_text()  # what the second submitted
    first.reload()
    assert first.locator(".detail-item[data-field=min_daily] dd").inner_text().strip() == "11"

    second.fill("input[name=max_daily]", "77")  # after checking, the second enters the change again
    second.click("form.edit-form button[type=submit]")
    assert "保存成功" in second.content()
    assert (second.locator(".detail-item[data-field=min_daily] dd").inner_text().strip(),
            second.locator(".detail-item[data-field=max_daily] dd").inner_text().strip()) == ("11", "77")


def test_admin_grants_a_screen_to_a_person_in_the_menu_tree_and_they_see_the_menu(server, browser):
    nobody = _login(browser, server, "nobody")
    assert nobody.locator("a[href='/s/place_admin']").count() == 0
    admin = _login(browser, server, "root")
    admin.goto(f"{server}/s/grant_admin")
    admin.click("#btn-grant-tree")
    admin.select_option("#holder-user", label="无权限")
    admin.click("#btn-holder")
    assert "人员：无权限" in admin.locator("#holder-title").inner_text()
    spec = admin.locator("tr[data-screen=threshold_admin] .tag-spec")
    assert spec.count() == 0  # 无权限 holds no role: nothing from the spec
    row = admin.locator("tr[data-screen=place_admin]")
    row.locator("input[data-action=list]").check()
    row.locator("input[data-action=read]").check()
    admin.click("#btn-save-grants")
    assert "新增 1 项" in admin.content()
    assert admin.locator("tr[data-screen=place_admin] input[data-action=list]").is_checked()
    nobody = _login(browser, server, "nobody")
    nobody.click("a[href='/s/place_admin']")
    assert nobody.locator("h1.page-title").inner_text().startswith("场所信息管理")
