"""The one spreadsheet writer: every export, statistic, bulk-query result, import template and
error workbook is written here, as .csv or .xlsx, to a file or in memory.

    columns = [Column("姓名"), Column("原因", width=40, highlight=True)]
    with SheetWriter(path, "xlsx", columns, title="错误") as sheet:   # path None: in memory
        sheet.rows(batch)                                              # the header row is written first
    sheet.count                                                        # data rows written

- csv: UTF-8 with a BOM (Excel then reads Chinese), csv module quoting, CRLF line ends. In
  memory, `drain()` hands out what was written since the last call (a streamed response).
- xlsx: streamed. Plain sheets (widths, a highlighted column) go through the fast engine of
  runtime.sheets.xlsx; a sheet with header notes (cell comments) or drop-downs (list validations
  whose labels sit on a hidden sheet 选项) through openpyxl's write-only mode.
- Cells are typed by `cell()`: booleans 是/否, None empty, dates and times as ISO text
  (2026-11-01, 2026-11-01 08:00:00), dicts and lists as JSON, numbers stay numbers.
- Responses: `bytes_response`, `file_response`, `stream_response` set the media type and an
  attachment Content-Disposition whose Chinese file name travels as RFC 5987 `filename*`.
"""
from __future__ import annotations

import csv
import io
import os
import re
from collections.abc import AsyncIterator, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

from specadmin.runtime.sheets.cells import FORMULA_START, ILLEGAL, cell, csv_text
from specadmin.runtime.sheets.xlsx import FastXlsx

__all__ = ["CSV_TYPE", "XLSX_TYPE", "Column", "SheetWriter", "bytes_response", "cell", "disposition",
           "file_response", "stream_response", "write_sheet"]

XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
CSV_TYPE = "text/csv; charset=utf-8"
FORMATS = ("csv", "xlsx")
DROPDOWN_ROWS = 10000  # data rows a drop-down covers


@dataclass(frozen=True)
class Column:
    label: str
    width: float | None = None                # characters; None: the reader's default
    note: str | None = None                   # a comment on the header cell (xlsx)
    choices: tuple[str, ...] | None = None    # a drop-down of these labels (xlsx)
    required: bool = False                    # a drop-down that refuses blanks
    choice_error: str | None = None           # the message of a value outside the drop-down
    highlight: bool = False                   # data cells filled light red (xlsx), e.g. an error reason


def media_type(fmt: str) -> str:
    return XLSX_TYPE if fmt == "xlsx" else CSV_TYPE


def fmt_of(path_or_name: str | Path) -> str:
    suffix = Path(path_or_name).suffix.lower().lstrip(".")
    if suffix not in FORMATS:
        raise ValueError(f"只能写 .csv 或 .xlsx 文件：{path_or_name}")
    return suffix


def _create_private(path: Path) -> None:
    """Sheets hold ID numbers and phones: the file is created (or emptied) 0600, and the writers reopen
    it by name, which keeps the mode. Its folder is the caller's (runtime.data.private_files.private_dir
    under var/; importing that here would make runtime.data and runtime.sheets import each other)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.fchmod(fd, 0o600)  # an existing wider file is narrowed too
    finally:
        os.close(fd)


class SheetWriter:
    """One sheet of `columns` (Column or plain labels) written to `target` (a path, or None: in memory)."""

    def __init__(self, target: str | Path | None, fmt: str, columns: Sequence[Column | str], *,
                 title: str = "Sheet1", header: bool = True):
        if fmt not in FORMATS:
            raise ValueError(f"unknown sheet format {fmt!r}")
        self.fmt, self.target = fmt, Path(target) if target is not None else None
        self.columns = [c if isinstance(c, Column) else Column(str(c)) for c in columns]
        self.title = (title or "Sheet1")[:31]
        self.count = 0  # data rows
        self.closed = False
        self._memory: io.BytesIO | None = None
        self._fast = False
        if self.target is not None:
            _create_private(self.target)
        if fmt == "csv":
            self._text = open(self.target, "w", encoding="utf-8-sig", newline="") if self.target else io.StringIO()
            if self.target is None:
                self._text.write("\ufeff")
            self._csv = csv.writer(self._text)
        else:
            sink: Any = self.target if self.target is not None else io.BytesIO()
            if self.target is None:
                self._memory = sink
            if any(c.note or c.choices is not None for c in self.columns):
                self._engine: Any = _OpenpyxlSheet(sink, self.title, self.columns)
            else:
                self._engine = FastXlsx(sink, self.title, [c.width for c in self.columns],
                                        [c.highlight for c in self.columns])
                self._fast = True
        if header:
            self._write([[c.label for c in self.columns]])

    # -- rows -------------------------------------------------------------
    def _write(self, rows: list[list[Any]]) -> None:
        if self.fmt == "csv":
            self._csv.writerows([csv_text(v) if v.__class__ is str else v for v in r] for r in rows)
        else:
            self._engine.write_rows(rows)

    def row(self, values: Iterable[Any]) -> None:
        self.rows([values])

    def rows(self, many: Iterable[Iterable[Any]]) -> None:
        if self._fast:  # the fast engine types each cell itself (through cell()), without a copy of the rows
            many = many if isinstance(many, list) else list(many)
            self._engine.write_rows(many)
            self.count += len(many)
            return
        typed = [[v if v.__class__ is str else cell(v) for v in r] for r in many]
        self._write(typed)
        self.count += len(typed)

    def drain(self) -> bytes:
        """What an in-memory csv holds since the last drain, as UTF-8 (the first chunk has the BOM)."""
        if self.fmt != "csv" or self.target is not None:
            raise ValueError("drain() is for in-memory csv")
        chunk = self._text.getvalue()
        self._text.seek(0)
        self._text.truncate()
        return chunk.encode("utf-8")

    def close(self) -> bytes | None:
        """Finish the file; in memory, answer its bytes (for csv: those not drained yet)."""
        if self.closed:
            return None
        self.closed = True
        if self.fmt == "csv":
            if self.target is None:
                return self.drain()
            self._text.close()
            return None
        self._engine.close()
        return self._memory.getvalue() if self._memory is not None else None

    def __enter__(self) -> SheetWriter:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def write_sheet(target: str | Path | None, fmt: str, columns: Sequence[Column | str],
                rows: Iterable[Iterable[Any]], *, title: str = "Sheet1") -> bytes | None:
    """A whole small sheet at once; in memory (target None) answers its bytes."""
    writer = SheetWriter(target, fmt, columns, title=title)
    writer.rows(rows)
    return writer.close()


class _OpenpyxlSheet:
    """openpyxl write-only: header comments, drop-downs (labels on the hidden sheet 选项), widths, fill."""

    def __init__(self, sink: Any, title: str, columns: list[Column]):
        from openpyxl import Workbook
        from openpyxl.cell import WriteOnlyCell
        from openpyxl.comments import Comment
        from openpyxl.styles import PatternFill
        from openpyxl.utils import get_column_letter
        from openpyxl.worksheet.datavalidation import DataValidation

        from openpyxl.cell.cell import Cell

        self.sink, self.columns, self._cell_type, self._cell_class = sink, columns, WriteOnlyCell, Cell
        self.book = Workbook(write_only=True)  # rows go to a temp file, not memory
        self.sheet = self.book.create_sheet(title)
        self.fill = PatternFill("solid", fgColor="FFFFC7CE")
        self.header_written = False
        self.lists: list[tuple[str, ...]] = []
        lists_sheet = None
        for index, c in enumerate(columns, start=1):
            letter = get_column_letter(index)
            if c.width:
                self.sheet.column_dimensions[letter].width = c.width
            if c.choices is None:
                continue
            if lists_sheet is None:
                lists_sheet = self.book.create_sheet("选项")
                lists_sheet.sheet_state = "hidden"
            self.lists.append(c.choices)
            source = get_column_letter(len(self.lists))
            dv = DataValidation(type="list", formula1=f"=选项!${source}$1:${source}${max(len(c.choices), 1)}",
                                allow_blank=not c.required, showErrorMessage=True, errorTitle="无效的选项",
                                error=c.choice_error or f"请从下拉列表中选择“{c.label}”")
            dv.add(f"{letter}2:{letter}{DROPDOWN_ROWS + 1}")
            self.sheet.data_validations.append(dv)
        self.lists_sheet = lists_sheet
        self._comment = Comment

    def _value(self, v: Any) -> Any:
        if v == "":
            return None
        if not isinstance(v, str):
            return v
        v = ILLEGAL.sub("", v)
        if v.startswith(FORMULA_START):  # openpyxl would write it as a formula: keep it a string cell
            c = self._cell_type(self.sheet, v)
            c.data_type = "s"
            return c
        return v

    def _as_cell(self, v: Any) -> Any:
        return v if isinstance(v, self._cell_class) else self._cell_type(self.sheet, v)

    def write_rows(self, rows: Iterable[list[Any]]) -> None:
        for r in rows:
            if not self.header_written:  # the header: comments carry the notes
                self.header_written = True
                header = []
                for value, c in zip(r, self.columns):
                    cell_ = self._as_cell(self._value(value))
                    if c.note:
                        cell_.comment = self._comment(c.note, "specadmin")
                    header.append(cell_)
                self.sheet.append(header)
                continue
            out = []
            for i, value in enumerate(r):
                value = self._value(value)
                if i < len(self.columns) and self.columns[i].highlight:
                    value = self._as_cell(value)
                    value.fill = self.fill
                out.append(value)
            self.sheet.append(out)

    def close(self) -> None:
        if self.lists_sheet is not None:
            depth = max((len(c) for c in self.lists), default=0)
            for i in range(depth):
                self.lists_sheet.append([c[i] if i < len(c) else None for c in self.lists])
        self.book.save(self.sink)


# -- responses ------------------------------------------------------------------------------
def disposition(filename: str) -> str:
    """`attachment` with the name as RFC 5987 `filename*` (UTF-8) and an ASCII `filename` fallback."""
    stem, suffix = Path(filename).stem, Path(filename).suffix
    plain = re.sub(r"[^A-Za-z0-9._-]+", "", stem).strip("._-") or "export"
    fallback = f"{plain}{suffix}"
    if fallback == filename:
        return f'attachment; filename="{filename}"'
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(filename, safe='')}"


def _headers(filename: str) -> dict[str, str]:
    return {"content-disposition": disposition(filename)}


def bytes_response(data: bytes, filename: str):
    from litestar import Response

    return Response(data, media_type=media_type(fmt_of(filename)), headers=_headers(filename))


def file_response(path: str | Path, filename: str, *, delete: bool = False):
    """A written file as a download; delete=True removes it once sent (a temporary export)."""
    from litestar.background_tasks import BackgroundTask
    from litestar.response import File

    if not Path(path).is_file():  # e.g. an error workbook purged after files.retention_days
        from specadmin.runtime.errors import NotFound

        raise NotFound("文件已过期删除或不存在，请重新生成")
    background = BackgroundTask(Path(path).unlink, missing_ok=True) if delete else None
    return File(path, filename=filename, media_type=media_type(fmt_of(filename)), headers=_headers(filename),
                background=background)


def stream_response(chunks: AsyncIterator[bytes], filename: str):
    from litestar.response import Stream

    return Stream(chunks, media_type=media_type(fmt_of(filename)), headers=_headers(filename))
