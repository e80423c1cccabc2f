"""Statistics engine on SQLite and PostgreSQL, checked against sums computed here over the same
random Xicheng mass-testing and sampling data: group by a ref path and by day, sums, the derived
difference, street-edited-or-original, sort and SQL paging, totals; data scope (also in exports
and big-screen feeds); exports; the street correction keeps the original and records who/when.
"""
from __future__ import annotations

import csv
import datetime as dt
import io
import random
import re
from collections import defaultdict

import httpx
import pytest
from conftest import BACKENDS, api_login, running_app
from xicheng_data import PASSWORD, demo_module, load_core

pytestmark = pytest.mark.asyncio(loop_scope="session")


MASS = demo_module("demo_mass_testing")
WIDE = {"date_from": "2000-01-01", "date_to": "2099-12-31"}


@pytest.fixture(scope="module", params=BACKENDS)
async def xc(request, tmp_path_factory):
    async with running_app("xicheng", tmp_path_factory, request.param, "stats") as app:
        ctx = app.state.ctx
        orgs = await load_core(ctx, seed=11)
        await MASS.load(ctx, random.Random(12), orgs)
        yield {"app": app, "ctx": ctx, "orgs": orgs}


async def login(env, username: str):
    return await api_login(env["app"], username, PASSWORD)


async def rows(env, entity: str) -> list[dict]:
    return await env["ctx"].table(entity).select()


async def expected_mass(env) -> dict[tuple, dict]:
    """(plan, street) -> planned, actual, final, difference, computed in Python."""
    out: dict[tuple, dict] = defaultdict(lambda: {"planned": 0, "actual": 0, "final": 0})
    for r in await rows(env, "mass_test_should"):
        out[(r["plan"], r["street"])]["planned"] += r["planned_count"]
    for r in await rows(env, "mass_test_actual"):
        key = (r["plan"], r["street"])
        out[key]["actual"] += r["actual_count"]
        out[key]["final"] += r["street_edited_count"] if r["street_edited_count"] is not None else r["actual_count"]
    for v in out.values():
        v["difference"] = v["planned"] - v["final"]
    return out


async def test_edited_or_original_and_difference_match_an_independent_sum(xc):
    district = await login(xc, "district")
    r = await district.get("/api/stats/district_edited_stats")
    assert r.status_code == 200, r.text
    body = r.json()
    got = {(i["plan"], i["street"]): {k: i[k] for k in ("planned", "actual", "final", "difference")}
           for i in body["items"]}
    want = await expected_mass(xc)
    assert got == dict(want) and body["total"] == 45
    assert any(v["final"] != v["actual"] for v in want.values())  # the data has street corrections
    assert body["totals"]["difference"] == sum(v["difference"] for v in want.values())
    assert body["totals"]["planned"] == sum(v["planned"] for v in want.values())
    assert body["items"][0]["plan.plan_name"] and body["items"][0]["street_label"].endswith("街道")


async def test_group_by_ref_path_and_day_matches_an_independent_count(xc):
    district = await login(xc, "district")
    r = await district.get("/api/stats/bigscreen_sampling_by_street", params=WIDE)
    assert r.status_code == 200, r.text
    site_street = {s["site_code"]: s["street"] for s in await rows(xc, "testing_site")}
    want: dict[tuple, list[int]] = defaultdict(lambda: [0, 0])
    for s in await rows(xc, "sampling"):
        key = (site_street[s["site"]], s["sample_time"].date().isoformat())
        want[key][0] += 1
        want[key][1] += s["person_count"]
    got = {(i["site.street"], i["day"]): [i["samples"], i["persons"]] for i in r.json()["items"]}
    assert got == dict(want)


async def test_sort_by_measure_and_paging_happen_in_sql_order(xc):
    district = await login(xc, "district")
    full = (await district.get("/api/stats/district_edited_stats", params={"sort": "-difference"})).json()
    diffs = [i["difference"] for i in full["items"]]
    assert diffs == sorted(diffs, reverse=True)
    page2 = (await district.get("/api/stats/district_edited_stats",
                                params={"sort": "-difference", "page": 2, "page_size": 10})).json()
    assert page2["total"] == 45 and len(page2["items"]) == 10
    assert [i["difference"] for i in page2["items"]] == diffs[10:20]
    bad = await district.get("/api/stats/district_edited_stats", params={"sort": "nonsense"})
    assert bad.status_code == 400
    wrong_type = await district.get("/api/stats/district_edited_stats", params={"street": "abc"})
    assert wrong_type.status_code == 400  # typed like the page's filters, never a database error


async def test_street_user_sees_only_its_street_in_stats_export_and_bigscreen(xc):
    own = xc["orgs"]["XC-S01"]
    street1 = await login(xc, "street1")
    items = (await street1.get("/api/stats/mass_actual_stats")).json()["items"]
    assert items and {i["street"] for i in items} == {own}
    want = await expected_mass(xc)
    assert {(i["plan"], i["street"]): i["final"] for i in items} == {
        k: v["final"] for k, v in want.items() if k[1] == own}
    r = await street1.get("/api/stats/mass_actual_stats/export.csv")
    assert r.status_code == 200, r.text
    table = list(csv.reader(io.StringIO(r.content.decode("utf-8-sig"))))
    assert table[0] == ["计划编号", "街道", "计划名称", "实检人数（上报）", "实检人数（街道修改后）"]
    assert {row[1] for row in table[1:-1]} == {"西长安街街道"} and table[-1][0] == "合计"
    assert int(table[-1][4]) == sum(v["final"] for k, v in want.items() if k[1] == own)
    feed = (await street1.get("/api/bigscreen/bigscreen_mass_by_street")).json()
    assert [i["street"] for i in feed["items"]] == [own]
    planned = sum(v["planned"] for k, v in want.items() if k[1] == own)
    assert feed["items"][0]["planned"] == planned
    assert feed["items"][0]["difference"] == planned - sum(v["final"] for k, v in want.items() if k[1] == own)
    assert {m["key"] for m in feed["measures"]} == {"planned", "actual", "difference"}
    # district-only statistics and feeds are refused
    assert (await street1.get("/api/stats/district_edited_stats")).status_code == 403
    assert (await street1.get("/api/bigscreen/bigscreen_emb_street")).status_code == 403
    assert (await street1.get("/api/stats/district_actual_stats/export.xlsx")).status_code == 403


async def test_export_needs_the_export_grant_and_xlsx_has_chinese_headers_and_totals(xc):
    from openpyxl import load_workbook

    street1 = await login(xc, "street1")
    assert (await street1.get("/api/stats/mass_should_stats/export.csv")).status_code == 403  # list only
    district = await login(xc, "district")
    r = await district.get("/api/stats/district_actual_stats/export.xlsx", params={"plan": "DG20261101"})
    assert r.status_code == 200, r.text
    sheet = load_workbook(io.BytesIO(r.content)).active
    values = list(sheet.values)
    assert values[0] == ("街道", "实检人数")
    first_plan = [a for a in await rows(xc, "mass_test_actual") if a["plan"] == "DG20261101"]
    assert len(values) == 1 + 15 + 1 and values[-1][0] == "合计"
    assert values[-1][1] == sum(a["actual_count"] for a in first_plan)
    counts = [v[1] for v in values[1:-1]]
    assert counts == sorted(counts, reverse=True)  # the stat's declared sort: -actual


async def test_bigscreen_feed_has_emb_fields_and_unflagged_stats_are_not_feeds(xc):
    district = await login(xc, "district")
    feed = (await district.get("/api/bigscreen/bigscreen_emb_street", params={"plan": "DG20261108"})).json()
    item = feed["items"][0]
    for key in ("plan", "street_label", "plan.plan_name", "plan.start_time", "plan.end_time",
                "planned", "actual", "difference"):
        assert item.get(key) is not None, key
    assert len(feed["items"]) == 15 and {i["plan"] for i in feed["items"]} == {"DG20261108"}
    assert (await district.get("/api/bigscreen/district_edited_stats")).status_code == 404
    names = {f["name"] for f in (await district.get("/api/bigscreen")).json()["items"]}
    assert "bigscreen_emb_street" in names and "district_edited_stats" not in names
    anonymous = httpx.AsyncClient(transport=httpx.ASGITransport(app=xc["app"]), base_url="http://testserver")
    assert (await anonymous.get("/ext/api/bigscreen/bigscreen_emb_street")).status_code == 401


async def test_bigscreen_feed_for_an_api_caller_uses_its_role(xc):
    from specadmin.runtime.api_callers.keys import issue_token, register_key

    ctx = xc["ctx"]
    await register_key(ctx, "bigscreen_stats_caller", role="district_admin")
    token = await issue_token(ctx, "bigscreen_stats_caller")
    caller = httpx.AsyncClient(transport=httpx.ASGITransport(app=xc["app"]), base_url="http://testserver",
                               headers={"Authorization": f"Bearer {token}"})
    r = await caller.get("/ext/api/bigscreen/bigscreen_sites_by_street")
    assert r.status_code == 200, r.text
    assert sum(i["sites"] for i in r.json()["items"]) == len(await rows(xc, "testing_site"))


async def test_street_correction_keeps_the_original_and_records_who_and_when(xc):
    ctx, own, other = xc["ctx"], xc["orgs"]["XC-S01"], xc["orgs"]["XC-S02"]
    table = ctx.table("mass_test_actual")
    mine = (await table.select().where(table.street == own, table.plan == "DG20261115"))[0]
    theirs = (await table.select().where(table.street == other, table.plan == "DG20261115"))[0]
    street1 = await login(xc, "street1")
    screen = {"screen": "mass_actual_query"}
    # The grant lets a street change only 街道修改后实检人数: the reported figure is refused.
    r = await street1.patch(f"/api/mass_test_actual/{mine['id']}", params=screen, json={"actual_count": 1})
    assert r.status_code == 422 and "actual_count" in r.json()["errors"], r.text
    r = await street1.patch(f"/api/mass_test_actual/{mine['id']}", params=screen, json={"street_edited_count": 4321})
    assert r.status_code == 200, r.text
    after = (await table.select().where(table.id == mine["id"]))[0]
    user = ctx.table("user")
    uid = (await user.select(user.id).where(user.username == "street1"))[0]["id"]
    assert after["street_edited_count"] == 4321 and after["actual_count"] == mine["actual_count"]
    assert after["edited_by"] == uid and abs(after["edited_at"] - dt.datetime.now()) < dt.timedelta(minutes=5)
    r = await street1.patch(f"/api/mass_test_actual/{theirs['id']}", params=screen, json={"street_edited_count": 1})
    assert r.status_code == 404
    assert (await table.select().where(table.id == theirs["id"]))[0] == theirs
    bad = await street1.patch(f"/api/mass_test_actual/{mine['id']}", params=screen, json={"street_edited_count": -5})
    assert bad.status_code == 422
    # the district statistic now shows the corrected value beside the original
    district = await login(xc, "district")
    items = (await district.get("/api/stats/district_edited_stats", params={"plan": "DG20261115"})).json()["items"]
    row = next(i for i in items if i["street"] == own)
    assert row["final"] == 4321 and row["actual"] == mine["actual_count"]


async def test_only_streets_correct_their_figures_not_the_district(xc):
    ctx, own = xc["ctx"], xc["orgs"]["XC-S03"]
    table = ctx.table("mass_test_actual")
    row = (await table.select().where(table.street == own, table.plan == "DG20261115"))[0]
    district = await login(xc, "district")
    # 区级管理员 has no update grant on the street screen: only streets correct, through 编辑.
    r = await district.patch(f"/api/mass_test_actual/{row['id']}", params={"screen": "mass_actual_query"},
                             json={"street_edited_count": 5})
    assert r.status_code == 403
    assert (await table.select(table.edited_by).where(table.id == row["id"]))[0]["edited_by"] == row["edited_by"]


async def test_expression_grammar_refuses_sql_and_unknown_names():
    from specadmin.runtime.stats.expr import ExprError, evaluate, names, parse

    tree = parse("(planned - actual) * 2 + 1")
    assert names(tree) == {"planned", "actual"} and evaluate(tree, {"planned": 10, "actual": 4}) == 13
    for text in ("planned; drop table x", "planned - ", "select(1)", "planned / actual", "a b"):
        with pytest.raises(ExprError):
            parse(text)



STAT_SPEC = """\
entities:
  plan:
    label: 计划
    display: name
    fields:
      code: {type: string, label: 编号, required: true, unique: true}
      name: {type: string, label: 名称}
  should:
    label: 应检
    fields:
      plan: {type: ref, to: plan, key: code, label: 计划}
      unit: {type: ref, to: org, label: 单位}
      planned: {type: integer, label: 应检}
  done:
    label: 实检
    fields:
      plan: {type: ref, to: plan, key: code, label: 计划}
      unit: {type: ref, to: org, label: 单位}
      count: {type: integer, label: 实检}
      fixed: {type: integer, label: 修改后}
      day: {type: date, label: 日期}
screens:
  s:
    entity: done
    label: 统计
    stat:
      group_by: [plan, unit, plan.name, month(day)]
      measures:
        planned: {agg: sum, field: planned, from: should, match: {plan: plan, unit: unit}, label: 应检}
        final: {agg: sum, coalesce: [fixed, count], label: 实检}
        gap: {expr: planned - final, label: 差值}
      sort: -gap
      chart: {type: line, x: unit, series: [planned, gap]}
"""


@pytest.mark.parametrize("old,new,needle", [
    ("expr: planned - final", "expr: planned - later", "not measures declared before it"),
    ("expr: planned - final", "expr: 'planned; drop'", "表达式"),
    ("match: {plan: plan, unit: unit}", "match: {plan: plan, unit: day}", "not a stored group key"),
    ("sort: -gap", "sort: -nothing", "neither a group key"),
    ("month(day)", "month(count)", "needs a date or datetime field"),
    ("coalesce: [fixed, count]", "coalesce: [fixed, plan]", "not a numeric field"),
    ("series: [planned, gap]", "series: [planned, gone]", "chart series 'gone'"),
])
async def test_stat_spec_mistakes_are_reported_as_sa090(tmp_path, old, new, needle):
    from specadmin.generator.build import load_app
    from specadmin.generator.errors import SpecInvalid

    (tmp_path / "modules").mkdir()
    (tmp_path / "app.yaml").write_text("app: demo\nlabel: 示例\nmodules: [main]\n", encoding="utf-8")
    (tmp_path / "modules" / "main.yaml").write_text(STAT_SPEC, encoding="utf-8")
    app = load_app(tmp_path)  # the base spec is valid
    assert [m.agg for m in app.screen("s").stat.measures] == ["sum", "sum", "expr"]
    assert STAT_SPEC.count(old) == 1
    (tmp_path / "modules" / "main.yaml").write_text(STAT_SPEC.replace(old, new), encoding="utf-8")
    with pytest.raises(SpecInvalid) as info:
        load_app(tmp_path)
    assert any(needle in e.message for e in info.value.errors), [e.message for e in info.value.errors]


async def test_month_groups_match_python_and_too_many_groups_are_refused(xc, monkeypatch):
    from specadmin.specs import model as m
    from specadmin.runtime.stats import query as stats_query
    from specadmin.runtime.errors import BadRequest

    ctx = xc["ctx"]
    screen = m.Screen(name="adhoc", entity="check_in", label="临时", module="t", stat=m.Stat(
        group_by=("month(checkin_time)", "street"),
        measures=(m.Measure(name="n", agg="count", label="次数"),)))
    query = stats_query.StatQuery(ctx, screen, None, lambda entity: None)
    got = {(r["month"], r["street"]): r["n"] for r in await query.page(1, 1000)}
    want: dict = defaultdict(int)
    for r in await rows(xc, "check_in"):
        want[(r["checkin_time"].strftime("%Y-%m"), r["street"])] += 1
    assert got == dict(want)
    assert (await query.totals())["n"] == sum(want.values())
    monkeypatch.setattr(stats_query, "MAX_GROUPS", len(want) - 1)
    with pytest.raises(BadRequest, match="缩小"):
        await query.count_groups()


async def test_bigscreen_page_shows_only_the_feeds_the_user_may_read(xc):
    district, street1 = await login(xc, "district"), await login(xc, "street1")
    page = await district.get("/bigscreen")
    assert page.status_code == 200, page.text[:300]
    assert 'data-feed="bigscreen_emb_street"' in page.text and 'data-feed="bigscreen_sites_by_street"' in page.text
    own = await street1.get("/bigscreen")
    assert own.status_code == 200
    assert set(re.findall(r'data-feed="(\w+)"', own.text)) == {"bigscreen_mass_by_street"}
    assert "新街口街道" not in own.text and "西长安街街道" in own.text
    from specadmin.runtime.identity.users import ensure_user

    await ensure_user(xc["ctx"], "stats_nobody", PASSWORD, org_code="XC-S01")
    nobody = await login(xc, "stats_nobody")
    for url in ("/bigscreen", "/api/bigscreen", "/api/bigscreen/bigscreen_mass_by_street",
                "/api/stats/mass_actual_stats", "/api/stats/mass_actual_stats/export.csv"):
        assert (await nobody.get(url)).status_code == 403, url
