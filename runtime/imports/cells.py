"""What Excel and CSV cells really contain, turned into what runtime/data/values.coerce expects.

Full-width digits and letters, stray spaces, numbers stored as text (or text stored as
numbers), Excel serial dates, dates typed in common Chinese formats, dictionary labels
instead of keys, and 身份证号 (15 or 18 digits; the GB 11643 checksum on 18 digits).

Full-width forms are folded to half-width (NFKC: `１２３` → `123`, `，` → `,`) only where the
field's type needs it: numbers, dates, booleans, references, dictionary keys, and text that is a
code (身份证号, phone numbers, unique values, values with a pattern). Free text (names, addresses,
remarks) keeps what was typed, Chinese punctuation included; it is only trimmed.
"""
from __future__ import annotations

import datetime as dt
import re
import unicodedata
from collections.abc import Callable
from operator import mul
from typing import Any

from specadmin.specs import multi_keys
from specadmin.specs.model import Field

from specadmin.runtime.data.values import check_rules, coerce

EXCEL_EPOCH = dt.datetime(1899, 12, 30)
_DATE = re.compile(
    r"(\d{4})\s*[-/.年]\s*(\d{1,2})\s*[-/.月]\s*(\d{1,2})\s*日?"
    r"(?:[\sT]*(\d{1,2})\s*[:：时点]\s*(\d{1,2})\s*(?:[:：分]\s*(\d{1,2})(?:\.\d+)?\s*秒?)?\s*分?)?$")
_COMPACT = re.compile(r"(\d{4})(\d{2})(\d{2})(?:\s*(\d{2}):?(\d{2}):?(\d{2})?)?$")
_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_ID_CHECK = "10X98765432"
_ID_ZERO = 48 * sum(_ID_WEIGHTS)  # what ord("0") contributes to the weighted byte sum


def text(value: Any) -> str | None:
    """A cell as trimmed half-width text; None when empty. Integral floats lose their '.0'."""
    if type(value) is str:  # the common case (every CSV cell): no other checks
        # NFKC already maps U+3000 to a space; the quick check spares normalising plain Chinese.
        if not value.isascii() and not unicodedata.is_normalized("NFKC", value):
            value = unicodedata.normalize("NFKC", value).replace("\u3000", " ")
        return value.strip() or None
    if value is None:
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, (dt.datetime, dt.date)):
        return value.isoformat(sep=" ") if isinstance(value, dt.datetime) else value.isoformat()
    s = str(value)
    if not s.isascii():
        s = unicodedata.normalize("NFKC", s).replace("\u3000", " ")
    s = s.strip()
    return s or None


def plain(value: Any) -> str | None:
    """A free-text cell: trimmed (full-width spaces too), otherwise as typed; None when empty."""
    if type(value) is str:
        return value.strip() or None
    return text(value)  # numbers and dates: no full-width forms to keep


def is_code(field: Field) -> bool:
    """A text field whose full-width letters, digits and punctuation mean their ASCII twins: an
    identifier or number typed with a Chinese input method, not prose."""
    return (field.type not in ("string", "text", "file") or bool(field.pattern) or field.unique
            or field.check is not None or field.sensitive in ("id_number", "phone"))


def parse_datetime(value: Any) -> dt.datetime:
    """Excel serial numbers, datetime cells and text such as 2026/11/1 8:05 or 2026年11月1日."""
    if isinstance(value, dt.datetime):
        return value.replace(tzinfo=None)
    if isinstance(value, dt.date):
        return dt.datetime(value.year, value.month, value.day)
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if not 1 <= value < 2958466:
            raise ValueError("不是有效的日期")
        return (EXCEL_EPOCH + dt.timedelta(days=float(value))).replace(microsecond=0)
    s = text(value) or ""
    if len(s) in (10, 16, 19) and s[4:5] == "-" and s[7:8] == "-":
        try:  # ISO text (what most exports carry) parses in C
            return dt.datetime.fromisoformat(s)
        except ValueError:
            pass
    m = _DATE.match(s) or _COMPACT.match(s)
    if m is None:
        try:
            serial = float(s)
        except ValueError:
            raise ValueError("日期格式不正确（应如 2026-11-01 08:00）") from None
        return parse_datetime(serial)
    y, mo, d, h, mi, sec = (int(x) if x else 0 for x in m.groups())
    try:
        return dt.datetime(y, mo, d, h, mi, sec)
    except ValueError:
        raise ValueError("不是有效的日期") from None


def id_number_problem(value: str) -> str | None:
    """GB 11643: 18 characters (17 digits + check digit or X) or the old 15 digits."""
    if len(value) == 15:
        return None if value.isdigit() else "身份证号应为15或18位"
    if len(value) != 18 or not value[:17].isdigit():
        return "身份证号应为15或18位"
    if value.isascii():  # ASCII digits: weigh the bytes directly (3x faster than int() per digit)
        total = sum(map(mul, value[:17].encode(), _ID_WEIGHTS)) - _ID_ZERO
    else:
        total = sum(int(c) * w for c, w in zip(value[:17], _ID_WEIGHTS))
    if _ID_CHECK[total % 11] != value[17].upper():
        return "身份证号校验位不正确"
    try:
        dt.date(int(value[6:10]), int(value[10:12]), int(value[12:14]))
    except ValueError:
        return "身份证号中的出生日期不正确"
    return None


def converter(field: Field, dict_items: dict[str, str] | None) -> Callable[[Any], Any]:
    """One column's cell -> stored value function; raises ValueError with the reason.

    Compiled once per column: the hot types (plain strings, 身份证号, dates) get a closure
    with the field's rules resolved up front; everything else goes through coerce()."""
    by_label = {label: key for key, label in (dict_items or {}).items()}
    # check_rules() can only object to a string when one of these is set (255: plain strings).
    limit = field.max_length if field.max_length is not None else \
        (255 if field.type == "string" and not field.sensitive else None)
    string_rules = limit is not None or field.min_length is not None or bool(field.pattern)
    if field.type == "string" and field.check is None:
        normalise = text if is_code(field) else plain

        def convert_string(cell: Any) -> Any:
            # coerce() of a string trims it; only the field's own rules remain to be checked.
            if type(cell) is str and cell.isascii():
                s = cell.strip() or None
            else:
                s = normalise(cell)
            if s is not None and "\x00" in s:  # no database text holds NUL (PostgreSQL refuses it)
                raise ValueError("不能包含空字符")
            if s is not None and string_rules and (
                    (limit is not None and len(s) > limit) or field.min_length is not None or field.pattern):
                problem = check_rules(field, s)
                if problem:
                    raise ValueError(problem)
            return s

        return convert_string

    if field.type == "string" and field.check == "id_number":
        def convert_id_number(cell: Any) -> Any:
            s = text(cell)
            if s is None:
                return None
            s = s.upper()
            problem = id_number_problem(s)
            if problem:
                raise ValueError(problem)
            value = coerce(field, s, None)
            if value is not None and string_rules:
                problem = check_rules(field, value)
                if problem:
                    raise ValueError(problem)
            return value

        return convert_id_number

    if field.type in ("date", "datetime"):
        as_date = field.type == "date"

        def convert_when(cell: Any) -> Any:
            # check_rules() has nothing to say about dates, so only parsing remains.
            if type(cell) is str and cell.isascii():
                s = cell.strip()
                if not s:
                    return None
                if len(s) in (10, 16, 19) and s[4] == "-" and s[7] == "-":
                    try:  # ISO text (what most exports carry) parses in C
                        value = dt.datetime.fromisoformat(s)
                        return value.date() if as_date else value
                    except ValueError:
                        pass
            elif cell is None or (isinstance(cell, str) and not cell.strip()):
                return None
            value = parse_datetime(cell)
            return value.date() if as_date else value

        return convert_when

    if field.type == "dict" and field.multi:
        return _multi_converter(field, dict_items, by_label)

    normalise = text if is_code(field) else plain
    # Labels as typed, and folded to half-width (a label with full-width punctuation, typed either way).
    by_folded = {text(label) or label: key for label, key in by_label.items()}

    def convert(cell: Any) -> Any:
        if field.type == "dict":
            typed = plain(cell)
            if typed is None:
                return None
            s = by_label.get(typed) or by_folded.get(text(typed) or "") or text(typed)  # a label, or the key
        else:
            s = normalise(cell)
        if s is None:
            return None
        if field.check == "id_number":
            s = s.upper()
            problem = id_number_problem(s)
            if problem:
                raise ValueError(problem)
        value = coerce(field, s, dict_items if field.type == "dict" else None)
        if value is not None:
            problem = check_rules(field, value)
            if problem:
                raise ValueError(problem)
        return value

    return convert


def _multi_converter(field: Field, dict_items: dict[str, str] | None, by_label: dict[str, str]) -> Callable[[Any], Any]:
    """A multi-valued dictionary cell, `密接、次密接` (labels or keys, between 、 , ， ; ；) -> the
    stored `,a,b,` (specs/multi_keys.py); the unknown ones named in the error."""
    by_folded = {text(label) or label: key for label, key in by_label.items()}

    def convert_multi(cell: Any) -> Any:
        typed = plain(cell)
        if typed is None:
            return None
        keys = [by_label.get(item) or by_folded.get(text(item) or "") or text(item) for item in multi_keys.split(typed)]
        return multi_keys.encode(coerce(field, keys, dict_items))

    return convert_multi
