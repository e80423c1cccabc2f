"""Spec keys of import/export (issue 4): defaults, the switch, and the errors for misuse.
Also the cell coercion rules without a database."""
from __future__ import annotations

import datetime as dt

import pytest
from specadmin.generator.build import load_app
from specadmin.runtime.imports.cells import id_number_problem, parse_datetime, text
from specadmin.runtime.imports.readers import detect_encoding, find_header, rows_of
from test_spec_errors import APP, MODULE, errors_of, make_app

WITH_IMPORT = MODULE.replace("    actions: [create, update]\n",
                             "    actions: [create, update, import, delete]\n"
                             "    import: {key: [code], mode: upsert}\n"
                             "    delete_by_range: [made_at]\n").replace(
    "      high:   {type: integer, label: 最大值}\n",
    "      high:   {type: integer, label: 最大值}\n"
    "      made_at: {type: datetime, label: 时间, system: now}\n"
    "      owner_id: {type: string, label: 身份证, check: id_number}\n")


def test_import_block_gives_list_columns_a_user_can_type_and_offers_the_import_action(tmp_path):
    app = load_app(make_app(tmp_path, WITH_IMPORT, APP))
    screen = app.screen("shop_admin")
    assert screen.import_spec.columns == ("code", "name", "color", "unit")
    assert screen.import_spec.key == ("code",) and screen.import_spec.mode == "upsert"
    assert screen.import_spec.enabled and screen.delete_by_range == ("made_at",)
    assert "import" in screen.offered_actions
    assert app.entity("shop").field("owner_id").check == "id_number"
    assert app.entity("import_batch").table == "sys_import_batch"  # the built-in batch record


def test_misused_import_keys_are_reported_with_codes(tmp_path):
    broken = WITH_IMPORT.replace("    import: {key: [code], mode: upsert}\n",
                                 "    import: {key: [head], columns: [code, made_at]}\n").replace(
        "    delete_by_range: [made_at]\n", "    delete_by_range: [name]\n").replace(
        "check: id_number}", "check: id_number}\n      n2: {type: integer, label: 数, check: id_number}")
    codes = {(e.code, e.message.split(":")[0]) for e in errors_of(tmp_path, broken)}
    found = {c for c, _ in codes}
    assert {"SA110", "SA111"} <= found
    messages = " ".join(m for _, m in codes)
    assert "import key 'head'" in messages and "import columns 'made_at'" in messages
    assert "delete_by_range 'name'" in messages


def test_import_block_without_the_import_action_is_an_error(tmp_path):
    broken = WITH_IMPORT.replace("actions: [create, update, import, delete]", "actions: [create, update, delete]")
    assert any(e.code == "SA110" and "needs 'import'" in e.message for e in errors_of(tmp_path, broken))


@pytest.mark.parametrize("raw,expected", [
    ("2026-11-01", dt.datetime(2026, 11, 1)),
    ("2026/11/1 8:05", dt.datetime(2026, 11, 1, 8, 5)),
    ("2026年11月1日", dt.datetime(2026, 11, 1)),
    ("2026年11月1日 10时30分", dt.datetime(2026, 11, 1, 10, 30)),
    ("２０２６－１１－０１ ０９:００:００", dt.datetime(2026, 11, 1, 9)),
    ("20261101", dt.datetime(2026, 11, 1)),
    (46327.375, dt.datetime(2026, 11, 1, 9)),
    ("46327.375", dt.datetime(2026, 11, 1, 9)),
])
def test_dates_as_excel_really_holds_them(raw, expected):
    assert parse_datetime(raw) == expected


def test_id_numbers_15_and_18_digits_with_checksum():
    assert id_number_problem("11010519491231002X") is None  # GB 11643 example
    assert id_number_problem("110105194912310021") == "身份证号校验位不正确"
    assert id_number_problem("110105491231002") is None
    from test_imports_support import with_check

    assert id_number_problem(with_check("11010519491331002")) == "身份证号中的出生日期不正确"  # month 13
    assert id_number_problem("1101051949") == "身份证号应为15或18位"
    assert text("  １１０１０５ ") == "110105" and text(13800000000.0) == "13800000000"


def test_csv_encoding_is_detected_and_header_found_below_title_rows(tmp_path):
    body = "开平市扫码记录\n\n公共场所ID,采集时间\nP1,2026-11-01\n"
    for encoding, expected in (("utf-8-sig", "utf-8-sig"), ("utf-8", "utf-8"), ("gbk", "gb18030")):
        path = tmp_path / f"{encoding}.csv"
        path.write_bytes(body.encode(encoding))
        assert detect_encoding(path) == expected
        number, mapping, rest = find_header(rows_of(path), {"公共场所id": "place_code", "采集时间": "scanned_at"})
        assert number == 3 and mapping == {0: "place_code", 1: "scanned_at"} and rest[0][1] == ["P1", "2026-11-01"]


def test_openpyxl_streaming_reader_keeps_excel_row_numbers(tmp_path, monkeypatch):
    from openpyxl import Workbook
    from specadmin.runtime.imports import readers

    book = Workbook()
    book.active.append(["标题"])
    book.active.append([])
    book.active.append(["公共场所ID", "采集时间"])
    book.active.append(["P1", dt.datetime(2026, 11, 1, 9)])
    path = tmp_path / "t.xlsx"
    book.save(path)
    calamine = [(n, r) for n, r in rows_of(path) if any(c is not None for c in r)]
    monkeypatch.setattr(readers, "CALAMINE_MAX_BYTES", 0)
    streamed = [(n, r) for n, r in rows_of(path) if any(c is not None for c in r)]
    assert [n for n, _ in streamed] == [n for n, _ in calamine] == [1, 3, 4]
    assert streamed[-1][1][:2] == ["P1", dt.datetime(2026, 11, 1, 9)] == calamine[-1][1][:2]


def test_full_width_forms_are_folded_only_where_the_field_type_needs_it():
    """Free text keeps Chinese punctuation as typed; numbers, dates, codes and ID numbers are folded."""
    from specadmin.runtime.imports.cells import converter
    from specadmin.specs.model import Field

    prose = "来电反映：楼下施工，噪音扰民（已多次）；"
    assert converter(Field("remark", "string", "备注"), None)(f"　{prose} ") == prose
    assert converter(Field("content", "text", "诉求内容"), None)(prose) == prose
    assert converter(Field("name", "string", "姓名", sensitive="name"), None)("张三，李四") == "张三，李四"
    assert converter(Field("code", "string", "编号", unique=True), None)("ＸＣ－００１") == "XC-001"
    assert converter(Field("code", "string", "编号", pattern=r"[A-Z0-9-]+"), None)("ＡＢ－１") == "AB-1"
    assert converter(Field("phone", "string", "电话", sensitive="phone"), None)("１３８００１３８０００") == "13800138000"
    assert converter(Field("n", "integer", "人数"), None)("１２３") == 123
    assert converter(Field("at", "datetime", "时间"), None)("２０２６年１１月１日　８：０５") == dt.datetime(2026, 11, 1, 8, 5)
    # A dictionary label with full-width punctuation matches whether typed full- or half-width.
    kinds = {"a": "一类（重点）", "b": "二类"}
    pick = converter(Field("kind", "dict", "类别", dict="kinds"), kinds)
    assert pick("一类（重点）") == pick("一类(重点)") == "a" and pick("ｂ") == "b"
    with pytest.raises(ValueError, match="空字符"):
        converter(Field("remark", "string", "备注"), None)("a\x00b")
