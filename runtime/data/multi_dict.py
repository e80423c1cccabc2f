"""Conditions on multi-valued dictionary fields (`type: dict, multi: true`, stored `,a,b,`:
specs/multi_keys.py), the same SQL on SQLite and PostgreSQL.

"Holds key a" is `column LIKE '%,a,%' ESCAPE '\\'`, pattern and escape character bound as
parameters; any of several keys is the OR of those, all of them the AND. List filters take
`?tags=a,b` (any) and `?tags=a,b&tags_match=all`; where clauses (tabs, conditions) take
`{tags: {contains: a}}` (holds a), `{tags: {in: [a, b]}}` (holds any), `{tags: a}` (holds a) and
`{tags: null}` (none).
"""
from __future__ import annotations

from typing import Any
from weakref import WeakKeyDictionary

from functools import reduce

from piccolo.columns.combination import And, Or, WhereRaw
from specadmin.specs.multi_keys import like_pattern, split

MATCHES = {"any": "任一", "all": "全部"}
# Per table: the names of its multi-valued dictionary fields (installed by runtime/app/context.py).
NAMES: WeakKeyDictionary = WeakKeyDictionary()


def holds(column, key: str):
    """The condition "the stored keys include `key`"."""
    return WhereRaw("{} LIKE {} ESCAPE {}", column, like_pattern(str(key)), "\\")


def holds_any(column, keys: list[str]):
    return reduce(Or, [holds(column, k) for k in keys])


def holds_all(column, keys: list[str]):
    return reduce(And, [holds(column, k) for k in keys])


def is_multi(table, name: str) -> bool:
    return name in NAMES.get(table, ())


def where_condition(column, op: str, value: Any):
    """A where clause's operator on a multi-valued field: eq/contains (holds), in (holds any),
    not (holds not, or: holds some key when the value is null); None for another operator."""
    if op in ("eq", "contains"):
        return holds(column, value)
    if op == "in":
        return holds_any(column, [str(v) for v in value]) if value else None
    if op == "not":
        if value is None:
            return column.is_not_null()
        return Or(column.is_null(), WhereRaw("{} NOT LIKE {} ESCAPE {}", column, like_pattern(str(value)), "\\"))
    return None


def filter_condition(column, label: str, name: str, value: Any, match: Any, dict_keys: dict | None):
    """A list filter's condition; ValueError (Chinese, naming the parameter) for an unknown key or match."""
    keys = split(value)
    if dict_keys is not None:
        bad = [k for k in keys if k not in dict_keys]
        if bad:
            raise ValueError(f"查询条件 {name}（{label}）中 " + "、".join(f"“{k}”" for k in bad) + " 不是有效的选项")
    mode = str(match).strip() if match not in (None, "") else "any"
    if mode not in MATCHES:
        raise ValueError(f"查询条件 {name}_match 的值应为 any（任一）或 all（全部）")
    if not keys:
        return None
    return holds_all(column, keys) if mode == "all" else holds_any(column, keys)


def install(ctx) -> None:
    """Let where clauses (runtime/data/where.py, which knows tables only) recognise these fields."""
    for entity in ctx.app.entities:
        names = {f.name for f in entity.fields if f.type == "dict" and f.multi}
        if names:
            NAMES[ctx.table(entity.name)] = names
