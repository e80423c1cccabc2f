"""Xicheng's pages in headless Chromium at 1440×900, as district, street1 and admin click them:
the folding menu tree, org drop-downs as a searchable tree (name or pinyin initials), a street
user's 街道 drop-downs holding its own street only, tab counts of a scoped user, every row action
in view on 批量核酸查询 / 人员管理 / 角色管理, and the 实检 form showing plan, street and the
reported count. Screenshots go to test-artifacts/screenshots/."""
from __future__ import annotations

import random
import re
from urllib.parse import parse_qs, urlsplit

import pytest
from browser_support import actions_usable, login_wide, page_api, screenshot, serve, submit_filters
from conftest import copy_app
from xicheng_data import DEMO, PASSWORD, demo_module, load_core

pytestmark = pytest.mark.browser

MASS, RESULTS = demo_module("demo_mass_testing"), demo_module("demo_results")


async def _load(ctx) -> None:
    from specadmin.runtime.identity.users import ensure_user

    orgs = await load_core(ctx, seed=11)
    await ensure_user(ctx, "admin", PASSWORD, name="系统管理员", org_code="XC-YQB", roles=("sysadmin",), superuser=True)
    await MASS.load(ctx, random.Random(12), orgs)
    await RESULTS.load(ctx, random.Random(13), orgs)


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    with serve(copy_app("xicheng", tmp_path_factory.mktemp("xicheng-pages")), _load) as base:
        yield base


def _visible_menu_items(page) -> list[str]:
    return [a.inner_text().strip() for a in page.locator("nav.sidebar a.menu-item").all() if a.is_visible()]


def _options(page, select: str) -> list[str]:
    return [o.strip() for o in page.locator(f"{select} option").all_inner_texts() if o.strip() not in ("全部", "请选择")]


def _cells(page, label: str) -> list[str]:
    heads = [h.strip() for h in page.locator("table.list[data-screen] thead th").all_inner_texts()]
    return page.locator(f"table.list tr.row td:nth-child({heads.index(label) + 1})").all_inner_texts()


def test_district_menu_is_a_tree_that_folds(server, browser):
    district = login_wide(browser, server, "district", PASSWORD)
    groups = district.locator("nav.sidebar details.menu-group")
    assert groups.count() == 5 and district.locator("nav.sidebar a.menu-item").count() == 31
    assert _visible_menu_items(district) == []  # on the home page every group is folded
    screenshot(district, "xicheng-home-district")
    district.click("nav.sidebar summary:has-text('核酸数据查询服务')")
    assert _visible_menu_items(district) == ["个人核酸查询", "批量核酸查询", "批量查询结果", "批次核查统计"]
    district.click("nav.sidebar a.menu-item:has-text('批量核酸查询')")
    assert district.url.endswith("/s/batch_admin")
    # On a screen its own group is open, the rest folded; a folded group opens with one click.
    assert _visible_menu_items(district) == ["个人核酸查询", "批量核酸查询", "批量查询结果", "批次核查统计"]
    assert [g.get_attribute("data-menu") for g in groups.all() if g.get_attribute("open") is not None] == ["results"]
    district.click("nav.sidebar summary:has-text('点位区级统计查询')")
    assert "实检统计" in _visible_menu_items(district)
    district.click("nav.sidebar summary:has-text('点位区级统计查询')")
    assert "实检统计" not in _visible_menu_items(district)


def test_org_drop_down_is_a_tree_searchable_by_name_and_pinyin_initials(server, browser):
    district = login_wide(browser, server, "district", PASSWORD)
    district.goto(f"{server}/s/batch_admin")
    select = district.locator(".filter-bar select[name=street]")
    options = select.locator("option[data-depth]")
    names = [o.strip() for o in options.all_inner_texts()]
    depths = [int(o.get_attribute("data-depth")) for o in options.all()]
    assert names[0] == "西城区" and depths[0] == 0 and set(depths[1:]) == {1}  # the district, its orgs below
    assert names[1:16] == DEMO.STREETS  # in org (code) order: XC-S01 … XC-S15
    assert names[16] == "西城区疫情防控工作领导小组办公室"
    assert options.nth(1).text_content().startswith("\u3000")  # indented by its depth without the script too
    combo = district.locator("label[data-filter=street] .combo")
    combo.locator(".combo-toggle").click()
    search = combo.locator("input.combo-search")
    search.fill("xcaj")  # 西长安街街道
    assert combo.locator("li.combo-option .combo-label").all_inner_texts() == ["西长安街街道"]
    assert combo.locator("li.combo-option .combo-initials").all_inner_texts() == ["xcajjd"]
    search.fill("月坛")
    assert combo.locator("li.combo-option .combo-label").all_inner_texts() == ["月坛街道"]
    search.fill("jd")  # every street (…街道) by its initials
    assert combo.locator("li.combo-option").count() == 15
    screenshot(district, "xicheng-org-search")
    search.fill("xcaj")
    search.press("Enter")
    assert combo.locator(".combo-toggle").inner_text().strip() == "西长安街街道"
    submit_filters(district)
    street = parse_qs(urlsplit(district.url).query)["street"][0]
    streets = set(_cells(district, "街道"))
    assert streets == {"西长安街街道"} and page_api(district, "/api/query_batch", screen="batch_admin", street=street)["total"] == len(
        district.locator("table.list tr.row").all())
    # The org filter of 人员管理 is the same tree, searchable the same way.
    admin = login_wide(browser, server, "admin", PASSWORD)
    admin.goto(f"{server}/s/user_admin")
    combo = admin.locator("label[data-filter=org] .combo")
    combo.locator(".combo-toggle").click()
    combo.locator("input.combo-search").fill("xcqyq")
    combo.locator("li.combo-option").first.click()
    submit_filters(admin)
    assert set(_cells(admin, "所属组织")) == {"西城区疫情防控工作领导小组办公室"}


def test_street_users_street_drop_downs_hold_only_their_street(server, browser):
    street1 = login_wide(browser, server, "street1", PASSWORD)
    for screen in ("batch_admin", "mass_actual_query", "mass_should_query", "camera_admin", "ledger_admin"):
        street1.goto(f"{server}/s/{screen}")
        name = "street"
        assert _options(street1, f".filter-bar select[name={name}]") == ["西长安街街道"], screen
    street1.goto(f"{server}/s/ledger_admin/new")
    assert _options(street1, "form.edit-form select[name=street]") == ["西长安街街道"]
    district = login_wide(browser, server, "district", PASSWORD)
    district.goto(f"{server}/s/mass_actual_query")
    assert len(_options(district, ".filter-bar select[name=street]")) == 17


def test_street_users_tab_counts_equal_the_api_totals(server, browser):
    street1 = login_wide(browser, server, "street1", PASSWORD)
    for params in ({}, {"source": "offline_survey"}, {"q": "CAM"}):
        street1.goto(f"{server}/s/camera_admin?" + "&".join(f"{k}={v}" for k, v in params.items()))
        counts = {t.get_attribute("data-tab"): int(t.locator(".tab-count").get_attribute("data-count"))
                  for t in street1.locator("a.tab").all()}
        assert set(counts) == {"unreconciled", "playable"}
        for tab, count in counts.items():
            assert count == page_api(street1, "/api/camera", screen="camera_admin", tab=tab, **params)["total"], (tab, params)
        everyone = page_api(street1, "/api/camera", tab="unreconciled", **params)["total"]
        assert counts["unreconciled"] <= everyone


def test_row_actions_are_all_in_view_and_clickable(server, browser):
    district = login_wide(browser, server, "district", PASSWORD)
    district.goto(f"{server}/s/batch_admin")
    rows = district.locator("table.list tr.row").count()
    assert rows >= 3 and district.locator(".col-ops a.op-items").count() == rows
    assert district.locator(".col-ops a.op-export-pending").count() == rows
    assert actions_usable(district) >= rows * 5
    screenshot(district, "xicheng-batch-admin")
    district.locator("table.list tr.row").first.locator("a.op-items").click()
    assert re.search(r"/s/batch_items\?batch=\d+", district.url)
    admin = login_wide(browser, server, "admin", PASSWORD)
    for screen, shot in (("user_admin", "xicheng-user-admin"), ("role_admin", "xicheng-role-admin")):
        admin.goto(f"{server}/s/{screen}")
        per_row = admin.locator("table.list tr.row").first.locator(".col-ops .op").count()
        assert per_row >= 5, screen
        assert actions_usable(admin) >= per_row
        screenshot(admin, shot)
    admin.locator("table.list tr.row").first.locator(".col-ops a.op-edit").click()
    assert admin.url.endswith("/edit") or "/edit?" in admin.url


def test_actual_count_form_shows_plan_street_and_reported_count(server, browser):
    street1 = login_wide(browser, server, "street1", PASSWORD)
    street1.goto(f"{server}/s/mass_actual_query")
    row = street1.locator("table.list tr.row").first
    heads = [h.strip() for h in street1.locator("table.list[data-screen] thead th").all_inner_texts()]
    shown = dict(zip(heads, [c.strip() for c in row.locator("td").all_inner_texts()]))
    row.locator("a.op-edit").click()
    crumbs = [c.strip() for c in street1.locator(".breadcrumb .crumb").all_inner_texts()]
    assert crumbs[:3] == ["首页", "点位核酸街道统计查询", "大规模核酸实检查询"] and crumbs[-1] == "编辑"
    context = {street1.locator(f"#form-context [data-field={n}] dt").inner_text(): street1.locator(
        f"#form-context [data-field={n}] dd").inner_text() for n in ("plan", "plan_name", "street", "actual_count")}
    assert context == {label: shown[label] for label in ("计划编号", "计划名称", "街道", "实检人数")}
    assert context["街道"] == "西长安街街道" and context["实检人数"].isdigit()
    assert [i.get_attribute("name") for i in street1.locator("form.edit-form input:not([type=hidden])").all()] == [
        "street_edited_count"]
    screenshot(street1, "xicheng-actual-count-edit")
