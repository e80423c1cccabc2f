"""A street user in headless Chromium opens a statistics page, sees the chart (or, without
ECharts, the table of the same numbers) with a working tooltip and no CSP violation, and
downloads the export of its own street only."""
from __future__ import annotations

import io
import random

import pytest
from conftest import copy_app
from xicheng_data import PASSWORD, demo_module, load_core

MASS = demo_module("demo_mass_testing")


async def _browser_data(ctx) -> None:
    orgs = await load_core(ctx, seed=5)
    await MASS.load(ctx, random.Random(6), orgs)


@pytest.mark.browser
def test_street_user_sees_stat_chart_with_tooltip_or_table_and_downloads_the_export(chromium_path, tmp_path_factory):
    from browser_support import chromium, csp_violations, hover_chart, login, serve, watch_csp

    app_dir = copy_app("xicheng", tmp_path_factory.mktemp("stats-browser"))
    with serve(app_dir, _browser_data) as base, chromium(chromium_path) as browser:
        page = login(browser, base, "street1", PASSWORD)
        watch_csp(page)
        page.click("a.tile[data-screen=mass_actual_stats]")  # the home page tile (the menu group is folded)
        page.wait_for_selector("table.list.stat tr.row")
        cells = page.locator("table.list.stat tr.row td:nth-child(3)").all_inner_texts()
        assert cells and set(cells) == {"西长安街街道"}
        assert "合计" in page.locator("tr.sum-row").inner_text()
        chart = page.locator("#stat-chart")
        assert chart.count() == 1  # drawn by ECharts when installed, else the table alone carries the numbers
        if page.evaluate("() => !!window.echarts"):
            page.wait_for_selector("#stat-chart[data-drawn='1'] canvas")
            # Its tooltip shows the hovered numbers without breaking the CSP (no inline style).
            x, values = hover_chart(page, chart)
            tip = chart.locator(".chart-tip")
            tip.wait_for(state="visible")
            assert x in tip.inner_text() and all(str(v) in tip.inner_text() for v in values)
        assert csp_violations(page) == []
        with page.expect_download() as info:
            page.click("#btn-export-xlsx")
        download = info.value
        assert download.suggested_filename.endswith(".xlsx")
        from openpyxl import load_workbook

        sheet = load_workbook(io.BytesIO(download.path().read_bytes())).active
        values = list(sheet.values)
        assert values[0][:3] == ("计划编号", "街道", "计划名称")
        assert {v[1] for v in values[1:-1]} == {"西长安街街道"} and values[-1][0] == "合计"
