"""A minimal streaming .xlsx writer for large plain tables (one sheet, text and numbers).

openpyxl without lxml serialises each cell through a pure-Python XML tree (~0.7 ms per row of
ten cells); this writes the same SpreadsheetML parts directly, escaped, with inline strings,
at a few µs per row. Excel, WPS, LibreOffice, openpyxl and calamine read the result.
"""
from __future__ import annotations

import re
import zipfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

# Characters XML 1.0 cannot carry at all (a stray control character in a cell would break the file).
_ILLEGAL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")

_CONTENT_TYPES = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
    '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
    '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
    '<Default Extension="xml" ContentType="application/xml"/>'
    '<Override PartName="/xl/workbook.xml" '
    'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>'
    '<Override PartName="/xl/worksheets/sheet1.xml" '
    'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/>'
    '</Types>')
_RELS = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
    '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
    '<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" '
    'Target="xl/workbook.xml"/></Relationships>')
_WORKBOOK_RELS = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
    '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
    '<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet" '
    'Target="worksheets/sheet1.xml"/></Relationships>')


def _workbook(sheet_name: str) -> str:
    return ('<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
            '<workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" '
            'xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships">'
            f'<sheets><sheet name="{escape(sheet_name, {chr(34): "&quot;"})}" sheetId="1" r:id="rId1"/></sheets>'
            '</workbook>')


def _cell(value: Any) -> str:
    if value is None or value == "":
        return "<c/>"
    if isinstance(value, bool):
        value = "是" if value else "否"
    elif isinstance(value, (int, float)):
        return f"<c><v>{value}</v></c>"
    text = _ILLEGAL.sub("", str(value))
    return f'<c t="inlineStr"><is><t xml:space="preserve">{escape(text)}</t></is></c>'


class XlsxWriter:
    """`with XlsxWriter(path, "结果") as w: w.row([...])` — rows are streamed into the zip."""

    def __init__(self, path: Path, sheet_name: str = "Sheet1"):
        self.path, self.sheet_name = Path(path), sheet_name[:31] or "Sheet1"
        self.zip = zipfile.ZipFile(self.path, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=1)
        self.sheet = self.zip.open("xl/worksheets/sheet1.xml", "w", force_zip64=True)
        self.sheet.write(b'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
                         b'<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
                         b"<sheetData>")
        self.count = 0

    def row(self, values: Iterable[Any]) -> None:
        self.sheet.write(("<row>" + "".join(_cell(v) for v in values) + "</row>").encode("utf-8"))
        self.count += 1

    def rows(self, many: Iterable[Iterable[Any]]) -> None:
        self.sheet.write("".join("<row>" + "".join(_cell(v) for v in r) + "</row>" for r in many).encode("utf-8"))

    def close(self) -> None:
        if self.sheet is None:
            return
        self.sheet.write(b"</sheetData></worksheet>")
        self.sheet.close()
        self.sheet = None
        self.zip.writestr("[Content_Types].xml", _CONTENT_TYPES)
        self.zip.writestr("_rels/.rels", _RELS)
        self.zip.writestr("xl/workbook.xml", _workbook(self.sheet_name))
        self.zip.writestr("xl/_rels/workbook.xml.rels", _WORKBOOK_RELS)
        self.zip.close()

    def __enter__(self) -> "XlsxWriter":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
