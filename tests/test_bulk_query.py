"""Xicheng 批量核酸查询 (seed 000 §二.4) through the HTTP API, on SQLite and PostgreSQL, plus browser
tests: upload a file of ID numbers as a batch, 查询 / 重新查询, results per row, exports (in clear
for street users, who hold `unmask` on the results to follow the people up; masked for anyone
without it; 未查询导出), delete, last-3-days counts per person and street, street scope.

Expected results are computed here from the rows the test itself inserts (plain values), never
read back through the code under test.
"""
from __future__ import annotations

import datetime as dt
import io
import random

import httpx
import pytest
from conftest import BACKENDS, api_login, copy_app, running_app
from xicheng_data import PASSWORD, demo_module

SCREEN = "batch_admin"
AREA = "110199"  # an area code the demo data never uses: these people exist only in this test
NOW = dt.datetime.now().replace(microsecond=0)


DEMO = demo_module()
RNG = random.Random(4)
PEOPLE = [DEMO.id_number(RNG, AREA) for _ in range(6)]
A, B, C, D, E, F = PEOPLE
# (id number, name, institution, days ago, street code): A three tests (two in the last 3 days),
# B one old test, D one recent test in another street, C/E/F none at first.
TESTS = [(A, "张三", "机构甲", 5, "XC-S01"), (A, "张三", "机构乙", 2, "XC-S01"), (A, "张三", "机构丙", 1, "XC-S03"),
         (B, "李四", "机构甲", 10, "XC-S01"), (D, "王五", "机构丁", 0.5, "XC-S02")]


def bad_checksum(number: str) -> str:
    last = "0" if number[-1] != "0" else "1"
    return number[:-1] + last


@pytest.fixture(scope="module", params=BACKENDS)
async def xc(request, tmp_path_factory):
    async with running_app("xicheng", tmp_path_factory, request.param, "bulkq") as app:
        ctx = app.state.ctx
        await DEMO.load(ctx)
        org = ctx.table("org")
        orgs = {r["code"]: r["id"] for r in await org.select(org.id, org.code)}
        env = {"app": app, "ctx": ctx, "orgs": orgs, "tests": []}
        await add_results(env, TESTS)
        await add_checker(ctx)
        yield env


async def add_checker(ctx) -> None:
    """A street-1 person given the batch screens at run time, without `unmask`: sees values masked."""
    from specadmin.runtime.identity.users import ensure_user

    user_id = await ensure_user(ctx, "checker", PASSWORD, name="核查员", org_code="XC-S01")
    grant = ctx.table("grant")
    await grant.insert(grant(user=user_id, screen=SCREEN, actions="list,read,import,run_query,export"),
                       grant(user=user_id, screen="batch_items", actions="list,read,export"),
                       grant(user=user_id, screen="personal_query", actions="list,read"))  # what 查询 may reach


async def add_results(env, tests) -> None:
    """Insert test results and remember them (plain) for the expected values."""
    ctx, orgs = env["ctx"], env["orgs"]
    env["tests"] += tests
    table, entity = ctx.table("test_result"), ctx.app.entity("test_result")
    rows = [ctx.sensitive.encode(entity, {"id_number": n, "name": name, "institution": inst, "result": "negative",
                                          "tested_at": NOW - dt.timedelta(days=days), "street": orgs[street]})
            for n, name, inst, days, street in tests]
    await table.insert(*[table(_ignore_missing=True, **r) for r in rows])


def expected_for(number: str, tests) -> dict:
    """Independent computation: the newest test of the person and the tests in the last 3 days."""
    mine = [t for t in tests if t[0] == number]
    if not mine:
        return {"queried": False, "institution": None, "recent": 0}
    newest = min(mine, key=lambda t: t[3])
    return {"queried": True, "institution": newest[2], "recent": sum(1 for t in mine if t[3] <= 3)}


async def login(env, username: str):
    return await api_login(env["app"], username, PASSWORD)


async def upload(client, numbers: list[str], name: str = "名单.csv") -> httpx.Response:
    body = "身份证号码,姓名\n" + "".join(f"{n},某人{i}\n" for i, n in enumerate(numbers))
    return await client.post(f"/api/bulk_query/{SCREEN}/upload", params={"screen": SCREEN},
                             files={"file": (name, body.encode("utf-8"), "text/csv")})


async def act(client, action: str, batch: int) -> httpx.Response:
    return await client.post(f"/api/query_batch/actions/{action}", params={"screen": SCREEN}, json={"ids": [batch]})


async def items_of(env, batch: int) -> list[dict]:
    """The stored items in file order, with the ID number decrypted (test-side view)."""
    ctx = env["ctx"]
    table = ctx.table("query_item")
    rows = await table.select().where(table.batch == batch).order_by(table.id)
    return [{**r, "id_number": ctx.sensitive.decode(r["id_number"])} for r in rows]


def xlsx_rows(content: bytes) -> list[list]:
    from openpyxl import load_workbook

    sheet = load_workbook(io.BytesIO(content), read_only=True).worksheets[0]
    return [list(r) for r in sheet.iter_rows(values_only=True)]


async def test_upload_with_a_bad_id_number_is_reported_and_writes_nothing(xc):
    from specadmin.runtime.crypto import mask

    checker = await login(xc, "checker")
    ctx = xc["ctx"]
    batches, items = await ctx.table("query_batch").count(), await ctx.table("query_item").count()
    r = await upload(checker, [A, B, bad_checksum(C)])
    assert r.status_code == 200, r.text
    body = r.json()
    assert (body["status"], body["total"], body["ok"], body["bad"]) == ("failed", 3, 0, 1)
    assert body["problems"] == [{"row": 4, "column": "身份证号码", "reason": body["problems"][0]["reason"]}]
    assert await ctx.table("query_batch").count() == batches and await ctx.table("query_item").count() == items
    download = await checker.get(body["error_file"])
    assert "filename*=UTF-8''%E4%B8%8A%E4%BC%A0%E9%94%99%E8%AF%AF-%E5%90%8D%E5%8D%95.xlsx" in \
        download.headers["content-disposition"]  # 上传错误-名单.xlsx
    report = xlsx_rows(download.content)
    assert report[0] == ["原行号", "错误原因", "身份证号码", "姓名"]
    # The row as uploaded, its ID number masked: this uploader holds no unmask on the results.
    assert report[1][0] == 4 and "校验" in report[1][1] and report[1][2:] == [mask(bad_checksum(C), "id_number"), mask("某人2", "name")]
    import zipfile

    with zipfile.ZipFile(io.BytesIO(download.content)) as z:
        assert not any(bad_checksum(C).encode() in z.read(n) for n in z.namelist())
    other = await login(xc, "street2")
    assert (await other.get(body["error_file"])).status_code == 403
    # A street user holds unmask on the results: their own error workbook keeps the row re-uploadable.
    street1 = await login(xc, "street1")
    body = (await upload(street1, [A, bad_checksum(C)])).json()
    assert xlsx_rows((await street1.get(body["error_file"])).content)[1][2:] == [bad_checksum(C), "某人1"]


async def test_query_copies_the_newest_result_and_counts_the_last_three_days(xc):
    street1 = await login(xc, "street1")
    body = (await upload(street1, [A, B, C, D])).json()
    assert body["status"] == "done" and body["ok"] == 4
    batch = body["batch"]
    r = await act(street1, "run_query", batch)
    assert r.status_code == 200 and r.json()["done"] == [batch], r.text
    rows = await items_of(xc, batch)
    assert [i["id_number"] for i in rows] == [A, B, C, D]
    for item in rows:
        want = expected_for(item["id_number"], xc["tests"])
        assert (item["queried"], item["institution"], item["recent_3d_count"]) == \
            (want["queried"], want["institution"], want["recent"]), item["id_number"]
        assert item["street"] == xc["orgs"]["XC-S01"]  # inherited from the batch: the uploader's street
    assert xc["ctx"].sensitive.decode(rows[0]["result_name"]) == "张三"
    batch_row = (await street1.get(f"/api/query_batch/{batch}", params={"screen": SCREEN})).json()
    assert (batch_row["status"], batch_row["row_count"], batch_row["queried_count"]) == ("done", 4, 3)


async def test_requery_picks_up_results_added_after_the_first_query(xc):
    street1 = await login(xc, "street1")
    batch = (await upload(street1, [A, E, F])).json()["batch"]
    await act(street1, "run_query", batch)
    assert [i["queried"] for i in await items_of(xc, batch)] == [True, False, False]
    later = [(E, "赵六", "机构戊", 0.2, "XC-S01"), (A, "张三", "机构己", 0.1, "XC-S01")]
    await add_results(xc, later)
    await act(street1, "run_query", batch)  # 查询: only the rows not found yet
    rows = await items_of(xc, batch)
    assert [i["queried"] for i in rows] == [True, True, False]
    assert rows[0]["institution"] == expected_for(A, TESTS)["institution"] != expected_for(A, later)["institution"]  # A was not looked up again
    r = await act(street1, "requery", batch)  # 重新查询: every row, A's newer test included
    assert r.json()["done"] == [batch]
    rows = await items_of(xc, batch)
    everything = xc["tests"]
    for item in rows:
        want = expected_for(item["id_number"], everything)
        assert (item["queried"], item["institution"], item["recent_3d_count"]) == \
            (want["queried"], want["institution"], want["recent"])


async def test_result_export_is_masked_without_unmask_and_unqueried_export_has_exactly_the_unmatched_rows(xc):
    checker = await login(xc, "checker")
    batch = (await upload(checker, [A, C, B, F])).json()["batch"]
    await act(checker, "run_query", batch)
    r = await checker.get(f"/api/bulk_query/{SCREEN}/export.xlsx", params={"batch": batch})
    assert r.status_code == 200, r.text
    sheet = xlsx_rows(r.content)
    header = sheet[0]
    assert "身份证号码" in header and "检测机构" in header and "近3天核查次数" in header
    col = header.index("身份证号码")
    shown = [row[col] for row in sheet[1:]]
    assert len(shown) == 4 and all("*" in s for s in shown)
    assert not any(n in str(sheet) for n in (A, B, C, F))
    assert [s[:3] + s[-4:] for s in shown] == [n[:3] + n[-4:] for n in (A, C, B, F)]
    r = await checker.get(f"/api/bulk_query/{SCREEN}/export.xlsx", params={"batch": batch, "pending": "true"})
    pending = xlsx_rows(r.content)[1:]
    expected = [n for n in (A, C, B, F) if not expected_for(n, xc["tests"])["queried"]]
    assert [row[col][-4:] for row in pending] == [n[-4:] for n in expected] and len(pending) == 2
    generic = await checker.get("/api/query_item/export.xlsx",
                                params={"screen": "batch_items", "batch": batch, "queried": "false"})
    assert xlsx_rows(generic.content)[1:] == pending  # the same rows through the generic export


async def test_street_users_export_results_in_clear_to_follow_up_and_each_export_is_logged(xc):
    import json

    street1 = await login(xc, "street1")  # the seed's street role holds unmask on 批量查询结果
    batch = (await upload(street1, [A, C, B, F])).json()["batch"]
    await act(street1, "run_query", batch)
    oplog = xc["ctx"].table("oplog")
    before = await oplog.count().where(oplog.op_type == "unmask")
    results = xlsx_rows((await street1.get(f"/api/bulk_query/{SCREEN}/export.xlsx", params={"batch": batch})).content)
    col = results[0].index("身份证号码")
    assert [row[col] for row in results[1:]] == [A, C, B, F]
    pending = await street1.get(f"/api/bulk_query/{SCREEN}/export.xlsx", params={"batch": batch, "pending": "true"})
    unmatched = [n for n in (A, C, B, F) if not expected_for(n, xc["tests"])["queried"]]
    assert [row[col] for row in xlsx_rows(pending.content)[1:]] == unmatched  # 未查询导出: whom to follow up
    logged = await oplog.select(oplog.subject_type, oplog.after).where(oplog.op_type == "unmask").order_by(oplog.id)
    mine = [json.loads(r["after"]) for r in logged[before:] if r["subject_type"] == "query_item"]
    assert [(e["by"], e["screens"], e["rows"]) for e in mine] == [
        ("bulk_query_export", ["batch_items"], 4), ("bulk_query_export", ["batch_items"], len(unmatched))]
    assert "id_number" in mine[0]["fields"] and not any(n in str(logged) for n in (A, B, C, F))


async def test_deleting_a_batch_removes_its_items(xc):
    street1 = await login(xc, "street1")
    batch = (await upload(street1, [A, B])).json()["batch"]
    assert len(await items_of(xc, batch)) == 2
    r = await street1.delete(f"/api/query_batch/{batch}", params={"screen": SCREEN})
    assert r.status_code in (200, 204), r.text
    assert await items_of(xc, batch) == []
    assert (await street1.get(f"/api/query_batch/{batch}", params={"screen": SCREEN})).status_code == 404


async def test_batch_statistics_sum_last_three_day_checks_per_street_and_batch(xc):
    street1, district = await login(xc, "street1"), await login(xc, "district")
    batch = (await upload(street1, [A, A, B, D])).json()["batch"]
    await act(street1, "run_query", batch)
    table = xc["ctx"].table("query_item")
    stored = await table.select(table.street, table.batch, table.recent_3d_count, table.queried_at)
    expected: dict[tuple, list] = {}
    for r in stored:
        if r["queried_at"] is not None:
            slot = expected.setdefault((r["street"], r["batch"]), [0, 0])
            slot[0] += 1
            slot[1] += r["recent_3d_count"]
    r = await district.get("/api/stats/batch_stats", params={"date_from": "2000-01-01", "date_to": "2099-12-31"})
    assert r.status_code == 200, r.text
    got = {(i["street"], i["batch"]): [i["people"], i["recent_checks"]] for i in r.json()["items"]}
    assert got == expected
    assert got[(xc["orgs"]["XC-S01"], batch)] == \
        [4, sum(expected_for(n, xc["tests"])["recent"] for n in (A, A, B, D))]
    mine = (await street1.get("/api/stats/batch_stats", params={"date_from": "2000-01-01"})).json()["items"]
    assert {i["street"] for i in mine} == {xc["orgs"]["XC-S01"]}


async def test_street_user_cannot_see_query_export_or_delete_another_streets_batch(xc):
    street1, street2 = await login(xc, "street1"), await login(xc, "street2")
    batch = (await upload(street1, [A, B])).json()["batch"]
    assert (await street2.get(f"/api/query_batch/{batch}", params={"screen": SCREEN})).status_code == 404
    listed = (await street2.get("/api/query_batch", params={"screen": SCREEN, "page_size": 500})).json()["items"]
    assert batch not in {i["id"] for i in listed} and listed
    for action in ("run_query", "requery"):
        r = await act(street2, action, batch)
        assert r.status_code in (403, 404) or r.json()["done"] == [], r.text
    assert [i["queried_at"] for i in await items_of(xc, batch)] == [None, None]
    r = await street2.get("/api/query_item/export.xlsx", params={"screen": "batch_items", "batch": batch})
    assert r.status_code == 200 and xlsx_rows(r.content)[1:] == []
    assert (await street2.get(f"/api/bulk_query/{SCREEN}/export.xlsx", params={"batch": batch})).status_code == 404
    r = await street2.get("/api/query_item", params={"screen": "batch_items", "batch": batch})
    assert r.json()["total"] == 0
    assert (await street2.delete(f"/api/query_batch/{batch}", params={"screen": SCREEN})).status_code in (403, 404)
    assert len(await items_of(xc, batch)) == 2
    page = await street2.get(f"/s/{SCREEN}")
    assert page.status_code == 200 and f'data-id="{batch}"' not in page.text
    assert f'data-id="{batch}"' in (await street1.get(f"/s/{SCREEN}")).text


async def test_personal_query_matches_the_id_number_exactly_and_exports_the_same_columns(xc):
    district = await login(xc, "district")
    r = await district.get("/api/test_result", params={"screen": "personal_query", "id_number": A})
    items = r.json()["items"]
    mine = [t for t in xc["tests"] if t[0] == A]
    assert r.json()["total"] == len(mine) >= 3
    assert sorted(i["institution"] for i in items) == sorted(t[2] for t in mine)
    r = await district.get("/api/test_result/export.xlsx", params={"screen": "personal_query", "id_number": A})
    sheet = xlsx_rows(r.content)
    assert sheet[0] == ["姓名", "身份证号码", "检测机构", "检测时间"] and len(sheet) - 1 == len(items)



async def test_an_exact_id_number_finds_tests_in_every_street_but_browsing_stays_in_the_street(xc):
    street2 = await login(xc, "street2")  # A was tested in XC-S01 and XC-S03 only; D in XC-S02
    oplog = xc["ctx"].table("oplog")
    logged = await oplog.count().where(oplog.subject_type == "test_result")
    r = await street2.get("/api/test_result", params={"screen": "personal_query", "id_number": A})
    assert r.json()["total"] == len([t for t in xc["tests"] if t[0] == A]) >= 3  # declared `lookup:` on the screen
    rows = (await street2.get("/api/test_result", params={"screen": "personal_query", "page_size": 500})).json()
    assert rows["total"] >= 1 and {i["street"] for i in rows["items"]} == {xc["orgs"]["XC-S02"]}
    r = await street2.get("/api/test_result/export.xlsx", params={"screen": "personal_query", "id_number": A})
    assert len(xlsx_rows(r.content)) - 1 == len([t for t in xc["tests"] if t[0] == A])
    entries = [e["after"] for e in await oplog.select(oplog.after).where(oplog.subject_type == "test_result")]
    assert sum('"lookup"' in e for e in entries[logged:]) == 2  # the list and the export
    assert not any(A in e for e in entries)  # the ID number itself is never in the log


async def test_the_batch_query_looks_up_as_the_personal_query_does_and_is_logged(xc):
    street2 = await login(xc, "street2")
    batch = (await upload(street2, [A, D])).json()["batch"]
    oplog = xc["ctx"].table("oplog")
    logged = await oplog.count().where(oplog.subject_type == "test_result")
    assert (await act(street2, "run_query", batch)).json()["done"] == [batch]
    assert [i["queried"] for i in await items_of(xc, batch)] == [True, True]  # A only elsewhere, D at home
    assert await oplog.count().where(oplog.subject_type == "test_result") == logged + 1


def test_bulk_query_spec_with_bad_names_is_reported_as_sa130(tmp_path):
    from specadmin.generator.build import load_app
    from specadmin.generator.errors import SpecInvalid

    app_dir = copy_app("xicheng", tmp_path / "xc")
    results = app_dir / "modules" / "results.yaml"
    text = results.read_text(encoding="utf-8")
    broken = text.replace("      source: test_result\n", "      source: test_resultz\n").replace(
        "      recent_count: recent_3d_count\n", "      recent_count: recent_3d_count\n      batch_field: street\n")
    results.write_text(broken, encoding="utf-8")
    with pytest.raises(SpecInvalid) as info:
        load_app(app_dir)
    found = [e for e in info.value.errors if e.code == "SA130"]
    assert any("unknown entity 'test_resultz'" in e.message for e in found), found
    fixed = text.replace("      recent_count: recent_3d_count\n",
                         "      recent_count: name\n      batch_field: street\n").replace(
        "copy: {result_name: name,", "copy: {result_name: institution,")
    results.write_text(fixed, encoding="utf-8")
    with pytest.raises(SpecInvalid) as info:
        load_app(app_dir)
    messages = " ".join(e.message for e in info.value.errors if e.code == "SA130")
    assert "'query_item.street' must be a ref to 'query_batch'" in messages
    assert "recent_count 'name' is not an integer field" in messages
    assert "'query_item.result_name' and 'test_result.institution' differ" in messages
    assert all(e.file.endswith("results.yaml") and e.line > 0 for e in info.value.errors if e.code == "SA130")


# -- browser -------------------------------------------------------------------
@pytest.fixture(scope="module")
def server(tmp_path_factory):
    from browser_support import serve

    with serve(copy_app("xicheng", tmp_path_factory.mktemp("bulkq-browser")), DEMO.load) as base:
        yield base


@pytest.mark.browser
def test_street_user_uploads_a_file_clicks_query_and_sees_the_results(server, chromium_path, tmp_path):
    from browser_support import chromium, login as browser_login

    known = DEMO.id_number(random.Random("demo_results"))  # the demo's first tested person (demo_results.py)
    rng = random.Random(9)
    numbers = [known] + [DEMO.id_number(rng, "110198") for _ in range(2)]
    path = tmp_path / "核查名单.csv"
    path.write_text("身份证号码,姓名\n" + "".join(f"{n},测试{i}\n" for i, n in enumerate(numbers)), encoding="utf-8")
    with chromium(chromium_path) as browser:
        page = browser_login(browser, server, "street1", PASSWORD)
        page.click("a.tile[data-screen=batch_admin]")  # the home page tile (the menu group is folded)
        page.set_input_files("#import-file", str(path))
        page.click("#btn-import")
        page.wait_for_selector("#import-result:has-text('导入完成')")
        page.wait_for_load_state("load")
        page.goto(f"{server}/s/{SCREEN}")
        row = page.locator("tr.row:has-text('核查名单.csv')")
        assert row.count() == 1 and "已导入" in row.inner_text()
        row.locator("button[data-action=run_query]").click()
        assert "查询成功 1 条" in page.locator(".flash").inner_text()
        row = page.locator("tr.row:has-text('核查名单.csv')")
        assert "已查询" in row.inner_text()
        row.locator("a.op-items").click()
        cells = page.locator("table.list tr.row").all_inner_texts()
        assert len(cells) == 3 and all(n[-4:] in " ".join(cells) for n in numbers)
        found = page.locator(f"table.list tr.row:has-text('{known[-4:]}')").inner_text()
        institutions = demo_module("demo_results").INSTITUTIONS
        assert any(i in found for i in institutions) and "是" in found  # copied from the demo's result


@pytest.mark.browser
def test_street_user_skips_a_bad_id_number_sees_it_listed_and_exports_the_batch_in_clear(server, chromium_path,
                                                                                         tmp_path):
    from browser_support import chromium, login as browser_login

    rng = random.Random(11)
    good = [DEMO.id_number(rng, "110197") for _ in range(2)]
    path = tmp_path / "待核查.csv"
    path.write_text("身份证号码,姓名\n" + f"{good[0]},甲\n{bad_checksum(good[1])},乙\n{good[1]},丙\n", encoding="utf-8")
    with chromium(chromium_path) as browser:
        page = browser_login(browser, server, "street1", PASSWORD)
        page.goto(f"{server}/s/{SCREEN}")
        page.check("#import-mode-skip_bad_rows")
        page.set_input_files("#import-file", str(path))
        page.click("#btn-import")
        page.wait_for_selector("#import-result:has-text('导入完成')")
        assert "共 3 行，导入 2 行，跳过错误行 1 行" in page.inner_text("#import-result")
        cells = [c.strip() for c in page.locator("#import-problems tr.import-problem td").all_inner_texts()]
        assert cells[:2] == ["3", "身份证号码"] and "校验" in cells[2]
        page.goto(f"{server}/s/{SCREEN}")
        row = page.locator("tr.row:has-text('待核查.csv')")
        with page.expect_download() as info:
            row.locator("a.op-export-pending").click()  # 未查询导出: nobody was looked up yet
        assert info.value.suggested_filename.endswith("-未查询.xlsx")
        saved = tmp_path / "pending.xlsx"
        info.value.save_as(saved)
        sheet = xlsx_rows(saved.read_bytes())
        col = sheet[0].index("身份证号码")
        assert [r[col] for r in sheet[1:]] == good  # in clear: street users follow these people up
