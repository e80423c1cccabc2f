"""The error workbook: one line per problem — row as Excel shows it, column header, value, reason.

The value of a sensitive field (身份证号, phone, name, address) is shown masked as in lists
(`110***********1234`): the workbook is downloaded, mailed and kept, and the importer already has
the clear value in the file they uploaded. The workbook is written 0600 in a 0700 folder, and is
deleted after app.yaml `files.retention_days` (runtime/imports/retention.py).
"""
from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from specadmin.runtime.crypto import mask
from specadmin.runtime.data.private_files import private_dir
from specadmin.runtime.imports.cells import text
from specadmin.runtime.sheets.writer import Column, SheetWriter

if TYPE_CHECKING:
    from specadmin.specs.model import Entity


class ErrorReport:
    COLUMNS = (Column("行号", width=8), Column("列", width=20), Column("值", width=30),
               Column("原因", width=50, highlight=True))

    def __init__(self, path: Path, entity: Entity | None = None):
        """`entity`: the imported entity; values in the columns of its sensitive fields are masked.
        Columns are named by the field's label or name, as the callers pass them to add()."""
        self.path = path
        private_dir(path.parent)
        self.masks: dict[str, str] = {}
        for f in entity.fields if entity is not None else ():
            if f.sensitive:
                kind = "default" if f.sensitive == "other" else f.sensitive
                self.masks[f.label] = self.masks[f.name] = kind
        self.sheet: SheetWriter | None = None
        self.count = 0
        self.closed_path: str | None = None

    def add(self, row: int, column: str, value: Any, reason: str) -> None:
        if self.sheet is None:  # streamed to the file: a report of many bad rows never sits in memory
            self.sheet = SheetWriter(self.path, "xlsx", self.COLUMNS, title="错误")
        kind = self.masks.get(column)
        if kind is not None and value is not None:
            shown: Any = mask(text(value) or "", kind)
        else:
            shown = value if isinstance(value, (int, float)) or value is None else str(value)[:500]
        self.sheet.row([row, column, shown, reason])
        self.count += 1

    def close(self) -> str | None:
        if self.sheet is not None:
            self.sheet.close()
            self.sheet = None
            self.closed_path = str(self.path)
        return self.closed_path
