"""How a value shows in a spreadsheet cell, the same in .csv and .xlsx."""
from __future__ import annotations

import datetime as dt
import json
import re
from typing import Any

# Characters XML 1.0 cannot carry at all (a stray control character in a cell would break an .xlsx).
ILLEGAL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")
# A text starting with one of these is a formula to Excel, WPS and LibreOffice (OWASP "CSV injection").
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def csv_text(value: str) -> str:
    """Text as written to a .csv cell: what one user typed never runs as a formula when another
    opens the file, so a leading = + - @ tab or CR gets an apostrophe in front (OWASP). In .xlsx,
    text is written as a string cell instead, which no spreadsheet program evaluates."""
    return "'" + value if value.startswith(FORMULA_START) else value


def cell(value: Any) -> Any:
    """Booleans 是/否, None and empty lists empty, dates and times as ISO text (2026-11-01, 2026-11-01 08:00:00),
    dicts and lists as JSON; text and numbers stay as they are."""
    if value is None or (isinstance(value, (list, tuple)) and not value):  # no key of a multi-valued field
        return ""
    if isinstance(value, bool):
        return "是" if value else "否"
    if isinstance(value, (int, float, str)):
        return value
    if isinstance(value, dt.datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S")
    if isinstance(value, (dt.date, dt.time)):
        return value.isoformat()
    if isinstance(value, (dict, list, tuple)):
        return json.dumps(value, ensure_ascii=False, default=str)
    if type(value).__name__ == "Decimal":
        return value
    return str(value)
