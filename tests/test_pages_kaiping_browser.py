"""Kaiping's list and form pages in headless Chromium at 1440×900, as ops and unit1 click them:
delete by 采集时间/导入时间 range after confirming the count, page size and jump, tab counts,
breadcrumb, the 采集时间 date-time range, drop-downs for 健康码状态/核酸结果, row actions in
view, and the threshold form showing which place it edits. Screenshots go to test-artifacts/."""
from __future__ import annotations

import datetime as dt
import re
from urllib.parse import parse_qs, urlsplit

import pytest
from browser_support import actions_usable, login_wide, page_api, row_links, screenshot, serve, submit_filters
from conftest import copy_app
from kaiping_fixture import PASSWORD, build

pytestmark = pytest.mark.browser

RANGE_DAY = dt.datetime(2026, 11, 5, 8, 0)  # P2 (unit2's): 36 scans every 20 minutes, for deleting
FILTER_DAY = dt.datetime(2026, 11, 3, 8, 0)  # P1 (unit1's): 30 scans every 15 minutes, for filtering
HEALTH, NAT = ("绿码", "黄码", "红码"), ("阴性", "未出结果")


async def _load(ctx) -> None:
    await build(ctx)  # 9 scans of P1, P2, P9 on 2026-11-01/02
    scan, entity = ctx.table("scan_record"), ctx.app.entity("scan_record")
    rows = []
    for i in range(36):
        rows.append({"place_code": "P2", "place_name": "二号超市", "scanned_at": RANGE_DAY + dt.timedelta(minutes=20 * i),
                     "imported_at": dt.datetime(2026, 11, 6 if i < 24 else 7, 10, 0)})
    for i in range(30):
        rows.append({"place_code": "P1", "place_name": "一号酒家", "scanned_at": FILTER_DAY + dt.timedelta(minutes=15 * i),
                     "imported_at": dt.datetime(2026, 11, 4, 10, 0), "health_code": HEALTH[i % 3],
                     "nat_result": NAT[i % 2]})
    await scan.insert(*[scan(**ctx.sensitive.encode(entity, {
        "subject_id_number": "440783199001011234", "phone": "13812345678", "subject_name": "王五", **r})) for r in rows])


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    with serve(copy_app("kaiping", tmp_path_factory.mktemp("kaiping-pages")), _load) as base:
        yield base




def _cells(page, label: str) -> list[str]:
    """The texts of one list column, found by its header."""
    heads = [h.strip() for h in page.locator("table.list[data-screen] thead th").all_inner_texts()]
    return page.locator(f"table.list tr.row td:nth-child({heads.index(label) + 1})").all_inner_texts()


def _total(page) -> int:
    return int(re.search(r"共 (\d+) 条", page.locator(".page-info").inner_text())[1])


def _crumbs(page) -> list[str]:
    return [c.strip() for c in page.locator(".breadcrumb .crumb").all_inner_texts()]


def _preview(page) -> int:
    return int(page.locator("#range-preview").get_attribute("data-count"))


def test_ops_deletes_scans_by_collection_or_import_time_after_confirming_the_count(server, browser):
    ops = login_wide(browser, server, "ops", PASSWORD)
    ops.goto(f"{server}/s/scan_admin")
    before = _total(ops)
    screenshot(ops, "kaiping-scan-admin")
    ops.click("#btn-delete-range")
    assert _crumbs(ops)[-3:] == ["疫情防控专区", "扫码进场信息管理", "按时间范围删除"]
    ops.select_option("#range-field", label="采集时间")
    ops.fill("#range-start", "2026-11-05T08:00:00")
    ops.fill("#range-end", "2026-11-05T12:00:00")
    ops.click("#btn-range-preview")
    assert _preview(ops) == 12  # 08:00 … 11:40, every 20 minutes; 12:00 is the excluded end
    assert "12" in ops.locator("#btn-range-confirm").inner_text()
    api = page_api(ops, "/api/scan_record/delete-range", screen="scan_admin", field="scanned_at",
               start="2026-11-05T08:00:00", end="2026-11-05T12:00:00")
    assert api["count"] == 12
    screenshot(ops, "kaiping-delete-range-preview")

    # Meanwhile someone else deletes the first of those rows: the confirmed 12 no longer holds.
    other = login_wide(browser, server, "ops", PASSWORD)
    other.goto(f"{server}/s/scan_admin/delete-range?field=scanned_at&start=2026-11-05T08:00&end=2026-11-05T08:10")
    assert _preview(other) == 1
    other.click("#btn-range-confirm")
    assert "已删除 1 条记录" in other.locator(".flash").inner_text()

    ops.click("#btn-range-confirm")
    assert "范围内的记录数已变为 11" in ops.locator(".flash-error").inner_text()
    assert _preview(ops) == 11  # the page shows the new count to confirm again
    ops.click("#btn-range-confirm")
    assert "已删除 11 条记录" in ops.locator(".flash-success").inner_text()
    assert ops.url.rstrip("/").endswith("/s/scan_admin") and _total(ops) == before - 12

    # By 数据导入时间: the 12 rows imported on 2026-11-07.
    ops.click("#btn-delete-range")
    ops.select_option("#range-field", label="数据导入时间")
    ops.fill("#range-start", "2026-11-07T00:00:00")
    ops.fill("#range-end", "2026-11-08T00:00:00")
    ops.click("#btn-range-preview")
    assert _preview(ops) == 12
    ops.click("#btn-range-confirm")
    assert "已删除 12 条记录" in ops.locator(".flash-success").inner_text() and _total(ops) == before - 24
    assert page_api(ops, "/api/scan_record/delete-range", screen="scan_admin", field="imported_at",
                start="2026-11-07", end="2026-11-07")["count"] == 0


def test_page_size_choice_and_jump_to_page_keep_the_list_query(server, browser):
    ops = login_wide(browser, server, "ops", PASSWORD)
    ops.goto(f"{server}/s/scan_admin")
    total = page_api(ops, "/api/scan_record", screen="scan_admin")["total"]
    assert total > 30 and _total(ops) == total
    ops.select_option(".pager select[name=page_size]", "10")  # submits itself
    ops.wait_for_url(re.compile(r"page_size=10"))
    assert ops.locator("table.list tr.row").count() == 10
    assert f"共 {-(-total // 10)} 页" in ops.locator(".page-count").inner_text()
    ops.fill(".pager input[name=page]", "3")
    ops.click(".pager .page-go")
    assert "第 3 页" in ops.locator(".page-info").inner_text()
    assert ops.locator("table.list tr.row td.col-no").first.inner_text().strip() == "21"
    assert parse_qs(urlsplit(ops.locator(".page-next").get_attribute("href")).query)["page_size"] == ["10"]
    ops.click(".page-next")
    assert "第 4 页" in ops.locator(".page-info").inner_text() and ops.locator("table.list tr.row").count() == 10
    # A filter keeps the chosen size and starts again at page 1.
    ops.select_option("select[name=health_code]", "黄码")
    submit_filters(ops)
    query = parse_qs(urlsplit(ops.url).query)
    assert query["page_size"] == ["10"] and "page" not in query and "第 1 页" in ops.locator(".page-info").inner_text()
    # A size the page does not offer is the screen's own.
    ops.goto(f"{server}/s/scan_admin?page_size=5000")
    assert ops.locator(".pager select[name=page_size]").input_value() == "20"


def test_tab_counts_equal_the_api_totals_in_scope_with_filters_and_keyword(server, browser):
    ops = login_wide(browser, server, "ops", PASSWORD)
    unit1 = login_wide(browser, server, "unit1", PASSWORD)
    for page, screen, entity, params in (
            (ops, "place_admin", "place", {}),
            (ops, "place_admin", "place", {"q": "号"}),
            (unit1, "threshold_admin", "place", {}),
            (unit1, "threshold_admin", "place", {"category": "catering", "q": "P"})):
        page.goto(f"{server}/s/{screen}?" + "&".join(f"{k}={v}" for k, v in params.items()))
        counts = {t.get_attribute("data-tab"): int(t.locator(".tab-count").get_attribute("data-count"))
                  for t in page.locator("a.tab").all()}
        assert counts and set(counts) == {"unset", "set"}
        for tab, count in counts.items():
            assert count == page_api(page, f"/api/{entity}", screen=screen, tab=tab, **params)["total"], (screen, tab, params)
        assert page.locator("a.tab.active .tab-count").inner_text() == f"({_total(page)})"
    assert sum(counts.values()) < 3  # unit1's own places only, with the keyword and the category
    ops.goto(f"{server}/s/place_admin")
    screenshot(ops, "kaiping-place-admin-tabs")


def test_breadcrumb_and_threshold_form_shows_which_place_it_edits(server, browser):
    unit1 = login_wide(browser, server, "unit1", PASSWORD)
    unit1.goto(f"{server}/s/threshold_admin?tab=set")
    assert _crumbs(unit1) == ["首页", "疫情防控专区", "场所人流量阈值管理"]
    unit1.click("tr.row:has-text('P1') a.row-link")
    assert _crumbs(unit1) == ["首页", "疫情防控专区", "场所人流量阈值管理", "一号酒家"]
    unit1.click("#btn-edit")
    assert _crumbs(unit1) == ["首页", "疫情防控专区", "场所人流量阈值管理", "一号酒家", "编辑"]
    context = {unit1.locator(f"#form-context [data-field={name}] dt").inner_text(): unit1.locator(
        f"#form-context [data-field={name}] dd").inner_text() for name in ("place_code", "name", "supervisor")}
    assert context == {"公共场所ID": "P1", "公共场所": "一号酒家", "监管单位": "开平市教育局"}
    assert unit1.locator("form.edit-form input[name=place_code], form.edit-form input[name=name]").count() == 0
    assert unit1.locator("form.edit-form input[name=min_daily]").is_visible()
    screenshot(unit1, "kaiping-threshold-edit")
    unit1.click(".breadcrumb a.crumb:has-text('一号酒家')")
    assert re.search(r"/s/threshold_admin/\d+\?", unit1.url) and unit1.locator("dl.detail").is_visible()
    unit1.click(".breadcrumb a.crumb:has-text('场所人流量阈值管理')")  # back to the list as it was left
    assert unit1.url.endswith("/s/threshold_admin?tab=set") and "P1" in row_links(unit1)


def test_collection_time_range_and_dictionary_filters_are_datetime_inputs_and_selects(server, browser):
    unit1 = login_wide(browser, server, "unit1", PASSWORD)
    unit1.goto(f"{server}/s/scan_query")
    for name, values in (("health_code", list(HEALTH)), ("nat_result", ["阴性", "阳性", "未出结果"])):
        select = unit1.locator(f".filter-bar select[name={name}]")
        assert [o.strip() for o in select.locator("option").all_inner_texts()] == ["全部", *values]
    assert unit1.locator(".filter-bar input[name=scanned_at_from]").get_attribute("type") == "datetime-local"
    unit1.fill(".filter-bar input[name=scanned_at_from]", "2026-11-03T09:00:00")
    unit1.fill(".filter-bar input[name=scanned_at_to]", "2026-11-03T10:00:00")
    submit_filters(unit1)
    times = _cells(unit1, "采集时间")
    assert sorted(times) == [f"2026-11-03 {t}:00" for t in ("09:00", "09:15", "09:30", "09:45", "10:00")]
    assert _total(unit1) == 5 == page_api(unit1, "/api/scan_record", screen="scan_query", scanned_at_from="2026-11-03T09:00",
                                       scanned_at_to="2026-11-03 10:00:00")["total"]
    assert unit1.locator(".filter-bar input[name=scanned_at_from]").input_value().startswith("2026-11-03T09:00")
    unit1.select_option(".filter-bar select[name=health_code]", "黄码")
    submit_filters(unit1)
    codes = _cells(unit1, "健康码状态")
    assert codes and set(codes) == {"黄码"} and _total(unit1) == page_api(
        unit1, "/api/scan_record", screen="scan_query", scanned_at_from="2026-11-03T09:00",
        scanned_at_to="2026-11-03T10:00", health_code="黄码")["total"]
    screenshot(unit1, "kaiping-scan-query-filtered")
    unit1.goto(f"{server}/s/scan_query?scanned_at_from=2026-13-01")
    assert "采集时间（起）" in unit1.locator(".alert-error").inner_text()


def test_scan_management_row_actions_are_all_in_view_and_clickable(server, browser):
    ops = login_wide(browser, server, "ops", PASSWORD)
    ops.goto(f"{server}/s/scan_admin")
    assert ops.locator("table.list[data-screen] thead th").count() == 17 + 2
    assert actions_usable(ops) >= 2 * 3
    ops.locator("table.list tr.row").first.locator(".col-ops a.op-view").click()
    assert ops.locator("dl.detail").is_visible() and _crumbs(ops)[-2] == "扫码进场信息管理"
