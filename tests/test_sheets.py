"""Every spreadsheet written by runtime/sheets (csv, the fast xlsx writer and the openpyxl one for
templates) keeps typed text from running as a formula in someone else's Excel (OWASP CSV injection):
csv cells get an apostrophe in front, xlsx cells stay text cells."""
from __future__ import annotations

import csv
import io

import openpyxl
import pytest

from specadmin.runtime.sheets.writer import Column, SheetWriter

HOSTILE = ["=HYPERLINK(\"http://evil.example\",\"点此\")", "=1+1", "+1+1", "-1+1", "@SUM(A1)", "\t=1", "\r=1"]
PLAIN = ["开平市", "a=b", "13900000001"]


def _written(fmt: str, columns) -> bytes:
    writer = SheetWriter(None, fmt, columns)
    writer.rows([[value, 7] for value in HOSTILE + PLAIN])
    return writer.close()


def _xlsx_rows(data: bytes) -> list[list]:
    sheet = openpyxl.load_workbook(io.BytesIO(data)).worksheets[0]
    return [[c.value for c in row] + [row[0].data_type] for row in sheet.iter_rows(min_row=2)]


def test_csv_cells_that_would_be_formulas_start_with_an_apostrophe():
    rows = list(csv.reader(io.StringIO(_written("csv", ["内容", "数量"]).decode("utf-8-sig"))))[1:]
    assert [r[0] for r in rows] == ["'" + v for v in HOSTILE] + PLAIN
    assert [r[1] for r in rows] == ["7"] * len(rows)  # numbers are left alone


@pytest.mark.parametrize("columns", [["内容", "数量"], [Column("内容", note="说明"), Column("数量")],
                                     [Column("内容", note="说明", highlight=True), Column("数量")]],
                         ids=["fast-writer", "openpyxl", "openpyxl-highlighted"])
def test_xlsx_cells_never_hold_formulas_from_typed_text(columns):
    rows = _xlsx_rows(_written("xlsx", columns))
    # the text as typed (XML reads a carriage return back as a line feed), in string cells
    assert [r[0] for r in rows] == [v.replace("\r", "\n") for v in HOSTILE] + PLAIN
    assert {r[2] for r in rows} == {"s"}  # text cells, not formulas ("f")
    assert [r[1] for r in rows] == [7] * len(rows)
