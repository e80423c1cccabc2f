"""Stream rows out of .xlsx and .csv files without holding the file in memory.

Rows come out as (row number as Excel shows it, list of cell values). The header row is
found among the first HEADER_SCAN rows (merged title rows above it are skipped): it is the
row that names the most import columns, by label or by field name.
"""
from __future__ import annotations

import codecs
import csv
from collections.abc import Iterator
from pathlib import Path
from typing import Any

HEADER_SCAN = 10
CALAMINE_MAX_BYTES = 8 * 1024 * 1024  # calamine loads a whole sheet; above this openpyxl streams


def detect_encoding(path: Path) -> str:
    """UTF-8 (with or without BOM) or GBK/GB18030, from the first 1 MB."""
    with open(path, "rb") as fh:
        head = fh.read(1 << 20)
    if head.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    try:
        head.decode("utf-8")
        return "utf-8"
    except UnicodeDecodeError as exc:
        if exc.start >= len(head) - 3:  # a character cut by the 1 MB boundary
            return "utf-8"
    return "gb18030"  # a superset of GBK, so every GBK file decodes


def _csv_rows(path: Path) -> Iterator[tuple[int, list[Any]]]:
    with open(path, encoding=detect_encoding(path), newline="") as fh:
        for number, row in enumerate(csv.reader(fh), start=1):
            yield number, row


def _xlsx_rows(path: Path) -> Iterator[tuple[int, list[Any]]]:
    if path.stat().st_size <= CALAMINE_MAX_BYTES:
        try:
            from python_calamine import CalamineWorkbook

            book = CalamineWorkbook.from_path(str(path))
            sheet = book.get_sheet_by_index(0)
            # calamine starts at the first non-empty row; keep Excel's numbering.
            first = sheet.start[0] if sheet.start else 0
            for number, row in enumerate(sheet.iter_rows(), start=first + 1):
                yield number, [None if v == "" else v for v in row]
            return
        except ImportError:
            pass
    from openpyxl import load_workbook

    book = load_workbook(path, read_only=True, data_only=True)
    try:
        sheet = book.worksheets[0]
        for cells in sheet.iter_rows():
            number = next((c.row for c in cells if getattr(c, "row", None)), None)
            if number is None:
                continue
            yield number, [c.value for c in cells]
    finally:
        book.close()


def rows_of(path: Path) -> Iterator[tuple[int, list[Any]]]:
    suffix = path.suffix.lower()
    if suffix == ".csv":
        return _csv_rows(path)
    if suffix in (".xlsx", ".xlsm"):
        return _xlsx_rows(path)
    raise ValueError("只支持 .xlsx 和 .csv 文件")


def _norm(value: Any) -> str:
    from specadmin.runtime.imports.cells import text

    return (text(value) or "").replace(" ", "").lower()


def find_header(rows: Iterator[tuple[int, list[Any]]], names: dict[str, str]) -> tuple[int, dict[int, str], list]:
    """Read up to HEADER_SCAN rows; return (header row number, {column index: field}, rows read after it).

    `names` maps normalised labels and field names to fields."""
    seen: list[tuple[int, list[Any]]] = []
    best: tuple[int, int, dict[int, str]] = (0, -1, {})
    for number, row in rows:
        seen.append((number, row))
        mapping = {}
        for i, cell in enumerate(row):
            field = names.get(_norm(cell))
            if field and field not in mapping.values():
                mapping[i] = field
        if len(mapping) > len(best[2]):
            best = (len(mapping), len(seen) - 1, mapping)
        if len(seen) >= HEADER_SCAN:
            break
    if not best[2]:
        raise ValueError("找不到表头：前10行中没有一行包含模板中的列名")
    return seen[best[1]][0], best[2], seen[best[1] + 1:]


def sha256_of(path: Path) -> str:
    import hashlib

    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
