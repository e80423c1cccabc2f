"""Stream rows out of .xlsx and .csv files in bounded memory, refusing files no real export looks like.

Rows come out as (row number as Excel shows it, list of cell values). The header row is
found among the first HEADER_SCAN rows (merged title rows above it are skipped): it is the
row that names the most import columns, by label or by field name.

Every caller (the import page, the bulk-query upload, `specadmin import`) reads through
`rows_of`, which first runs `check_file`: an .xlsx must be a zip archive with a worksheet whose
declared uncompressed sizes, compression ratio and `<dimension>` stay inside the app's `Limits`
(app.yaml `imports:`); a .csv must be in an encoding we can name. While streaming, every row is
checked again (row number, columns, characters per cell), because a file can lie in its header.
A refusal is a `FileRefused`: a 400 with a Chinese message naming the cell, row or limit when it
escapes a request, a ValueError (the import job's message) elsewhere.

Memory: calamine reads a whole sheet into a dense grid (rows x columns of its extent, however
sparse: one cell at XFD1048576 is 17 billion cells), so it is used only for small files whose
real extent a quick scan of the sheet has measured; everything else streams through openpyxl's
read-only parser, which holds one row at a time. Shared strings are held by both, and are bounded
by a share of max_uncompressed_mb.
"""
from __future__ import annotations

import codecs
import csv
import posixpath
import re
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any
from xml.etree import ElementTree

from specadmin.runtime.errors import BadRequest

HEADER_SCAN = 10
CALAMINE_MAX_BYTES = 8 * 1024 * 1024  # calamine loads a whole sheet; above this openpyxl streams
CALAMINE_MAX_CELLS = 4_000_000  # rows x columns of the sheet's extent: calamine's grid, ~32 bytes a cell
MAX_RATIO = 100  # uncompressed / compressed per archive member: Apache POI's zip-bomb threshold (0.01)
RATIO_GRACE = 1 << 20  # members smaller than this (styles, themes) are not held to the ratio
SHARED_STRINGS_SHARE = 8  # the shared-strings table, held in memory whole, may be 1/8 of the limit
SCAN_BLOCK = 8 << 20


@dataclass(frozen=True)
class Limits:
    """What an import file may hold (app.yaml `imports:`); the defaults fit real provincial exports."""

    max_rows: int = 5_000_000
    max_columns: int = 1_000
    max_cell_chars: int = 32_767  # Excel's own limit per cell
    max_uncompressed_mb: int = 4_096

    @classmethod
    def of(cls, app: Any) -> Limits:
        """The limits an app's model declares (missing keys keep their defaults)."""
        given = dict(getattr(app, "imports", None) or {})
        return cls(**{f.name: int(given[f.name]) for f in fields(cls) if f.name in given})

    @property
    def max_bytes(self) -> int:
        return self.max_uncompressed_mb << 20


class FileRefused(BadRequest, ValueError):
    """The file as a whole cannot be read: not an archive, no sheet, over a limit, undecodable.

    A BadRequest (400) when it escapes a request handler, a ValueError for code that treats
    unreadable input as such (the import job records str(exc) as its message)."""


# -- the whole-file check ------------------------------------------------------------------------
def check_file(path: Path, limits: Limits = Limits()) -> None:
    """Refuse a file before any of it is parsed: cheap checks of its container and header only."""
    suffix = path.suffix.lower()
    if suffix == ".csv":
        detect_encoding(path)
    elif suffix in (".xlsx", ".xlsm"):
        _check_xlsx(path, limits)
    else:
        raise FileRefused("只支持 .xlsx 和 .csv 文件")


@dataclass
class _Sheet:
    member: str  # the first worksheet's path inside the archive
    strings: str | None  # the shared-strings table's path, if any


def _check_xlsx(path: Path, limits: Limits) -> _Sheet:
    with open(path, "rb") as fh:
        magic = fh.read(8)
    if magic.startswith(b"\xd0\xcf\x11\xe0"):  # OLE compound file: an .xls, or an .xlsx with a password
        raise FileRefused("文件是旧版 .xls 格式或已加密，请在 Excel 中另存为不加密的 .xlsx 文件")
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError, ValueError, EOFError):
        raise FileRefused("文件不是有效的 .xlsx 文件（无法作为压缩包打开，可能不完整或已损坏）") from None
    with archive:
        members = archive.infolist()
        total = sum(m.file_size for m in members)
        if total > limits.max_bytes:
            raise FileRefused(f"文件解压后约 {total >> 20} MB，超过 {limits.max_uncompressed_mb} MB 的上限")
        for m in members:
            if m.file_size > RATIO_GRACE and m.file_size > MAX_RATIO * max(m.compress_size, 1):
                raise FileRefused(f"文件中的 {m.filename} 压缩比异常（超过 {MAX_RATIO} 倍），疑似压缩炸弹，拒绝读取")
        sheet = _first_sheet(archive)
        if sheet.strings is not None:
            size = archive.getinfo(sheet.strings).file_size
            if size > limits.max_bytes // SHARED_STRINGS_SHARE:
                raise FileRefused(f"文件的共享字符串表解压后约 {size >> 20} MB，超过 "
                                  f"{limits.max_uncompressed_mb // SHARED_STRINGS_SHARE} MB 的上限")
        ref = _dimension(archive, sheet.member)
        if ref is not None:
            last_col, last_row = ref
            if last_row > limits.max_rows or last_col > limits.max_columns:
                raise FileRefused(f"工作表的范围到 {column_letter(last_col)}{last_row}，超出上限（最多 "
                                  f"{limits.max_rows} 行、{limits.max_columns} 列）")
        return sheet


_NS_REL = "{http://schemas.openxmlformats.org/officeDocument/2006/relationships}id"
_XML_LIMIT = 16 << 20  # workbook.xml and its relationships: a few KB in real files


def _xml(archive: zipfile.ZipFile, name: str) -> ElementTree.Element:
    info = archive.getinfo(name)
    if info.file_size > _XML_LIMIT:
        raise FileRefused(f"文件中的 {name} 过大，不像是正常的工作簿")
    return ElementTree.fromstring(archive.read(name))


def _first_sheet(archive: zipfile.ZipFile) -> _Sheet:
    """The first worksheet of xl/workbook.xml (what calamine and openpyxl read), and the shared strings."""
    try:
        book = _xml(archive, "xl/workbook.xml")
        rels = _xml(archive, "xl/_rels/workbook.xml.rels")
    except (KeyError, ElementTree.ParseError, zipfile.BadZipFile, EOFError, ValueError):
        raise FileRefused("文件不是有效的 .xlsx 文件（缺少工作簿信息）") from None
    targets, strings = {}, None
    for rel in rels:
        target = rel.get("Target") or ""
        name = target.lstrip("/") if target.startswith("/") else posixpath.normpath(posixpath.join("xl", target))
        targets[rel.get("Id")] = name
        if (rel.get("Type") or "").endswith("/sharedStrings") and name in archive.NameToInfo:
            strings = name
    for element in book.iter():
        if element.tag.rsplit("}", 1)[-1] == "sheet":
            member = targets.get(element.get(_NS_REL))
            if member in archive.NameToInfo:
                return _Sheet(member, strings)
            break
    raise FileRefused("文件中没有工作表")


_DIMENSION = re.compile(rb"<(?:\w+:)?dimension\s+ref=\"(?:[A-Z]+[0-9]+:)?([A-Z]{1,4})([0-9]{1,9})\"")


def _dimension(archive: zipfile.ZipFile, member: str) -> tuple[int, int] | None:
    """(last column, last row) from the sheet's `<dimension ref="A1:XFD1048576">`, read from its first bytes."""
    try:
        with archive.open(member) as fh:
            head = fh.read(64 << 10)
    except MemoryError:
        raise
    except Exception as exc:  # BadZipFile, zlib.error, EOFError...: a damaged member
        raise FileRefused(f"文件中的工作表已损坏，无法读取（{type(exc).__name__}）") from None
    m = _DIMENSION.search(head)
    return (column_number(m.group(1).decode()), int(m.group(2))) if m else None


def column_number(letters: str) -> int:
    n = 0
    for ch in letters:
        n = n * 26 + ord(ch) - 64
    return n


def column_letter(number: int) -> str:
    out = ""
    while number > 0:
        number, rest = divmod(number - 1, 26)
        out = chr(65 + rest) + out
    return out or "A"


# -- reading ---------------------------------------------------------------------------------------
def rows_of(path: Path, limits: Limits = Limits()) -> Iterator[tuple[int, list[Any]]]:
    """The rows of the file's first sheet, checked against `limits` before and while reading."""
    suffix = path.suffix.lower()
    if suffix == ".csv":
        return _csv_rows(path, detect_encoding(path), limits)
    if suffix in (".xlsx", ".xlsm"):
        return _xlsx_rows(path, _check_xlsx(path, limits), limits)
    raise FileRefused("只支持 .xlsx 和 .csv 文件")


def _too_long(where: str, limits: Limits) -> FileRefused:
    return FileRefused(f"{where}的内容超过 {limits.max_cell_chars} 个字符的上限")


def _checked(number: int, values: list[Any], limits: Limits, cell_name) -> list[Any]:
    """One row against the limits: its number, its width and each text cell's length."""
    if number > limits.max_rows:
        raise FileRefused(f"文件超过 {limits.max_rows} 行的上限（第 {number} 行）")
    if len(values) > limits.max_columns:
        last = max(i for i, v in enumerate(values) if v not in (None, "")) + 1 if any(
            v not in (None, "") for v in values) else 0
        if last > limits.max_columns:
            raise FileRefused(f"{cell_name(number, last)}超出 {limits.max_columns} 列的上限")
        values = values[:last]
    for i, v in enumerate(values):
        if v.__class__ is str and len(v) > limits.max_cell_chars:
            raise _too_long(cell_name(number, i + 1), limits)
    return values


def _excel_cell(number: int, column: int) -> str:
    return f"单元格 {column_letter(column)}{number} "


def _csv_cell(number: int, column: int) -> str:
    return f"第 {number} 行第 {column} 列"


def _xlsx_rows(path: Path, sheet: _Sheet, limits: Limits) -> Iterator[tuple[int, list[Any]]]:
    try:
        if path.stat().st_size <= CALAMINE_MAX_BYTES and _fits_calamine(path, sheet.member, limits):
            yield from _calamine_rows(path, limits)
        else:
            yield from _openpyxl_rows(path, limits)
    except (FileRefused, MemoryError):
        raise
    except Exception as exc:  # a damaged archive or sheet found while reading (bad CRC, broken XML)
        raise FileRefused(f"文件中的工作表已损坏，无法读取（{type(exc).__name__}）") from None


_CELL_REF = re.compile(rb'<c r="([A-Z]{1,4})([0-9]{1,9})"')
_PREFIXED_CELL = re.compile(rb"<[A-Za-z_][\w.-]*:c[\s/>]")


def _fits_calamine(path: Path, member: str, limits: Limits) -> bool:
    """True when calamine's dense grid of this sheet stays small: every cell carries its reference
    (`<c r="B7"`, as Excel, WPS and openpyxl write) and the references' extent is at most
    CALAMINE_MAX_CELLS. The same scan refuses references beyond the row and column limits."""
    max_row = max_col = 0
    with zipfile.ZipFile(path) as archive, archive.open(member) as fh:
        carry = b""
        while block := fh.read(SCAN_BLOCK):
            data = carry + block
            cut = data.rfind(b"<")  # tags before the last '<' are whole
            data, carry = (data[:cut], data[cut:]) if cut > 0 else (data, b"")
            if _PREFIXED_CELL.search(data):
                return False
            refs = _CELL_REF.findall(data)
            if len(refs) != data.count(b"<c ") + data.count(b"<c>") + data.count(b"<c/>"):
                return False  # cells without a reference: calamine would place them by counting
            if refs:
                cols, rows = zip(*refs)
                max_row = max(max_row, max(map(int, rows)))
                max_col = max(max_col, *(column_number(c.decode()) for c in set(cols)))  # a few distinct
            if max_row > limits.max_rows or max_col > limits.max_columns:
                raise FileRefused(f"工作表有单元格在 {column_letter(max_col)}{max_row}，超出上限（最多 "
                                  f"{limits.max_rows} 行、{limits.max_columns} 列）")
    return max_row * max_col <= CALAMINE_MAX_CELLS


def _calamine_rows(path: Path, limits: Limits) -> Iterator[tuple[int, list[Any]]]:
    from python_calamine import CalamineWorkbook

    book = CalamineWorkbook.from_path(str(path))
    try:
        sheet = book.get_sheet_by_index(0)
        # calamine starts at the first non-empty row; keep Excel's numbering.
        first = sheet.start[0] if sheet.start else 0
        for number, row in enumerate(sheet.iter_rows(), start=first + 1):
            yield number, _checked(number, [None if v == "" else v for v in row], limits, _excel_cell)
    finally:
        book.close()


def _openpyxl_rows(path: Path, limits: Limits) -> Iterator[tuple[int, list[Any]]]:
    from openpyxl import load_workbook

    book = load_workbook(path, read_only=True, data_only=True)
    try:
        sheet = book.worksheets[0]
        # Without dimensions openpyxl neither trusts the file's <dimension> nor pads rows to it: each
        # row is as wide as its last cell, a missing row an empty tuple (one per row number).
        sheet.reset_dimensions()
        for number, values in enumerate(sheet.iter_rows(values_only=True), start=1):
            if number > limits.max_rows:
                raise FileRefused(f"文件超过 {limits.max_rows} 行的上限（第 {number} 行）")
            if values:
                yield number, _checked(number, list(values), limits, _excel_cell)
    finally:
        book.close()


def detect_encoding(path: Path) -> str:
    """UTF-8 (with or without BOM), UTF-16 with a BOM, or GBK/GB18030, from the first 1 MB."""
    with open(path, "rb") as fh:
        head = fh.read(1 << 20)
    if head.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16"  # Excel's "Unicode text"; the codec reads the BOM
    if head.count(b"\x00") * 10 > len(head):
        raise FileRefused("无法识别文件编码（疑似没有 BOM 的 UTF-16）；请另存为 UTF-8 或 GBK 编码的 CSV 文件")
    try:
        head.decode("utf-8")
        return "utf-8"
    except UnicodeDecodeError as exc:
        if exc.start >= len(head) - 3:  # a character cut by the 1 MB boundary
            return "utf-8"
    return "gb18030"  # a superset of GBK, so every GBK file decodes


ENCODING_NAMES = {"utf-8-sig": "UTF-8", "utf-8": "UTF-8", "utf-16": "UTF-16", "gb18030": "GBK/GB18030"}


def _lines(fh, limit: int, counter: list[int]) -> Iterator[str]:
    """The file's lines for csv.reader, none longer than `limit` characters (a row of max_columns
    cells of max_cell_chars each): a file without line breaks never sits in memory whole."""
    while line := fh.readline(limit + 1):
        counter[0] += 1
        if len(line) > limit and len(line.rstrip("\r\n")) > limit:
            raise FileRefused(f"第 {counter[0]} 行过长（超过 {limit} 个字符）")
        yield line


def _csv_rows(path: Path, encoding: str, limits: Limits) -> Iterator[tuple[int, list[Any]]]:
    limit = limits.max_cell_chars * limits.max_columns
    # The csv module's own cap (131072 by default, process-wide) only ever rises to ours, so that a
    # long cell is named by _checked; what exceeds the csv cap exceeds max_cell_chars too.
    csv.field_size_limit(max(csv.field_size_limit(), limits.max_cell_chars + 1))
    lines = [0]
    number = 0
    try:
        with open(path, encoding=encoding, newline="") as fh:
            first = fh.readline(limit + 1)
            fh.seek(0)
            delimiter = "\t" if first.count("\t") > first.count(",") else ","  # Excel's Unicode text is tab-separated
            for number, row in enumerate(csv.reader(_lines(fh, limit, lines), delimiter=delimiter), start=1):
                yield number, _checked(number, row, limits, _csv_cell)
    except UnicodeDecodeError:
        raise FileRefused(f"第 {lines[0]} 行附近有无法按 {ENCODING_NAMES[encoding]} 解码的内容；"
                          "请将文件另存为 UTF-8 或 GBK 编码的 CSV") from None
    except csv.Error as exc:  # a field over the csv module's limit, a NUL in old Pythons
        if "field larger" in str(exc):
            raise FileRefused(f"第 {number + 1} 行有单元格超过 {limits.max_cell_chars} 个字符的上限") from None
        raise FileRefused(f"第 {number + 1} 行格式不正确，无法按 CSV 读取") from None


def _norm(value: Any) -> str:
    from specadmin.runtime.imports.cells import text

    return (text(value) or "").replace(" ", "").lower()


def find_header(rows: Iterator[tuple[int, list[Any]]], names: dict[str, str]) -> tuple[int, dict[int, str], list]:
    """Read up to HEADER_SCAN rows; return (header row number, {column index: field}, rows read after it).

    `names` maps normalised labels and field names to fields."""
    names = {_norm(k): v for k, v in names.items()}  # labels normalised as the header cells are
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
