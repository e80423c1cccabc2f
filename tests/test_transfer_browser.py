"""Exports and imports clicked through in headless Chromium as the Kaiping ops unit (issue 11 items
7-9): the list's 导出 downloads an .xlsx named after the screen, with 所在位置 in clear for ops (it
holds `unmask`); an import of uncleaned provincial data in 跳过错误行 mode keeps the good rows and
lists the bad one on the page; its error workbook holds the row as uploaded and, fixed, uploads again."""
from __future__ import annotations

import datetime as dt

import pytest
from browser_support import chromium, login, serve
from conftest import copy_app
from kaiping_fixture import PASSWORD, build
from openpyxl import Workbook, load_workbook
from test_imports_support import ID_BAD, ID_OK2, ID_OK3

from specadmin.runtime.crypto import mask

pytestmark = pytest.mark.browser

SCAN_HEADERS = ["公共场所ID", "公共场所", "被采集人身份证", "被采集人", "联系电话", "健康码状态", "采集时间"]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    with serve(copy_app("kaiping", tmp_path_factory.mktemp("transfer-browser")), build) as base:
        yield base


@pytest.fixture(scope="module")
def ops(server, chromium_path):
    with chromium(chromium_path) as browser:
        yield login(browser, server, "ops", PASSWORD)


def sheet_rows(path) -> list[tuple]:
    return list(load_workbook(path).active.iter_rows(values_only=True))


def test_ops_sees_locations_in_clear_and_exports_an_xlsx_named_after_the_screen(server, ops, tmp_path):
    ops.goto(f"{server}/s/place_admin?tab=set")
    assert "开平市一号酒家路1号" in ops.locator("table.list").inner_text()  # typed in by ops: shown in clear
    with ops.expect_download() as info:
        ops.click("#btn-export")
    download = info.value
    assert download.suggested_filename == f"场所信息管理-{dt.date.today().isoformat()}.xlsx"
    path = tmp_path / download.suggested_filename
    download.save_as(path)
    header, *rows = sheet_rows(path)
    code, location = header.index("公共场所ID"), header.index("所在位置")
    assert {r[code]: r[location] for r in rows} == {"P1": "开平市一号酒家路1号", "P2": "开平市二号超市路1号"}  # tab 已设置


def test_an_import_with_one_bad_row_skips_it_lists_it_and_its_fixed_workbook_imports(server, ops, tmp_path):
    book = Workbook()
    book.active.append(["开平市扫码进场信息（省大数据平台导出）"])
    book.active.append(SCAN_HEADERS)
    book.active.append(["P1", "一号酒家", ID_OK2, "陈四", "13800000001", "绿码", dt.datetime(2026, 12, 1, 9, 0)])
    book.active.append(["P1", "一号酒家", ID_BAD, "王五", "13800000002", "绿码", dt.datetime(2026, 12, 1, 10, 0)])
    book.active.append(["P2", "二号超市", ID_OK3, "赵六", "13800000003", "黄码", dt.datetime(2026, 12, 1, 11, 0)])
    upload = tmp_path / "k_import1.xlsx"
    book.save(upload)

    ops.goto(f"{server}/s/scan_admin")
    assert ops.is_checked("#import-mode-all_or_nothing")  # the spec's default mode is preselected
    ops.check("#import-mode-skip_bad_rows")
    ops.set_input_files("#import-file", str(upload))
    ops.click("#btn-import")
    ops.wait_for_selector("#import-result:has-text('导入完成')")
    assert "共 3 行，导入 2 行，跳过错误行 1 行" in ops.inner_text("#import-result")
    problems = ops.locator("#import-problems tr.import-problem")
    assert problems.count() == 1
    row, column, reason = [c.strip() for c in problems.first.locator("td").all_inner_texts()]
    assert (row, column) == ("4", "被采集人身份证") and "校验" in reason

    with ops.expect_download() as info:
        ops.click("#import-errors")
    assert info.value.suggested_filename == "导入错误-k_import1.xlsx"
    report = tmp_path / "errors.xlsx"
    info.value.save_as(report)
    rows = sheet_rows(report)
    header = list(rows[0])
    assert header[:2] == ["原行号", "错误原因"] and set(SCAN_HEADERS) <= set(header)
    bad = dict(zip(header, rows[1]))
    assert (bad["原行号"], bad["公共场所ID"], bad["被采集人"], bad["采集时间"]) == (4, "P1", "王五", "2026-12-01 10:00:00")
    assert bad["被采集人身份证"] == mask(ID_BAD, "id_number")  # ops holds no unmask on 扫码进场信息管理

    fixed = load_workbook(report)
    fixed.active.cell(row=2, column=header.index("被采集人身份证") + 1, value=ID_OK3)  # retyped from the own file
    again = tmp_path / "k_import1-fixed.xlsx"
    fixed.save(again)
    ops.goto(f"{server}/s/scan_admin")
    ops.set_input_files("#import-file", str(again))
    ops.click("#btn-import")
    ops.wait_for_selector("#import-result:has-text('导入完成')")
    assert "共 1 行，导入 1 行" in ops.inner_text("#import-result") and "跳过" not in ops.inner_text("#import-result")
