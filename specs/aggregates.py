"""Aggregates over child rows: a computed field whose value is read from the rows that point at it.

    open_tasks: {type: computed, label: 未完成任务数,
                 aggregate: {of: task, via: event, agg: count, where: {state: open}}}

`of` is the child entity, `via` its ref to this entity (by id or a `key:` soft ref; optional when
the child has exactly one), `agg` one of count / exists / max / min / sum, `field` the child field
that max / min / sum read, `where` a where clause on the child (relative dates allowed). The value
is a correlated scalar subquery (runtime/data/aggregates.py); pure helpers for the checks live here.
"""
from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

AGGS = ("count", "exists", "max", "min", "sum")
NUMERIC = ("integer", "decimal")
ORDERED = ("integer", "decimal", "date", "datetime", "string")
UNREADABLE = ("lookup", "multi_ref", "computed", "file", "geo", "text")


def links(child_fields: Mapping[str, Mapping], parent: str) -> list[str]:
    """The child's refs to `parent` (by id or by business key), in declaration order."""
    return [n for n, f in child_fields.items() if f.get("type") == "ref" and f.get("to") == parent]


def result_type(agg: str, field_type: str | None) -> str:
    """count → integer, exists → boolean, sum → the number's type, max/min → the field's type."""
    if agg == "count":
        return "integer"
    if agg == "exists":
        return "boolean"
    return {"dict": "string"}.get(field_type or "", field_type or "integer")


def problems(spec: Mapping[str, Any], parent: str, fields_of: Callable[[str], Mapping[str, Mapping] | None]
             ) -> list[tuple[tuple, str, str]]:
    """(sub-path, code, message) for each problem of an `aggregate:` mapping (its where clause is
    checked like every other, by the caller): SA205 the child, SA206 the link, SA207 agg and field,
    SA209 an entity over its own rows (the correlated subquery could not tell the two apart)."""
    child = spec.get("of")
    child_fields = fields_of(child) if child else None
    if child_fields is None:
        return [(("of",), "SA205", f"aggregate: 'of' names no entity '{child}'")]
    if child == parent:
        return [(("of",), "SA209", f"aggregate: '{parent}' over its own rows (a tree's children) is not supported; "
                                   "declare it on an entity the rows point at")]
    found = links(child_fields, parent)
    via = spec.get("via")
    out: list[tuple[tuple, str, str]] = []
    if via is None and len(found) != 1:
        why = f"it has {len(found)}: {', '.join(found)}" if found else "it has none"
        out.append(((), "SA206", f"aggregate: say which ref of '{child}' points here with 'via' ({why})"))
    elif via is not None and via not in found:
        out.append((("via",), "SA206", f"aggregate: '{via}' is not a ref of '{child}' to '{parent}'"
                    + (f" (refs to it: {', '.join(found)})" if found else "")))
    agg, name = spec.get("agg"), spec.get("field")
    if agg in ("count", "exists"):
        if name is not None:
            out.append((("field",), "SA207", f"aggregate: {agg} counts rows and takes no 'field'"))
        return out
    if name is None:
        return out + [((), "SA207", f"aggregate: {agg} needs the 'field' of '{child}' it reads")]
    f = child_fields.get(name)
    ftype = "integer" if name == "id" else (f or {}).get("type")
    if ftype is None:
        return out + [(("field",), "SA207", f"aggregate: '{name}' is not a field of '{child}'")]
    if ftype in UNREADABLE or (f or {}).get("sensitive"):
        why = "sensitive" if (f or {}).get("sensitive") else f"a {ftype} field"
        return out + [(("field",), "SA207", f"aggregate: '{name}' is {why}, which {agg} cannot read")]
    allowed = NUMERIC if agg == "sum" else ORDERED + ("dict",)
    if ftype not in allowed:
        out.append((("field",), "SA207", f"aggregate: {agg} needs {' or '.join(allowed)}, and '{name}' is {ftype}"))
    return out
