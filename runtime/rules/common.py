"""Helpers shared by the rule kinds: day arithmetic, date ranges as column conditions, and
turning a `creates.fields` mapping into the values of one new row."""
from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any

from piccolo.columns import Column

if TYPE_CHECKING:
    from specadmin.specs.model import Entity

    from specadmin.runtime.app.context import AppContext


def as_date(value: Any) -> dt.date:
    """`date(x)` comes back as a date on PostgreSQL and as 'YYYY-MM-DD' text on SQLite."""
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    return dt.date.fromisoformat(str(value)[:10])


def day_range(column: Column, field_type: str, first: dt.date, last: dt.date) -> list:
    """Conditions keeping rows whose day lies in [first, last], usable by an index on the column."""
    end = last + dt.timedelta(days=1)
    if field_type == "datetime":
        return [column >= dt.datetime.combine(first, dt.time.min), column < dt.datetime.combine(end, dt.time.min)]
    return [column >= first, column < end]


def period_label(start: dt.date, end: dt.date) -> str:
    return f"{start.isoformat()}至{end.isoformat()}"


def token_field(mapping: Any, token: str) -> str | None:
    """The created field a token is mapped to (e.g. which field holds $start)."""
    return next((name for name, value in (mapping or {}).items() if value == token), None)


def build_values(ctx: "AppContext", entity: "Entity", mapping: Any, tokens: dict[str, Any],
                 row: dict[str, Any] | None = None) -> dict[str, Any]:
    """Values of one created row: tokens substituted, `$row.x` copied, literals kept.

    Copied text going into a dict field is matched against the dictionary's keys and then its
    labels (scan rows carry 餐饮场所 where places store `catering`); no match leaves it empty.
    Empty values are left out so the column default applies (e.g. 所在市区 = 开平市)."""
    values: dict[str, Any] = {}
    for name, spec in mapping.items():
        if isinstance(spec, str) and spec.startswith("$row."):
            value = (row or {}).get(spec[5:])
        elif isinstance(spec, str) and spec.startswith("$"):
            value = tokens[spec]
        else:
            value = spec
        field = entity.field(name)
        if field.type == "dict" and value is not None:
            value = dict_key(ctx, field.dict, value)
        if field.max_length and isinstance(value, str):
            value = value[: field.max_length]
        if value in (None, ""):
            continue
        values[name] = value
    return ctx.sensitive.encode(entity, values)


def dict_key(ctx: "AppContext", dict_name: str, value: Any) -> str | None:
    items = ctx.dict_labels.get(dict_name) or dict(ctx.app.dictionary(dict_name).items)
    text = str(value).strip()
    if text in items:
        return text
    return next((key for key, label in items.items() if label == text), None)


def decoded(ctx: "AppContext", entity: "Entity", row: dict[str, Any]) -> dict[str, Any]:
    """A source row with its sensitive values decrypted (copies must be re-encrypted, not re-wrapped)."""
    out = dict(row)
    for f in entity.fields:
        if f.sensitive and f.name in out:
            out[f.name] = ctx.sensitive.decode(out[f.name])
    return out
