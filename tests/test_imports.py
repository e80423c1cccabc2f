"""Spreadsheet import of Kaiping scan records (issue 4), on SQLite and on PostgreSQL.

The workbooks are built here with openpyxl: merged title rows, full-width digits, stray
spaces, Excel serial dates, Chinese text dates, bad 身份证 checksums, duplicate keys and
empty rows, i.e. what the provincial export really looks like.
"""
from __future__ import annotations

import datetime as dt
import io

import httpx
import pytest
from openpyxl import Workbook, load_workbook
from test_imports_support import (  # noqa: F401
    ID_BAD,
    ID_OK,
    ID_OK2,
    ID_OK3,
    kaiping,
    login,
    scan_count,
    wide,
)

pytestmark = pytest.mark.asyncio(loop_scope="session")

HEADERS = ["公共场所ID", "公共场所", "被采集人身份证", "被采集人", "联系电话", "健康码状态", "采集时间 "]


def serial(when: dt.datetime) -> float:
    return (when - dt.datetime(1899, 12, 30)).total_seconds() / 86400


def messy_workbook() -> bytes:
    book = Workbook()
    sheet = book.active
    sheet.append(["开平市扫码进场信息（省大数据平台导出）"])
    sheet.merge_cells("A1:G1")
    sheet.append(HEADERS)
    sheet.append(["P1", "一号酒家 ", wide(ID_OK), "张三  ", 13800000000, "绿码", serial(dt.datetime(2026, 11, 3, 9))])
    sheet.append(["P1", "一号酒家", ID_OK2[:15], "陈四", "13800000001", "绿码", "2026年11月4日 10:30"])
    sheet.append([None, None, None, None, None, None, None])
    sheet.append(["P1", "一号酒家", ID_BAD, "王五", "13800000002", "绿码", "2026-11-04 11:00"])
    sheet.append(["Ｐ1", "一号酒家", ID_OK, "张三", "13800000000", "绿码", "2026/11/3 9:00"])
    sheet.append(["P1", "一号酒家", ID_OK3, "赵六", "13800000003", "绿码", "明天"])
    sheet.append([" ", "无名场所", ID_OK3, "钱七", "13800000004", "绿码", "2026-11-05"])
    sheet.append(["P1", "一号酒家", ID_OK3, "孙八", "13800000005", "黄码", "2026/11/5 8:05"])
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


EXPECTED_ERRORS = {
    (6, "被采集人身份证", "身份证号校验位不正确"),
    (7, "被采集人身份证", "与文件中前面的行重复"),  # row 3 again: full-width Ｐ1, same ID and time
    (8, "采集时间", None),
    (9, "公共场所ID", "必填"),
}


async def upload(client: httpx.AsyncClient, data: bytes, name: str, **params) -> dict:
    r = await client.post("/api/scan_record/import", params={"screen": "scan_admin", **params},
                          files={"file": (name, data)})
    assert r.status_code == 200, r.text
    return r.json()


async def error_rows(client: httpx.AsyncClient, result: dict) -> set:
    r = await client.get(result["error_file"])
    assert r.status_code == 200
    sheet = load_workbook(io.BytesIO(r.content)).active
    rows = list(sheet.iter_rows(values_only=True))
    assert rows[0][:2] == ("原行号", "错误原因")  # then the template's columns, holding the row as uploaded
    found = set()
    for row in rows[1:]:
        for problem in row[1].split("；"):
            column, reason = problem.split("：", 1)
            found.add((row[0], column, reason))
    return found


async def test_messy_workbook_lists_exact_error_rows_and_all_or_nothing_writes_nothing(kaiping):
    ops = await login(kaiping, "ops")
    before = await scan_count(kaiping)
    result = await upload(ops, messy_workbook(), "messy.xlsx")
    assert (result["status"], result["total"], result["ok"], result["bad"]) == ("failed", 7, 0, 4)
    found = await error_rows(ops, result)
    assert {(r, c) for r, c, _ in found} == {(r, c) for r, c, _ in EXPECTED_ERRORS}
    for row, column, reason in EXPECTED_ERRORS:
        if reason:
            assert (row, column, reason) in found
    assert await scan_count(kaiping) == before


async def test_skip_bad_rows_imports_the_good_rows_coerced(kaiping):
    ops = await login(kaiping, "ops")
    before = await scan_count(kaiping)
    result = await upload(ops, messy_workbook(), "messy.xlsx", mode="skip_bad_rows")
    assert (result["status"], result["ok"], result["bad"]) == ("done", 3, 4)
    assert await scan_count(kaiping) == before + 3
    page = (await ops.get("/api/scan_record", params={"screen": "scan_admin", "page_size": 100,
                                                       "sort": "-scanned_at"})).json()
    imported = {i["subject_name"]: i for i in page["items"] if i["subject_name"] in ("张三", "陈四", "孙八")}
    assert imported["张三"]["scanned_at"].replace("T", " ").startswith("2026-11-03 09:00")  # Excel serial date
    assert imported["陈四"]["scanned_at"].replace("T", " ").startswith("2026-11-04 10:30")  # 2026年11月4日 10:30
    assert imported["孙八"]["scanned_at"].replace("T", " ").startswith("2026-11-05 08:05")  # 2026/11/5 8:05
    assert imported["张三"]["place_name"] == "一号酒家"  # trailing space gone
    assert imported["张三"]["imported_by"] == kaiping["ids"]["user_ops"]
    # The ID number is stored encrypted and found through its blind index.
    ctx = kaiping["ctx"]
    scan = ctx.table("scan_record")
    rows = await scan.select(scan.subject_id_number).where(
        scan.subject_id_number_bidx == ctx.sensitive.index_of(ID_OK))
    assert len(rows) == 1 and rows[0]["subject_id_number"].startswith("v1:")
    assert ctx.sensitive.decode(rows[0]["subject_id_number"]) == ID_OK


async def test_same_file_twice_is_refused_unless_forced(kaiping):
    ops = await login(kaiping, "ops")
    data = csv_bytes([["P2", "二号超市", ID_OK, "周九", "13900000000", "绿码", "2026-11-06 08:00"]])
    first = await upload(ops, data, "once.csv")
    assert first["status"] == "done" and first["ok"] == 1
    again = await ops.post("/api/scan_record/import", params={"screen": "scan_admin"}, files={"file": ("once.csv", data)})
    assert again.status_code == 409 and "导入过" in again.json()["detail"]
    forced = await upload(ops, data, "once.csv", force="true", mode="upsert")
    assert forced["status"] == "done" and forced["ok"] == 1
    ctx = kaiping["ctx"]
    batch = ctx.table("import_batch")
    rows = await batch.select().where(batch.file_name == "once.csv").order_by(batch.id)
    assert [r["status"] for r in rows] == ["done", "done"] and rows[0]["importer"] == kaiping["ids"]["user_ops"]


def csv_bytes(rows: list[list], encoding: str = "utf-8-sig") -> bytes:
    import csv

    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow([h.strip() for h in HEADERS])
    writer.writerows(rows)
    return buffer.getvalue().encode(encoding)


async def test_upsert_updates_rows_by_key_instead_of_adding(kaiping):
    ops = await login(kaiping, "ops")
    row = ["P2", "二号超市", ID_OK2, "吴十", "13900000001", "绿码", "2026-11-07 08:00"]
    assert (await upload(ops, csv_bytes([row]), "u1.csv"))["ok"] == 1
    before = await scan_count(kaiping)
    changed = row[:3] + ["吴十一"] + row[4:]
    result = await upload(ops, csv_bytes([changed], "gbk"), "u2.csv", mode="upsert")
    assert (result["status"], result["ok"]) == ("done", 1)
    assert await scan_count(kaiping) == before
    page = (await ops.get("/api/scan_record", params={"screen": "scan_admin", "q": "吴十"})).json()
    assert [i["subject_name"] for i in page["items"]] == ["吴十一"]
    # Without upsert the same key is a row error, and all_or_nothing writes nothing.
    refused = await upload(ops, csv_bytes([changed], "utf-8"), "u3.csv")
    assert (refused["status"], refused["bad"]) == ("failed", 1)
    assert await error_rows(ops, refused) == {(2, "被采集人身份证", "与已有数据重复")}


async def test_import_outside_the_importers_scope_is_a_row_error(kaiping):
    clerk = await login(kaiping, "clerk1")  # scan_admin import/delete scoped to 开平市教育局 (P1)
    data = csv_bytes([["P1", "一号酒家", ID_OK3, "甲", "13900000009", "绿码", "2026-11-08 08:00"],
                      ["P2", "二号超市", ID_OK3, "乙", "13900000009", "绿码", "2026-11-08 08:00"]])
    result = await upload(clerk, data, "scope.csv", mode="skip_bad_rows")
    assert (result["ok"], result["bad"]) == (1, 1)
    assert await error_rows(clerk, result) == {(3, "公共场所ID", "超出您的数据权限范围")}
    unit1 = await login(kaiping, "unit1")  # supervisors hold no import grant at all
    r = await unit1.post("/api/scan_record/import", params={"screen": "scan_admin"}, files={"file": ("x.csv", data)})
    assert r.status_code in (403, 404)


async def test_template_has_headers_rule_comments_and_dictionary_dropdown(kaiping):
    ops = await login(kaiping, "ops")
    r = await ops.get("/api/place/import/template", params={"screen": "place_admin"})
    assert r.status_code == 200
    book = load_workbook(io.BytesIO(r.content))
    sheet = book.worksheets[0]
    headers = [c.value for c in sheet[1]]
    assert headers[:4] == ["公共场所ID", "公共场所", "类别", "所在街道"]
    assert "必填" in sheet["A1"].comment.text and "最多64字" in sheet["A1"].comment.text
    validations = sheet.data_validations.dataValidation
    category = next(v for v in validations if "C2" in str(v.sqref))
    assert category.type == "list"
    options = book["选项"]
    column = category.formula1.split("!")[1].split(":")[0].replace("$", "")[0]
    assert "餐饮场所" in [options[f"{column}{i}"].value for i in range(1, 11)]
    scan_template = await ops.get("/api/scan_record/import/template", params={"screen": "scan_admin"})
    scan_headers = [c.value for c in load_workbook(io.BytesIO(scan_template.content)).worksheets[0][1]]
    assert "被采集人身份证" in scan_headers and "数据导入人" not in scan_headers  # system fields are not typed in


async def test_dictionary_columns_accept_label_or_key(kaiping):
    ops = await login(kaiping, "ops")
    book = Workbook()
    book.active.append(["公共场所ID", "公共场所", "类别", "所在街道"])
    book.active.append(["P7", "七号商场", "商超市场", "sanbu"])
    book.active.append(["P8", "八号书店", "retail", "三埠街道"])
    book.active.append(["P6", "六号", "没有这类", "三埠街道"])
    buffer = io.BytesIO()
    book.save(buffer)
    r = await ops.post("/api/place/import", params={"screen": "place_admin", "mode": "skip_bad_rows"},
                       files={"file": ("places.xlsx", buffer.getvalue())})
    result = r.json()
    assert (result["ok"], result["bad"]) == (2, 1), result
    assert await error_rows(ops, result) == {(4, "类别", "“没有这类”不是有效的选项")}
    page = (await ops.get("/api/place", params={"screen": "place_admin", "page_size": 100})).json()
    got = {i["place_code"]: (i["category"], i["street"]) for i in page["items"]}
    assert got["P7"] == ("retail", "sanbu") and got["P8"] == ("retail", "sanbu")


async def test_large_upload_runs_as_a_background_job_polled_until_done(kaiping):
    import asyncio

    from test_imports_support import with_check

    ops = await login(kaiping, "ops")
    before = await scan_count(kaiping)
    rows = [["P1", "一号酒家" * 8, with_check(f"440783{1950 + i % 60}{1 + i % 12:02d}{1 + i % 28:02d}{i % 1000:03d}"),
             "大批", "13700000000", "绿码", f"2026-12-01 {i % 24:02d}:{i % 60:02d}:{i % 59:02d}"]
            for i in range(9000)]
    rows[10][2] = rows[10][2][:17] + ("0" if rows[10][2][17] != "0" else "1")  # one bad checksum
    data = csv_bytes(rows)
    assert len(data) > 512 * 1024
    job = await upload(ops, data, "big.csv", mode="skip_bad_rows")
    assert job["status"] == "running"
    for _ in range(600):
        job = (await ops.get(f"/api/imports/{job['job']}")).json()
        if job["status"] != "running":
            break
        await asyncio.sleep(0.1)
    assert job["status"] == "done" and job["total"] == 9000
    assert (job["ok"], job["bad"]) == (8999, 1) and await scan_count(kaiping) == before + 8999
    other = await login(kaiping, "unit1")
    assert (await other.get(f"/api/imports/{job['job']}")).status_code == 403  # someone else's job
