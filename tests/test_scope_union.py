"""More than one scope per grant (issue 13, task D item 3): a grant's `scope:` as a list is the union of
its scopes (OR), enforced on every read, write, export and statistic like a single scope: a department
sees the cases it owns (own_and_sub) and those it handles (participated), never a case of neither; a
write may not leave a row outside the union. Bad combinations are reported with file and line. On SQLite
and PostgreSQL; the app is specs/REFERENCE.md's example (tests/desk_fixture.py)."""
from __future__ import annotations

import csv
import io

import pytest
from conftest import BACKENDS, reference_blocks, write_spec_app
from desk_fixture import desk_app

pytestmark = pytest.mark.asyncio(loop_scope="session")


@pytest.fixture(scope="module", params=BACKENDS)
async def desk(request, tmp_path_factory):
    async with desk_app(tmp_path_factory, request.param, "union") as env:
        yield env


async def titles(client, screen: str, **params) -> set[str]:
    r = await client.get("/api/case", params={"screen": screen, "page_size": 100, **params})
    assert r.status_code == 200, r.text
    return {i["title"] for i in r.json()["items"]}


async def test_a_department_sees_the_cases_it_owns_or_handles_and_no_other(desk):
    assert await titles(desk["d1"], "case_all") == {"甲自办", "乙参与", "丁已办结"}  # own, handles, handles
    assert await titles(desk["d2"], "case_all") == {"丙他办"}  # through participated only
    for title in ("甲自办", "乙参与"):
        r = await desk["d1"].get(f"/api/case/{desk['ids'][title]}", params={"screen": "case_all"})
        assert r.status_code == 200 and r.json()["title"] == title, r.text
    r = await desk["d1"].get(f"/api/case/{desk['ids']['丙他办']}", params={"screen": "case_all"})
    assert r.status_code == 404, r.text
    r = await desk["d1"].get(f"/api/case/{desk['ids']['丙他办']}")
    assert r.status_code == 404, r.text


async def test_exports_and_statistics_count_the_union_only(desk):
    r = await desk["d1"].get("/api/case/export", params={"screen": "case_all"})
    assert r.status_code == 200, r.text
    cells = {c for row in csv.reader(io.StringIO(r.content.decode("utf-8-sig"))) for c in row}
    assert {"甲自办", "乙参与", "丁已办结"} <= cells and "丙他办" not in cells
    r = await desk["d1"].get("/api/stats/case_count")
    assert r.status_code == 200, r.text
    assert r.json()["totals"]["cases"] == 2  # 甲自办 and 乙参与 (处置中: the screen's where); not 丙他办
    r = await desk["d2"].get("/api/stats/case_count")
    assert r.status_code == 200 and r.json()["totals"]["cases"] == 1, r.text


async def test_writes_reach_only_rows_in_the_union_and_may_not_leave_it(desk):
    d1, ids, orgs = desk["d1"], desk["ids"], desk["orgs"]
    r = await d1.patch(f"/api/case/{ids['丙他办']}", params={"screen": "case_all"}, json={"title": "改丙"})
    assert r.status_code == 404, r.text
    r = await d1.patch(f"/api/case/{ids['乙参与']}", params={"screen": "case_all"}, json={"title": "乙参与"})
    assert r.status_code == 200, r.text  # reached through participated
    r = await d1.patch(f"/api/case/{ids['甲自办']}", params={"screen": "case_all"}, json={"owner": orgs["D2"]})
    assert r.status_code == 403 and "超出数据权限范围" in r.text, r.text  # neither owned nor handled afterwards
    case = desk["ctx"].table("case")
    stored = await case.select(case.owner).where(case.id == ids["甲自办"])
    assert stored[0]["owner"] == orgs["D1"]  # nothing written


def test_bad_scope_lists_are_reported_with_their_codes_and_lines(tmp_path, capsys):
    from specadmin.cli import main

    text = reference_blocks()["modules/desk.yaml"]
    broken = text.replace(
        "          - {mode: own_and_sub, field: owner}\n          - {mode: participated, through: {entity: case_task, "
        "ref: case, field: org}}\n      case_count:",
        "          - {mode: own_and_sub, field: owner}\n          - {mode: all}\n          - {mode: own_unit, field: owner}\n"
        "          - {mode: own_and_sub, field: owner}\n      case_count:", 1)
    assert broken != text
    write_spec_app(tmp_path, "app: demo\nlabel: 示例\nmodules: [desk]\n", {"desk": broken})
    assert main(["check", str(tmp_path)]) == 1
    lines = broken.splitlines()
    first = next(i for i, line in enumerate(lines, 1) if "- {mode: all}" in line)
    err = [e.removeprefix(f"{tmp_path.name}/") for e in capsys.readouterr().err.splitlines() if "[SA" in e]
    assert err == [
        f"modules/desk.yaml:{first}: [SA240] a list of scopes with mode all is every row: write scope: {{mode: all}}",
        f"modules/desk.yaml:{first + 1}: [SA242] scopes 1 and 3 on the same field: own_and_sub already holds own_unit",
        f"modules/desk.yaml:{first + 2}: [SA241] scope 4 repeats scope 1"]


async def test_an_import_writes_only_rows_inside_the_union(desk):
    from openpyxl import load_workbook

    def sheet(rows) -> bytes:
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow(["事件标题", "发起单位", "状态"])
        writer.writerows(rows)
        return out.getvalue().encode("utf-8")

    data = sheet([("甲自办", "D1", "已办结"), ("丙他办", "T", "已办结"), ("戊新建", "D1", "处置中"), ("己越权", "T", "处置中")])
    r = await desk["d1"].post("/api/case/import", params={"screen": "case_all", "mode": "upsert"},
                              files={"file": ("cases.csv", data)})
    assert r.status_code == 200, r.text
    result = r.json()
    assert (result["ok"], result["bad"]) == (2, 2), result  # 甲自办 (own) updated, 戊新建 (own) created
    report = await desk["d1"].get(result["error_file"])
    rows = list(load_workbook(io.BytesIO(report.content)).active.iter_rows(min_row=2, values_only=True))
    assert [(row[0], row[1]) for row in sorted(rows)] == [
        (3, "发起单位：超出您的数据权限范围"),  # 丙他办: neither owned nor handled
        (5, "发起单位：超出您的数据权限范围")], rows  # 己越权: a new row of another org lies in neither scope
    case = desk["ctx"].table("case")
    stored = {r["title"]: r["status"] for r in await case.select(case.title, case.status)}
    assert stored["丙他办"] == "处置中" and "己越权" not in stored and stored["戊新建"] == "处置中"
    assert stored["甲自办"] == "已办结"
    await case.delete().where(case.title == "戊新建")  # as the other tests expect the table
    await case.update({case.status: "处置中"}).where(case.title == "甲自办")
