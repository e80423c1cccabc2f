"""Filtered measures, ratios, week/quarter buckets and 环比/同比 of statistics (runtime/stats), on SQLite
and PostgreSQL, through the event-hub example of specs/REFERENCE.md run as written over a synthetic
14-month dataset (2025-11 .. 2026-12); every expected figure is computed here from the rows."""
from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from conftest import BACKENDS, reference_blocks, spec_app, write_spec_app

ASYNC = pytest.mark.asyncio(loop_scope="session")
MODULE = reference_blocks()["modules/hub.yaml"]
APP = "app: hub\nlabel: 事件中枢\nmodules: [hub]\n"
PASSWORD = "Hub@2026xyz"


def month_start(i: int) -> dt.date:
    """The first day of the i-th month from 2025-11."""
    year, month = divmod(2025 * 12 + 10 + i, 12)
    return dt.date(year, month + 1, 1)


def make_rows() -> list[dict]:
    """城管 (unit HQ): i + 1 events in month i, the first (i + 1) // 2 closed, one of them late when
    i % 3 == 0; 环保 (unit U2): 2 open events in even months; 民政 (HQ): three events around the
    turn of 2026/2027 for the ISO weeks (2026-12-28 and 2027-01-03 are 2026-W53, 2027-01-04 W01)."""
    rows = []
    for i in range(14):
        start = month_start(i)
        for k in range(i + 1):
            closed = k < (i + 1) // 2
            rows.append({"title": f"城管{i}-{k}", "line": "城管", "status": "closed" if closed else "open",
                         "late": closed and k == 0 and i % 3 == 0, "unit": "HQ",
                         "reported_at": dt.datetime.combine(start + dt.timedelta(days=k % 27), dt.time(10, 0))})
        if i % 2 == 0:
            for k in range(2):
                rows.append({"title": f"环保{i}-{k}", "line": "环保", "status": "open", "late": False, "unit": "U2",
                             "reported_at": dt.datetime.combine(start + dt.timedelta(days=3 + k), dt.time(9, 0))})
    for day in (dt.date(2026, 12, 28), dt.date(2027, 1, 3), dt.date(2027, 1, 4)):
        rows.append({"title": f"民政{day}", "line": "民政", "status": "closed", "late": False, "unit": "HQ",
                     "reported_at": dt.datetime.combine(day, dt.time(23, 59))})
    return rows


ROWS = make_rows()


def expected(month: str, line: str | None = None, units: tuple[str, ...] = ("HQ", "U2")) -> dict[str, int]:
    """total / closed / on_time of the rows reported in `month` (YYYY-MM), of one line or all."""
    mine = [r for r in ROWS if r["reported_at"].strftime("%Y-%m") == month and r["unit"] in units
            and (line is None or r["line"] == line)]
    closed = [r for r in mine if r["status"] == "closed"]
    return {"total": len(mine), "closed": len(closed), "on_time": len([r for r in closed if not r["late"]])}


def rate(top: int, bottom: int, places: int) -> float | None:
    return None if not bottom else round(top * 100 / bottom, places)


def change(now: int, before: int) -> float | None:
    return None if not before else round((now - before) * 100 / before, 1)


def write_app(app_dir: Path, module: str = MODULE) -> Path:
    return write_spec_app(app_dir, APP, {"hub": module})


@pytest.fixture(scope="module", params=BACKENDS)
async def env(request, tmp_path_factory):
    from specadmin.runtime.identity.users import ensure_user
    from conftest import api_login

    app_dir = write_app(tmp_path_factory.mktemp(f"hub-{request.param}"))
    async with spec_app(app_dir, request.param, PASSWORD, "中枢") as (app, client, hq):
        ctx = app.state.ctx
        org, event = ctx.table("org"), ctx.table("hub_event")
        u2 = (await org.insert(org(code="U2", name="二单位", level="district", org_type="department", active=True,
                                   parent=hq)).returning(org.id))[0]["id"]
        await org.update({org.path: f"/{hq}/{u2}/"}).where(org.id == u2)
        await ctx.refresh_caches()
        units = {"HQ": hq, "U2": u2}
        await event.insert(*[event(**{**r, "unit": units[r["unit"]]}) for r in ROWS])
        await ensure_user(ctx, "viewer", PASSWORD, name="查看员", org_code="HQ", roles=("hub_viewer",))
        viewer = await api_login(app, "viewer", PASSWORD)
        try:
            yield {"app": app, "ctx": ctx, "client": client, "viewer": viewer}
        finally:
            await viewer.aclose()


async def stat(client, screen: str, date_from: str, date_to: str, **params) -> dict:
    r = await client.get(f"/api/stats/{screen}", params={"date_from": date_from, "date_to": date_to, **params})
    assert r.status_code == 200, r.text
    return r.json()


@ASYNC
async def test_filtered_measures_count_only_their_rows_and_ratios_are_empty_on_zero(env):
    body = await stat(env["client"], "hub_monthly", "2026-01-01", "2026-03-31")
    rows = {(r["month"], r["line"]): r for r in body["items"]}
    assert set(rows) == {("2026-01", "城管"), ("2026-01", "环保"), ("2026-02", "城管"), ("2026-03", "城管"),
                         ("2026-03", "环保")}
    for (month, line), row in rows.items():
        want = expected(month, line)
        assert (row["total"], row["closed"], row["on_time"]) == (want["total"], want["closed"], want["on_time"])
        assert row["rate"] == rate(want["closed"], want["total"], 1)
        assert row["on_time_rate"] == rate(want["on_time"], want["closed"], 2)
    assert rows[("2026-01", "环保")]["on_time_rate"] is None  # 0 closed: empty, not an error
    assert rows[("2026-01", "城管")]["closed"] != rows[("2026-01", "城管")]["total"]
    sums = {k: sum(expected(m)[k] for m in ("2026-01", "2026-02", "2026-03")) for k in ("total", "closed", "on_time")}
    totals = body["totals"]
    assert (totals["total"], totals["closed"], totals["on_time"]) == (sums["total"], sums["closed"], sums["on_time"])
    assert totals["rate"] == rate(sums["closed"], sums["total"], 1)  # from the totals, not a sum of rates


@ASYNC
async def test_month_on_month_and_year_on_year_come_from_outside_the_period(env):
    body = await stat(env["client"], "hub_monthly", "2026-11-01", "2026-12-31", line="城管")
    rows = {r["month"]: r for r in body["items"]}
    assert set(rows) == {"2026-11", "2026-12"}
    for month, prev, last_year in (("2026-11", "2026-10", "2025-11"), ("2026-12", "2026-11", "2025-12")):
        now, mom, yoy = expected(month, "城管"), expected(prev, "城管"), expected(last_year, "城管")
        row = rows[month]
        assert (row["total_mom"], row["total_yoy"], row["closed_mom"], row["closed_yoy"]) == \
            (mom["total"], yoy["total"], mom["closed"], yoy["closed"])
        assert row["total_mom_rate"] == change(now["total"], mom["total"])
        assert row["total_yoy_rate"] == change(now["total"], yoy["total"])
        assert row["closed_yoy_rate"] == change(now["closed"], yoy["closed"])
        assert "rate_mom" not in row  # only compare_measures
    assert rows["2026-11"]["total_yoy"] == 1 and rows["2026-11"]["total_yoy_rate"] == 1200.0
    totals = body["totals"]
    assert totals["total_mom"] == expected("2026-10", "城管")["total"] + expected("2026-11", "城管")["total"]
    assert totals["total_yoy"] == expected("2025-11", "城管")["total"] + expected("2025-12", "城管")["total"]


@ASYNC
async def test_year_on_year_of_a_group_without_last_years_rows_is_zero_and_its_rate_empty(env):
    body = await stat(env["client"], "hub_monthly", "2025-11-01", "2025-11-30")
    row = {r["line"]: r for r in body["items"]}["城管"]
    assert (row["total_yoy"], row["total_yoy_rate"]) == (0, None)
    assert row["total_mom"] == 0


@ASYNC
async def test_quarter_buckets_with_comparisons(env):
    body = await stat(env["client"], "hub_quarterly", "2026-10-01", "2026-12-31")
    assert [r["quarter"] for r in body["items"]] == ["2026-Q4"]
    months = {"2026-Q4": ("2026-10", "2026-11", "2026-12"), "2026-Q3": ("2026-07", "2026-08", "2026-09"),
              "2025-Q4": ("2025-11", "2025-12")}
    count = {q: sum(expected(m)["total"] for m in ms) for q, ms in months.items()}
    row = body["items"][0]
    assert (row["total"], row["total_mom"], row["total_yoy"]) == (count["2026-Q4"], count["2026-Q3"], count["2025-Q4"])
    assert row["total_yoy_rate"] == change(count["2026-Q4"], count["2025-Q4"])
    in_q4 = [r for r in ROWS if r["reported_at"].strftime("%Y-%m") in months["2026-Q4"]]
    assert row["open_or_late"] == len([r for r in in_q4 if r["status"] == "open" or r["late"]])
    assert row["open_or_late"] != row["total"] - row["closed"] - row["late"]  # a - (b - c), not a - b - c
    assert body["totals"]["open_or_late"] == row["open_or_late"]


@ASYNC
async def test_iso_week_buckets_and_their_time_axis(env):
    body = await stat(env["client"], "hub_weekly", "2026-12-21", "2027-01-10")
    counts = {r["week"]: r["total"] for r in body["items"]}
    week53 = len([r for r in ROWS if dt.date(2026, 12, 28) <= r["reported_at"].date() <= dt.date(2027, 1, 3)])
    assert counts == {"2026-W53": week53, "2027-W01": 1}  # 2026-W52 has no rows
    assert week53 == 2  # 2026-12-28 and 2027-01-03 (23:59) fall in the same ISO week
    chart = (await env["client"].get("/api/stats/hub_weekly/chart",
                                     params={"date_from": "2026-12-21", "date_to": "2027-01-17"})).json()["chart"]
    assert chart["axis"] == "time"
    assert chart["keys"] == ["2026-W52", "2026-W53", "2027-W01", "2027-W02"]
    assert chart["series"][0]["data"] == [0, week53, 1, 0]


@ASYNC
async def test_scoped_user_counts_only_own_rows(env):
    body = await stat(env["viewer"], "hub_monthly", "2026-01-01", "2026-01-31")
    assert [(r["month"], r["line"]) for r in body["items"]] == [("2026-01", "城管")]
    assert body["items"][0]["total_yoy"] == expected("2025-01", "城管", ("HQ",))["total"]


@ASYNC
async def test_stat_page_shows_labelled_comparison_and_ratio_columns(env):
    r = await env["client"].get("/s/hub_monthly", params={"date_from": "2026-12-01", "date_to": "2026-12-31"})
    assert r.status_code == 200, r.text[:300]
    for label in ("办结率", "事件数上期", "事件数环比(%)", "已办结去年同期", "已办结同比(%)"):
        assert f">{label}<" in r.text, label


def test_check_names_broken_ratios_filters_and_comparisons_at_their_lines(tmp_path, capsys):
    from specadmin.cli import main

    broken = (MODULE.replace("ratio: [closed, total]", "ratio: [closed, nothing]")
              .replace("where: {status: closed}, label: 已办结}", "where: {state: closed}, label: 已办结}", 1)
              .replace("{expr: total - (closed - late), label", "{expr: total - (closed - late), where: {late: true}, label")
              .replace("group_by: [week(reported_at)]", "group_by: [week(reported_at)]\n      compare: [yoy]")
              .replace("drill: hub_event_admin", "drill: hub_weekly"))
    write_app(tmp_path, broken)
    assert main(["check", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    lines = broken.splitlines()

    def line_of(text: str) -> int:
        return next(i for i, line in enumerate(lines, 1) if text in line)

    found = sorted(e.removeprefix(f"{tmp_path.name}/") for e in err.splitlines() if "[SA" in e)
    assert found == sorted([
        f"modules/hub.yaml:{line_of('where: {state: closed}')}: [SA080] where: 'state' is not a stored field of 'hub_event'",
        f"modules/hub.yaml:{line_of('ratio: [closed, nothing]')}: [SA200] measure 'rate': ratio operand 'nothing' is not "
        "a measure declared before it",
        f"modules/hub.yaml:{line_of('where: {late: true}')}: [SA201] measure 'open_or_late': where filters the rows of an "
        "aggregate; put it on the measures this one uses",
        f"modules/hub.yaml:{line_of('compare: [yoy]')}: [SA202] compare 'yoy' (同比) needs a first group key month(x), "
        "quarter(x), year(x); it is 'week(reported_at)'",
        f"modules/hub.yaml:{line_of('drill: hub_weekly')}: [SA203] drill: 'hub_weekly' is not a list screen of 'hub_event'",
    ]), err


async def drilled_total(client, **params) -> int:
    r = await client.get("/api/hub_event", params={"screen": "hub_event_admin", "stat": "hub_monthly", **params})
    assert r.status_code == 200, r.text
    return r.json()["total"]


@ASYNC
async def test_drill_down_lists_exactly_the_rows_a_cell_counts_within_the_users_scope(env):
    period = {"date_from": "2026-01-01", "date_to": "2026-03-31"}
    for who in ("client", "viewer"):
        body = await stat(env[who], "hub_monthly", **period)
        assert body["items"]
        for row in body["items"]:
            for measure in ("total", "closed", "on_time"):
                got = await drilled_total(env[who], measure=measure, k0=row["month"], k1=row["line"], **period)
                assert got == row[measure], (who, row["month"], row["line"], measure)
        assert await drilled_total(env[who], measure="closed", **period) == body["totals"]["closed"]
    # the viewer (unit HQ) neither counts nor lists U2's 环保 events
    assert await drilled_total(env["viewer"], measure="total", k0="2026-01", k1="环保", **period) == 0
    assert await drilled_total(env["client"], measure="total", k0="2026-01", k1="环保", **period) == 2


@ASYNC
async def test_drill_down_refuses_bad_parameters_with_400_or_403(env):
    base = {"screen": "hub_event_admin", "date_from": "2026-01-01", "date_to": "2026-03-31"}
    cases = [({"stat": "hub_monthly", "measure": "rate"}, 400),   # a ratio lists no rows of its own
             ({"stat": "hub_monthly", "measure": "nope"}, 400),
             ({"stat": "hub_monthly", "measure": "total", "k0": "2026-13"}, 400),
             ({"stat": "hub_monthly", "measure": "total", "k0": "'; drop table hub_event;--"}, 400),
             ({"stat": "hub_quarterly", "measure": "total"}, 403),  # the viewer may not read that statistic
             ({"stat": "no_such_stat", "measure": "total"}, 404)]
    for extra, status in cases:
        r = await env["viewer"].get("/api/hub_event", params={**base, **extra})
        assert r.status_code == status, (extra, r.text)
        assert "统计" in r.text or status == 403


@ASYNC
async def test_stat_page_cells_link_to_the_drilled_list_page(env):
    import html
    import re

    r = await env["viewer"].get("/s/hub_monthly", params={"date_from": "2026-02-01", "date_to": "2026-02-28"})
    assert r.status_code == 200, r.text[:300]
    links = [html.unescape(h) for h in re.findall(r'<a class="drill" href="([^"]+)">', r.text)]
    want = expected("2026-02", "城管", ("HQ",))
    row_links = [u for u in links if "k0=2026-02" in u]
    assert len(row_links) == 3  # total, closed, on_time of the one row (not the ratios)
    closed = next(u for u in row_links if "measure=closed" in u)
    page = await env["viewer"].get(closed)
    assert page.status_code == 200, page.text[:300]
    assert f"共 {want['closed']} 条" in page.text and want["closed"] > 0


@ASYNC
async def test_drilled_list_page_stays_narrowed_on_its_next_page(env):
    import html
    import re

    want = expected("2026-12", "城管", ("HQ",))["total"]
    first = await env["viewer"].get("/s/hub_event_admin", params={
        "stat": "hub_monthly", "measure": "total", "k0": "2026-12", "k1": "城管", "date_from": "2026-12-01",
        "date_to": "2026-12-31", "page_size": "10"})
    assert f"共 {want} 条" in first.text and want > 10
    nexts = [html.unescape(h) for h in re.findall(r'href="(/s/hub_event_admin\?[^"]*page=2[^"]*)"', first.text)]
    assert nexts and all("stat=hub_monthly" in u and "k0=2026-12" in u for u in nexts)
    second = await env["viewer"].get(nexts[0])
    assert f"共 {want} 条" in second.text


@ASYNC
async def test_export_writes_labelled_ratio_and_comparison_columns(env):
    import csv
    import io

    r = await env["client"].get("/api/stats/hub_monthly/export.csv",
                                params={"date_from": "2026-12-01", "date_to": "2026-12-31", "line": "城管"})
    assert r.status_code == 200, r.text
    header, row, total = list(csv.reader(io.StringIO(r.content.decode("utf-8-sig"))))
    cells = dict(zip(header, row))
    now, mom, yoy = expected("2026-12", "城管"), expected("2026-11", "城管"), expected("2025-12", "城管")
    assert cells["月份"] == "2026-12"
    assert float(cells["办结率"]) == rate(now["closed"], now["total"], 1)
    assert (int(cells["事件数上期"]), int(cells["事件数去年同期"])) == (mom["total"], yoy["total"])
    assert float(cells["事件数同比(%)"]) == change(now["total"], yoy["total"])
    assert float(cells["已办结环比(%)"]) == change(now["closed"], mom["closed"])
    assert total[0] == "合计" and int(dict(zip(header, total))["事件数上期"]) == mom["total"]


@ASYNC
async def test_drilled_list_exports_exactly_its_rows(env):
    import csv
    import io

    body = await stat(env["viewer"], "hub_monthly", "2026-12-01", "2026-12-31", line="城管")
    closed = body["items"][0]["closed"]
    params = {"screen": "hub_event_admin", "stat": "hub_monthly", "measure": "closed", "k0": "2026-12", "k1": "城管",
              "date_from": "2026-12-01", "date_to": "2026-12-31", "line": "城管"}
    r = await env["viewer"].get("/api/hub_event/export.csv", params=params)
    assert r.status_code == 200, r.text
    rows = list(csv.reader(io.StringIO(r.content.decode("utf-8-sig"))))[1:]
    assert len(rows) == closed > 0
    assert all("closed" in row for row in rows)


@ASYNC
async def test_big_screen_feed_lists_ratios_and_comparisons_as_measures(env):
    r = await env["client"].get("/api/bigscreen/hub_monthly", params={"date_from": "2026-12-01", "date_to": "2026-12-31"})
    assert r.status_code == 200, r.text
    body = r.json()
    assert [d["key"] for d in body["dimensions"]] == ["month", "line"]
    keys = [m["key"] for m in body["measures"]]
    assert keys[:5] == ["total", "closed", "on_time", "rate", "on_time_rate"]
    assert {"total_mom", "total_mom_rate", "closed_yoy", "closed_yoy_rate"} <= set(keys)
    assert body["items"][0]["total_yoy"] == expected("2025-12", body["items"][0]["line"])["total"]
