"""Statistics charts draw the whole filtered result, aggregated in SQL along the chart's axis (SQLite
and PostgreSQL): Xicheng's 45 plan×street groups as 15 street totals, a capped chart as its 10
largest streets plus one 其他 bar holding exactly the rest, a date axis as every day of the
period; and the chart declarations the checker refuses (file:line)."""
from __future__ import annotations

import datetime as dt
import html
import json
import random
import re
from collections import defaultdict

import pytest
from conftest import BACKENDS, api_login, copy_app, start_app
from xicheng_data import PASSWORD, demo_module, load_core

pytestmark = pytest.mark.asyncio(loop_scope="session")

MASS = demo_module("demo_mass_testing")
CAPPED = "chart: {type: bar, x: street, series: [actual, final], top: 10}"


@pytest.fixture(scope="module", params=BACKENDS)
async def xc(request, tmp_path_factory):
    """Xicheng with its mass-testing data; 大规模核酸实检统计 charted by street with `top: 10`."""
    from specadmin.generator.writer import generate

    app_dir = copy_app("xicheng", tmp_path_factory.mktemp(f"charts-{request.param}"))
    spec = app_dir / "modules" / "mass_testing.yaml"
    text = spec.read_text(encoding="utf-8")
    assert text.count("chart: {type: bar, x: plan, series: [actual, final]}") == 1
    spec.write_text(text.replace("chart: {type: bar, x: plan, series: [actual, final]}", CAPPED), encoding="utf-8")
    generate(app_dir)
    app, _ = await start_app(app_dir, request.param)
    try:
        orgs = await load_core(app.state.ctx, seed=11)
        await MASS.load(app.state.ctx, random.Random(12), orgs)
        yield {"app": app, "ctx": app.state.ctx, "district": await api_login(app, "district", PASSWORD)}
    finally:
        for hook in app.on_shutdown:
            await hook(app)


def by_street(items: list[dict], names: tuple[str, ...]) -> dict[str, dict[str, int]]:
    out: dict[str, dict[str, int]] = defaultdict(lambda: dict.fromkeys(names, 0))
    for i in items:
        for n in names:
            out[i["street_label"]][n] += i[n]
    return dict(out)


async def test_chart_covers_every_group_summed_along_its_axis_not_only_the_page(xc):
    district = xc["district"]
    table = (await district.get("/api/stats/district_edited_stats")).json()
    assert table["total"] == 45
    r = await district.get("/api/stats/district_edited_stats/chart")
    assert r.status_code == 200, r.text
    chart = r.json()["chart"]
    want = by_street(table["items"], ("planned", "final"))
    got = {x: {s["name"]: s["data"][i] for s in chart["series"]} for i, x in enumerate(chart["x"])}
    assert got == want and len(chart["x"]) == 15 and chart["other"] is None
    assert sum(chart["series"][0]["data"]) == table["totals"]["planned"]
    # The page (20 table rows) embeds the same 15 street totals.
    page = await district.get("/s/district_edited_stats")
    assert page.status_code == 200 and page.text.count('<tr class="row"') == 20
    embedded = json.loads(html.unescape(re.search(r'id="stat-chart" data-chart="([^"]+)"', page.text).group(1)))
    assert embedded["x"] == chart["x"] and embedded["series"] == chart["series"]


async def test_a_capped_chart_shows_the_largest_categories_and_one_other_bar_with_the_rest(xc):
    district = xc["district"]
    table = (await district.get("/api/stats/mass_actual_stats")).json()
    chart = (await district.get("/api/stats/mass_actual_stats/chart")).json()["chart"]
    want = by_street(table["items"], ("actual", "final"))
    assert table["total"] == 45 and len(want) == 15
    assert len(chart["x"]) == 11 and chart["x"][-1] == "其他（5项）" and chart["other"] == {"count": 5}
    assert "其余 5 项合并为“其他”" in chart["note"]
    kept = chart["x"][:10]
    assert sorted(want[k]["actual"] for k in kept) == sorted(v["actual"] for v in want.values())[-10:]
    for s in chart["series"]:
        assert s["data"][:10] == [want[k][s["name"]] for k in kept]
        assert s["data"][10] == sum(v[s["name"]] for k, v in want.items() if k not in kept)
        assert sum(s["data"]) == table["totals"][s["name"]]


async def test_a_day_key_gives_a_time_axis_with_every_day_of_the_period(xc):
    district = xc["district"]
    period = {"date_from": "2000-01-01", "date_to": "2000-01-05"}
    empty = (await district.get("/api/stats/bigscreen_sampling_by_street/chart", params=period)).json()["chart"]
    assert empty["x"] == []  # nothing counted: nothing to draw
    rows = await xc["ctx"].table("sampling").select()
    last = max(r["sample_time"] for r in rows).date()
    first = last - dt.timedelta(days=9)
    params = {"date_from": first.isoformat(), "date_to": last.isoformat()}
    chart = (await district.get("/api/stats/bigscreen_sampling_by_street/chart", params=params)).json()["chart"]
    days = [(first + dt.timedelta(days=i)).isoformat() for i in range(10)]
    persons = dict.fromkeys(days, 0)
    for r in rows:
        if r["sample_time"].date().isoformat() in persons:
            persons[r["sample_time"].date().isoformat()] += r["person_count"]
    assert chart["axis"] == "time" and chart["x"] == days
    assert chart["series"][0]["data"] == [persons[d] for d in days]


STAT_SPEC = """\
entities:
  done:
    label: 实检
    fields:
      unit: {type: ref, to: org, label: 单位}
      count: {type: integer, label: 实检}
      day: {type: date, label: 日期}
  should:
    label: 应检
    fields:
      unit: {type: ref, to: org, label: 单位}
      planned: {type: integer, label: 应检}
      low: {type: integer, label: 下限}
  visit:
    label: 走访
    fields:
      should: {type: ref, to: should, label: 应检}
      day: {type: date, label: 日期}
      people: {type: integer, label: 人数}
screens:
  s:
    entity: done
    label: 统计
    stat:
      group_by: [unit, date(day)]
      measures:
        planned: {agg: sum, field: planned, from: should, match: {unit: unit}, label: 应检}
        final: {agg: sum, field: count, label: 实检}
      chart:
        x: unit
        series: [planned, final]
  should_admin:
    entity: should
    label: 应检
    related:
      visits:
        label: 走访
        entity: visit
        via: should
        columns: [day, people]
        chart:
          x: day
          lines:
            low: 下限
"""


@pytest.mark.parametrize("old,new,needle,code", [
    ("        x: unit\n", "        x: final\n", "x: final", "SA090"),  # a measure is no axis
    ("        x: unit\n", "        x: day\n", "x: day", "SA090"),  # planned cannot be split by day
    ("            low: 下限\n", "            lowest: 下限\n", "lowest: 下限", "SA044"),
    ("            low: 下限\n", "            unit: 单位\n", "unit: 单位", "SA044"),  # not numeric
    ("            low: 下限\n", "            low: {label: 下限, when: {colour: red}}\n", "low: {label", "SA080"),
])
async def test_chart_axis_and_line_mistakes_are_reported_at_their_line(tmp_path, old, new, needle, code):
    from specadmin.generator.build import load_app
    from specadmin.generator.errors import SpecInvalid

    (tmp_path / "modules").mkdir()
    (tmp_path / "app.yaml").write_text("app: demo\nlabel: 示例\nmodules: [main]\n", encoding="utf-8")
    main = tmp_path / "modules" / "main.yaml"
    main.write_text(STAT_SPEC, encoding="utf-8")
    app = load_app(tmp_path)  # the base spec is valid
    assert app.screen("should_admin").related[0].chart.lines[0].label == "下限"
    broken = STAT_SPEC.replace(old, new)
    main.write_text(broken, encoding="utf-8")
    with pytest.raises(SpecInvalid) as info:
        load_app(tmp_path)
    line = next(i for i, text in enumerate(broken.splitlines(), 1) if needle in text)
    assert any(e.code == code and e.line == line for e in info.value.errors), [str(e) for e in info.value.errors]
