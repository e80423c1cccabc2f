"""The error workbook: one line per problem — row as Excel shows it, column header, value, reason."""
from __future__ import annotations

from pathlib import Path
from typing import Any

from specadmin.runtime.sheets.writer import Column, SheetWriter


class ErrorReport:
    COLUMNS = (Column("行号", width=8), Column("列", width=20), Column("值", width=30),
               Column("原因", width=50, highlight=True))

    def __init__(self, path: Path):
        self.path = path
        self.sheet: SheetWriter | None = None
        self.count = 0
        self.closed_path: str | None = None

    def add(self, row: int, column: str, value: Any, reason: str) -> None:
        if self.sheet is None:  # streamed to the file: a report of many bad rows never sits in memory
            self.sheet = SheetWriter(self.path, "xlsx", self.COLUMNS, title="错误")
        shown = value if isinstance(value, (int, float)) or value is None else str(value)[:500]
        self.sheet.row([row, column, shown, reason])
        self.count += 1

    def close(self) -> str | None:
        if self.sheet is not None:
            self.sheet.close()
            self.sheet = None
            self.closed_path = str(self.path)
        return self.closed_path
