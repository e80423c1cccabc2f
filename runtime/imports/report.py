"""The error workbook: each rejected row once, as it was uploaded, ready to be fixed and uploaded again.

Columns: 原行号 (the row as Excel numbers it in the uploaded file), 错误原因 (every problem of the
row, “列：原因”, joined by “；”), then the row's original cells under the template's headers, in
the template's column order. The importer finds its header by label and ignores 原行号 and
错误原因, so the fixed workbook imports as it is.

Sensitive columns (身份证号, phone, name, address) are masked as in lists (`110***********1234`)
unless the uploader holds `unmask` on the screen (`clear`): the workbook is a file at rest —
downloaded, mailed, kept — and whoever may not see the clear value in the system should not find
it in a file either. A masked cell cannot be imported again: the uploader types the value from
their own file (the one they uploaded). The workbook is written 0600 in a 0700 folder and deleted
after app.yaml `files.retention_days` (runtime/imports/retention.py).

The first problems are also kept in memory (`first`) for the page to show without opening the file.
"""
from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from specadmin.runtime.crypto import mask
from specadmin.runtime.data.private_files import private_dir
from specadmin.runtime.imports.cells import text
from specadmin.runtime.sheets.writer import Column, SheetWriter

if TYPE_CHECKING:
    from specadmin.specs.model import Entity

FIRST_SHOWN = 20  # problems the page lists (row, column, reason); the workbook has them all
ROW, REASON = "原行号", "错误原因"
CELL_LIMIT = 32767  # characters an Excel cell holds


class ErrorReport:
    def __init__(self, path: Path, entity: Entity, columns: Sequence[str], *, clear: bool = False):
        """`columns`: the template's fields in order (their labels head the sheet); `clear`: the
        uploader sees sensitive values in clear, so their cells are kept as uploaded."""
        self.path = path
        private_dir(path.parent)
        self.columns = list(columns)
        self.labels = {n: entity.field(n).label if entity.has_field(n) else n for n in self.columns}
        self.masks: dict[int, str] = {}
        if not clear:
            for i, name in enumerate(self.columns):
                f = entity.field(name) if entity.has_field(name) else None
                if f is not None and f.sensitive:
                    self.masks[i] = "default" if f.sensitive == "other" else f.sensitive
        self.sheet: SheetWriter | None = None
        self.count = 0  # rows written
        self.first: list[dict[str, Any]] = []
        self.closed_path: str | None = None

    def label(self, name: str | tuple[str, ...]) -> str:
        """A column's label; a unique set's columns (a tuple of fields) as their labels joined by 、."""
        if isinstance(name, tuple):
            return "、".join(self.label(n) for n in name)
        return self.labels.get(name, name)

    def add(self, row: int, cells: Sequence[Any], problems: Sequence[tuple[str, str]]) -> None:
        """One rejected row: its cells in the template's column order, its (field, reason) problems."""
        if self.sheet is None:  # streamed to the file: a report of many bad rows never sits in memory
            header = [Column(ROW, width=8), Column(REASON, width=50, highlight=True)]
            header += [Column(self.label(n), width=18) for n in self.columns]
            self.sheet = SheetWriter(self.path, "xlsx", header, title="错误行")
        shown = [f"{self.label(name)}：{reason}" if name else reason for name, reason in problems]
        self.sheet.row([row, "；".join(shown)[:CELL_LIMIT], *self._cells(cells)])
        self.count += 1
        for name, reason in problems:
            if len(self.first) < FIRST_SHOWN:
                self.first.append({"row": row, "column": self.label(name) if name else "", "reason": reason})

    def _cells(self, cells: Sequence[Any]) -> list[Any]:
        out = []
        for i in range(len(self.columns)):
            value = cells[i] if i < len(cells) else None
            kind = self.masks.get(i)
            if kind is not None and value not in (None, ""):
                value = mask(text(value) or "", kind)
            elif isinstance(value, str):
                value = value[:CELL_LIMIT]
            out.append(value)
        return out

    def close(self) -> str | None:
        if self.sheet is not None:
            self.sheet.close()
            self.sheet = None
            self.closed_path = str(self.path)
        return self.closed_path
