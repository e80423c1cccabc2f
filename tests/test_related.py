"""Related lists on detail pages: the seven days of a “扫码”预警, listed and charted, reachable only
through an alert the user may read (SQLite and PostgreSQL)."""
from __future__ import annotations

import datetime as dt
import json
import re

import pytest
from conftest import BACKENDS, running_app
from kaiping_fixture import build
from test_kaiping_api import login

pytestmark = pytest.mark.asyncio(loop_scope="session")


@pytest.fixture(scope="module", params=BACKENDS)
async def kaiping(request, tmp_path_factory):
    async with running_app("kaiping", tmp_path_factory, request.param, "related") as app:
        ctx = app.state.ctx
        ids = await build(ctx)
        day = ctx.table("scan_alert_day")
        counts = [3, 0, 1, 4, 2, 0, 1]
        # Written out of order: the page sorts by day.
        for i in (6, 2, 0, 5, 1, 3, 4):
            await day.insert(day(alert=ids["alert_P1"], day=dt.date(2026, 10, 1) + dt.timedelta(days=i), scan_count=counts[i]))
        yield {"app": app, "ids": ids, "ctx": ctx, "counts": counts}


async def test_alert_detail_lists_the_windows_days_in_order(kaiping):
    unit1 = await login(kaiping, "unit1")
    r = await unit1.get(f"/api/related/alert_inbox/{kaiping['ids']['alert_P1']}")
    assert r.status_code == 200, r.text
    [days] = r.json()["related"]
    assert days["name"] == "days" and [c["label"] for c in days["columns"]] == ["日期", "当日扫码量"]
    assert [i["day"] for i in days["items"]] == [f"2026-10-0{d}" for d in range(1, 8)]
    assert [i["scan_count"] for i in days["items"]] == kaiping["counts"]


async def test_alert_detail_page_shows_table_and_chart_data(kaiping):
    unit1 = await login(kaiping, "unit1")
    page = await unit1.get(f"/s/alert_inbox/{kaiping['ids']['alert_P1']}")
    assert page.status_code == 200
    section = page.text[page.text.index('data-related="days"'):]
    cells = re.findall(r'data-col="scan_count">(\d+)</td>', section)
    assert [int(c) for c in cells] == kaiping["counts"]
    chart = json.loads(re.search(r'data-chart="([^"]+)"', section).group(1).replace("&#34;", '"').replace("&quot;", '"'))
    assert chart["x"][0] == "2026-10-01" and chart["series"][0]["data"] == kaiping["counts"]


async def test_alert_chart_draws_the_threshold_the_alert_crossed(kaiping):
    """P1's alert is 小于阈值 and its place's minimum is 5: one dashed line at 5 (not the maximum)."""
    unit1 = await login(kaiping, "unit1")
    page = await unit1.get(f"/s/alert_inbox/{kaiping['ids']['alert_P1']}")
    section = page.text[page.text.index('data-related="days"'):]
    chart = json.loads(re.search(r'data-chart="([^"]+)"', section).group(1).replace("&#34;", '"').replace("&quot;", '"'))
    assert chart["lines"] == [{"label": "最小值阈值", "value": 5}]


async def test_other_units_cannot_reach_the_days_of_an_alert_they_cannot_see(kaiping):
    unit2 = await login(kaiping, "unit2")
    assert (await unit2.get(f"/api/related/alert_inbox/{kaiping['ids']['alert_P1']}")).status_code == 404
    assert (await unit2.get(f"/s/alert_inbox/{kaiping['ids']['alert_P1']}")).status_code == 404
    own = await unit2.get(f"/api/related/alert_inbox/{kaiping['ids']['alert_P2']}")
    assert own.status_code == 200 and own.json()["related"][0]["items"] == []
