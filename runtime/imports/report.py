"""The error workbook: one line per problem — row as Excel shows it, column header, value, reason."""
from __future__ import annotations

from pathlib import Path
from typing import Any


class ErrorReport:
    HEADERS = ("行号", "列", "值", "原因")

    def __init__(self, path: Path):
        self.path = path
        self.book = None
        self.sheet = None
        self.count = 0
        self.closed_path: str | None = None

    def add(self, row: int, column: str, value: Any, reason: str) -> None:
        if self.book is None:
            from openpyxl import Workbook

            self.book = Workbook(write_only=True)  # rows go to a temp file, not memory
            self.sheet = self.book.create_sheet("错误")
            self.sheet.append(self.HEADERS)
        shown = value if isinstance(value, (int, float)) or value is None else str(value)[:500]
        self.sheet.append([row, column, shown, reason])
        self.count += 1

    def close(self) -> str | None:
        if self.book is not None:
            self.book.save(self.path)
            self.book = None
            self.closed_path = str(self.path)
        return self.closed_path
