"""Declarative where clauses (tabs, action conditions, notifications, feeds) → Piccolo `Where`
objects, or evaluated on a row in memory.

Values may be relative dates (`$today`, `$now-24h`, specs/relative_dates.py), resolved against
`clock` each time a clause is used and bound as parameters like any literal. A day compared with
a datetime field compares the field's day (`created_at: $today` is "created today", `{lte: $today}`
includes all of today); a moment compared with a date field uses the moment's day.
"""
from __future__ import annotations

import datetime as dt
from typing import Any, Mapping
from weakref import WeakKeyDictionary

from piccolo.columns import Date, Timestamp, Timestamptz
from piccolo.columns.combination import And, Or
from piccolo.table import Table
from specadmin.specs import relative_dates

from specadmin.runtime.data import multi_dict

clock = dt.datetime.now  # the server's local wall clock, like every stamp; tests freeze it here
DAY = dt.timedelta(days=1)
# Per table: the names of its computed fields, and what gives one's SQL (runtime/data/computed.py installs it).
EXPRESSIONS: WeakKeyDictionary = WeakKeyDictionary()


def column_of(table: type[Table], name: str) -> Any:
    """The column of a field, or the SQL of a computed field (compared, ordered and selected alike)."""
    found = EXPRESSIONS.get(table)
    if found is not None and name in found[0]:
        return found[1](name)
    return getattr(table, name)


def now() -> dt.datetime:
    return clock().replace(microsecond=0)


def never(table: type[Table]):
    """A condition no row meets (primary keys are positive)."""
    return table._meta.primary_key < 0


def combine_and(parts: list) -> Any:
    parts = [p for p in parts if p is not None]
    if not parts:
        return None
    result = parts[0]
    for p in parts[1:]:
        result = And(result, p)
    return result


def combine_or(parts: list) -> Any:
    result = parts[0]
    for p in parts[1:]:
        result = Or(result, p)
    return result


def where_of(table: type[Table], clause: Mapping[str, Any], at: dt.datetime | None = None) -> Any:
    at = at or now()  # one instant for the whole clause
    parts = []
    for key, cond in clause.items():
        if key == "or":
            parts.append(combine_or([where_of(table, c, at) for c in cond]))
            continue
        if key == "and":
            parts.append(combine_and([where_of(table, c, at) for c in cond]))
            continue
        column = column_of(table, key)
        multi = multi_dict.is_multi(table, key)  # several keys in one column: "holds" (runtime/data/multi_dict.py)
        if cond is None:
            parts.append(column.is_null())
        elif isinstance(cond, Mapping):
            for op, value in cond.items():
                parts.append(multi_dict.where_condition(column, op, value) if multi else _op(column, op, value, at))
        else:
            parts.append(multi_dict.where_condition(column, "eq", cond) if multi else _op(column, "eq", cond, at))
    return combine_and(parts)


def _op(column, op: str, value: Any, at: dt.datetime):
    if op == "in" and any(relative_dates.is_token(v) for v in value):
        plain = [v for v in value if not relative_dates.is_token(v)]
        return combine_or(([column.is_in(plain)] if plain else [])
                          + [_op(column, "eq", v, at) for v in value if relative_dates.is_token(v)])
    if relative_dates.is_token(value) and op != "contains":
        return _relative(column, op, relative_dates.parse(value).resolve(at))
    if op == "eq":
        return column == value
    if op == "not":
        return column.is_not_null() if value is None else column != value
    if op == "in":
        return column.is_in(list(value))
    if op == "gte":
        return column >= value
    if op == "lte":
        return column <= value
    if op == "gt":
        return column > value
    if op == "lt":
        return column < value
    if op == "contains":
        return column.ilike(f"%{value}%")
    raise ValueError(f"unknown operator {op}")


def _relative(column, op: str, value: dt.date | dt.datetime):
    """A resolved relative date against a date or datetime column (`specadmin check` allows no other)."""
    kind = getattr(column, "value_type", None)  # a computed field's SQL says what it gives
    if (isinstance(column, (Timestamp, Timestamptz)) or kind == "datetime") and not isinstance(value, dt.datetime):
        start = dt.datetime.combine(value, dt.time.min)  # the field's day against a day: [start, end)
        end = start + DAY
        return {"eq": lambda: And(column >= start, column < end), "not": lambda: Or(column < start, column >= end),
                "gte": lambda: column >= start, "gt": lambda: column >= end,
                "lt": lambda: column < start, "lte": lambda: column < end}[op]()
    if not isinstance(column, (Date, Timestamp, Timestamptz)) and kind not in ("date", "datetime"):
        raise ValueError(f"a relative date cannot be compared with {column._meta.name}")
    if (isinstance(column, Date) or kind == "date") and isinstance(value, dt.datetime):
        value = value.date()
    return _op(column, op, value, dt.datetime.min)


def matches(row: Mapping[str, Any], clause: Mapping[str, Any] | None, at: dt.datetime | None = None) -> bool:
    """Evaluate a where clause on a row already in memory (action conditions, chart lines, feeds)."""
    if not clause:
        return True
    at = at or now()
    for key, cond in clause.items():
        if key == "or":
            if not any(matches(row, c, at) for c in cond):
                return False
            continue
        if key == "and":
            if not all(matches(row, c, at) for c in cond):
                return False
            continue
        value = row.get(key)
        if cond is None:
            if value is not None:
                return False
        elif isinstance(cond, Mapping):
            for op, expected in cond.items():
                if not _holds(value, op, expected, at):
                    return False
        elif not _holds(value, "eq", cond, at):
            return False
    return True


def _holds(value: Any, op: str, expected: Any, at: dt.datetime) -> bool:
    if isinstance(value, (list, tuple)):  # a multi-valued field's keys: as its SQL (runtime/data/multi_dict.py)
        keys = [str(v) for v in value]
        if op in ("eq", "contains"):
            return str(expected) in keys
        if op == "in":
            return any(str(v) in keys for v in expected)
        if op == "not":
            return bool(keys) if expected is None else str(expected) not in keys
    if op == "in" and any(relative_dates.is_token(v) for v in expected):
        return any(_holds(value, "eq", v, at) for v in expected)
    if relative_dates.is_token(expected) and op != "contains":
        expected = relative_dates.parse(expected).resolve(at)
        value = _as_time(value)
        if isinstance(value, dt.datetime) and not isinstance(expected, dt.datetime):
            value = value.date()  # the field's day against a day
        elif isinstance(expected, dt.datetime) and value is not None and not isinstance(value, dt.datetime):
            expected = expected.date()  # a date field against a moment: its day
    if op == "eq":
        return value == expected
    if op == "not":
        return value is not None if expected is None else value != expected
    if op == "in":
        return value in expected
    if op in ("gte", "lte", "gt", "lt"):
        return value is not None and {"gte": value >= expected, "lte": value <= expected,
                                      "gt": value > expected, "lt": value < expected}[op]
    if op == "contains":
        return value is not None and str(expected) in str(value)
    return True


def _as_time(value: Any) -> Any:
    """A date or datetime read as ISO text (feed payloads) as its value; None when unreadable."""
    if not isinstance(value, str):
        return value
    try:
        return dt.datetime.fromisoformat(value) if len(value) > 10 else dt.date.fromisoformat(value)
    except ValueError:
        return None
