"""Charts in headless Chromium, read back from ECharts itself: Kaiping 扫码统计 has a day per
category (dates, not repeated place IDs), Xicheng 街道修改后的实检统计 all 15 streets (not the 20
rows of the table's first page), and the alert detail chart a dashed line at the threshold crossed."""
from __future__ import annotations

import datetime as dt
import random

import pytest
from conftest import copy_app
from kaiping_fixture import PASSWORD as KAIPING_PASSWORD
from kaiping_fixture import build
from xicheng_data import PASSWORD as XICHENG_PASSWORD
from xicheng_data import demo_module, load_core

pytestmark = pytest.mark.browser

OPTION = """el => { const o = window.echarts.getInstanceByDom(el).getOption();
  return {x: o.xAxis[0].data, series: o.series.map(s => s.data), yMax: o.yAxis[0].max,
          lines: ((o.series[0].markLine || {}).data || []).map(d => [d.name, d.yAxis])}; }"""


def option(page, selector: str) -> dict:
    page.wait_for_selector(f"{selector}[data-drawn='1'] canvas")
    return page.eval_on_selector(selector, OPTION)


def test_charts_show_every_group_along_their_axis_and_the_alert_threshold(chromium_path, tmp_path_factory):
    from browser_support import chromium, csp_violations, login, serve, watch_csp

    ids: dict = {}

    async def kaiping_data(ctx) -> None:
        ids.update(await build(ctx))
        day = ctx.table("scan_alert_day")
        for i, n in enumerate([3, 0, 1, 4, 2, 0, 1]):
            await day.insert(day(alert=ids["alert_P1"], day=dt.date(2026, 10, 1) + dt.timedelta(days=i), scan_count=n))

    async def xicheng_data(ctx) -> None:
        await demo_module("demo_mass_testing").load(ctx, random.Random(6), await load_core(ctx, seed=5))

    # Both servers first: Playwright's sync API keeps an event loop running, where serve() cannot prepare an app.
    with serve(copy_app("kaiping", tmp_path_factory.mktemp("charts-kaiping")), kaiping_data) as base, \
            serve(copy_app("xicheng", tmp_path_factory.mktemp("charts-xicheng")), xicheng_data) as xicheng, \
            chromium(chromium_path) as browser:
        ops = login(browser, base, "ops", KAIPING_PASSWORD)
        watch_csp(ops)
        ops.goto(f"{base}/s/scan_stats?date_from=2026-10-28&date_to=2026-11-03")
        assert ops.evaluate("() => !!window.echarts"), "ECharts is not installed (scripts/setup.sh)"
        got = option(ops, "#stat-chart")
        # P1, P2 and P9's scans on 11-01 and 11-02 (table: one row per place and day).
        assert got["x"] == [f"2026-10-{d}" for d in (28, 29, 30, 31)] + ["2026-11-01", "2026-11-02", "2026-11-03"]
        assert got["series"] == [[0, 0, 0, 0, 5, 4, 0]]
        assert ops.locator("table.list.stat tr.row").count() == 6

        unit1 = login(browser, base, "unit1", KAIPING_PASSWORD)
        watch_csp(unit1)
        unit1.goto(f"{base}/s/alert_inbox/{ids['alert_P1']}")
        got = option(unit1, "section[data-related='days'] div.chart")
        assert got["x"] == [f"2026-10-0{d}" for d in range(1, 8)] and got["series"] == [[3, 0, 1, 4, 2, 0, 1]]
        assert got["lines"] == [["最小值阈值", 5]] and got["yMax"] >= 5  # 小于阈值: the minimum, in view
        assert csp_violations(ops) == [] and csp_violations(unit1) == []

        district = login(browser, xicheng, "district", XICHENG_PASSWORD)
        watch_csp(district)
        district.click("nav.sidebar summary:has-text('点位区级统计查询')")  # its menu group folds
        district.click("nav.sidebar a.menu-item:has-text('街道修改后的实检统计')")
        got = option(district, "#stat-chart")
        assert district.locator("table.list.stat tr.row").count() == 20  # the table's first page
        assert len(got["x"]) == len(set(got["x"])) == 15 and all(x.endswith("街道") for x in got["x"])
        headers = district.locator("table.list.stat thead th").all_inner_texts()
        planned = district.locator("table.list.stat tfoot td").nth(headers.index("应检人数")).inner_text()  # 合计
        assert sum(got["series"][0]) == int(planned)
        assert csp_violations(district) == []
