"""Unique values: the database enforces them, this module says which and how, on every write path.

An entity's unique sets (specs/physical.py `unique_sets`) are each `unique: true` field and each
`unique: [[event, org]]` set; the database holds them as column constraints or unique indexes (a
sensitive field by its blind index). When a write breaks one, SQLite raises `UNIQUE constraint
failed: signup.event, signup.org` and asyncpg `UniqueViolationError` (`Key (event, org)=(…)`);
`violated` maps either back to the set, and `errors` words it by the fields' labels. EntityService
(API, pages, inbound feeds, actions) turns the violation into `Invalid` with `reported`; imports
check their rows against the same sets first, to name the row, and word the database's own refusal
of a file with `refusal`.
"""
from __future__ import annotations

import contextlib
import re
import sqlite3
from collections.abc import Iterator
from typing import Any

from specadmin.specs.model import Entity
from specadmin.specs.physical import unique_columns, unique_sets

from specadmin.runtime.data.values import Invalid

SQLITE = re.compile(r"UNIQUE constraint failed: (.+)$")
POSTGRES = re.compile(r"Key \((.+?)\)=")
USER_ALIASES = {"email": "username"}  # an auth_user table's inherited unique column -> the field it is made from


def _violation_columns(exc: BaseException) -> tuple[str | None, tuple[str, ...]] | None:
    """(table or None, columns) of a unique violation, or None when `exc` is none."""
    if isinstance(exc, sqlite3.IntegrityError):
        m = SQLITE.search(str(exc))
        if not m:
            return None
        parts = [p.strip().rpartition(".") for p in m.group(1).split(",")]
        return parts[0][0] or None, tuple(p[2] for p in parts)
    from asyncpg.exceptions import UniqueViolationError

    if isinstance(exc, UniqueViolationError):
        m = POSTGRES.search(getattr(exc, "detail", None) or "")
        columns = tuple(c.strip().strip('"') for c in m.group(1).split(",")) if m else ()
        return getattr(exc, "table_name", None), columns
    return None


def is_unique_violation(exc: BaseException) -> bool:
    """Whether `exc` is the database refusing a duplicate value (any table)."""
    return _violation_columns(exc) is not None


def violated(entity: Entity, exc: BaseException) -> tuple[str, ...] | None:
    """The entity's unique set a database error says was broken, or None (another error, another table)."""
    found = _violation_columns(exc)
    if found is None:
        return None
    table, columns = found
    if table is not None and table != entity.table:
        return None
    if entity.auth_user:  # piccolo's unique e-mail is `<username>@users.invalid` (EntityService.create)
        columns = tuple(USER_ALIASES.get(c, c) for c in columns)
    for names in unique_sets(entity):
        if set(unique_columns(entity, names)) == set(columns):
            return names
    return None


def labels(entity: Entity, names: tuple[str, ...]) -> str:
    return "、".join(entity.field(n).label for n in names)


def errors(entity: Entity, names: tuple[str, ...], values: dict[str, Any] | None = None) -> dict[str, str]:
    """Field errors of a broken set, keyed by each of its fields: a plain single value is named
    (`“KP001”已存在`, as before), a sensitive one never; a set names its fields' labels."""
    if len(names) == 1:
        f = entity.field(names[0])
        value = (values or {}).get(names[0])
        if value is not None and not f.sensitive and f.type != "geo":
            return {f.name: f"“{value}”已存在"}
        return {f.name: f"已存在相同{f.label}的记录"}
    message = f"已存在相同{labels(entity, names)}的记录"
    return {n: message for n in names}


@contextlib.contextmanager
def reported(entity: Entity, values: dict[str, Any] | None = None) -> Iterator[None]:
    """Around a write (outside its transaction, so the rollback happened): a unique violation becomes
    Invalid naming the set's fields; any other error passes unchanged."""
    try:
        yield
    except Exception as exc:
        names = violated(entity, exc)
        if names is None:
            raise
        raise Invalid(errors(entity, names, values)) from exc


def refusal(entity: Entity, exc: BaseException) -> str | None:
    """One sentence for a whole batch the database refused (a row written by someone else meanwhile)."""
    names = violated(entity, exc)
    return None if names is None else f"与已有数据重复（{labels(entity, names)}），未写入任何数据"
