"""Declarative where clauses (tabs, action conditions) → Piccolo `Where` objects."""
from __future__ import annotations

from typing import Any, Mapping

from piccolo.columns.combination import And, Or
from piccolo.table import Table


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


def where_of(table: type[Table], clause: Mapping[str, Any]) -> Any:
    parts = []
    for key, cond in clause.items():
        if key == "or":
            parts.append(combine_or([where_of(table, c) for c in cond]))
            continue
        if key == "and":
            parts.append(combine_and([where_of(table, c) for c in cond]))
            continue
        column = getattr(table, key)
        if cond is None:
            parts.append(column.is_null())
        elif isinstance(cond, Mapping):
            for op, value in cond.items():
                parts.append(_op(column, op, value))
        else:
            parts.append(column == cond)
    return combine_and(parts)


def _op(column, op: str, value: Any):
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


def matches(row: Mapping[str, Any], clause: Mapping[str, Any] | None) -> bool:
    """Evaluate a where clause on a row already in memory (for action conditions)."""
    if not clause:
        return True
    for key, cond in clause.items():
        if key == "or":
            if not any(matches(row, c) for c in cond):
                return False
            continue
        if key == "and":
            if not all(matches(row, c) for c in cond):
                return False
            continue
        value = row.get(key)
        if cond is None:
            if value is not None:
                return False
        elif isinstance(cond, Mapping):
            for op, expected in cond.items():
                if op == "not" and (value is None if expected is None else value == expected):
                    return False
                if op == "in" and value not in expected:
                    return False
                if op in ("gte", "lte", "gt", "lt") and (value is None or not {
                        "gte": value >= expected, "lte": value <= expected,
                        "gt": value > expected, "lt": value < expected}[op]):
                    return False
                if op == "contains" and (value is None or str(expected) not in str(value)):
                    return False
        elif value != cond:
            return False
    return True
