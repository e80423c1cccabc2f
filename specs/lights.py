"""Deadlines and their warning lights, as the spec declares them on a datetime field:

    due_at: {type: datetime, label: 办结时限,
             deadline: {from: reported_at, working_days: event_type.limit_days},
             lights: {yellow: {working_hours: 4}, done: {status: [closed]}}}

`deadline` is stored when the row is written (runtime/calendar/deadlines.py); `lights` stores a
second column `<field>_warn_at` (when the light turns yellow) beside it, so a light is a plain
comparison of stored columns with now: red = past the deadline, yellow = past the warning moment,
green = before it; a row meeting `done` has no light. Where clauses (tabs, action conditions,
notifications) may name `<field>_light: red` (or `{in: [yellow, red]}`): `expand` rewrites it into
conditions on the two columns with `$now`, so the database filters and counts it. Shared by the
checks, the model builder and the runtime.
"""
from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

COLORS = ("green", "yellow", "red")
LABELS = {"green": "正常", "yellow": "临期", "red": "超期"}
AMOUNT_UNITS = ("working_days", "working_hours", "days", "hours")
YELLOW_UNITS = AMOUNT_UNITS + ("ratio",)


PARAM_DEFAULTS = {"key": "code", "value": "value", "fallback": "default_value"}


def param_of(yellow: Mapping) -> dict | None:
    """`yellow: {working_days: 1, param: {entity: system_param, code: near_due_days}}`: the amount is the
    `value` of the row of `entity` whose `key` field is `code` (else its `fallback`, else the amount given);
    key/value/fallback default to code/value/default_value. None without `param`."""
    given = yellow.get("param") if isinstance(yellow, Mapping) else None
    return {**PARAM_DEFAULTS, **given, "explicit": set(given)} if given else None


def warn_field(name: str) -> str:
    return f"{name}_warn_at"


def light_key(name: str) -> str:
    return f"{name}_light"


def lit_field(entity, key: str):
    """The deadline field with lights whose light `key` names (`due_at_light` → due_at), or None."""
    if not key.endswith("_light"):
        return None
    name = key[: -len("_light")]
    return next((f for f in entity.fields if f.name == name and f.lights), None)


def unit_of(spec: Mapping, units=AMOUNT_UNITS) -> tuple[str, Any] | None:
    """The one (unit, amount) of a deadline or yellow mapping; None when there is not exactly one."""
    found = [(u, spec[u]) for u in units if u in spec]
    return found[0] if len(found) == 1 else None


def done_values(lights: Mapping) -> dict[str, tuple]:
    """`done: {status: [closed, cancelled]}` → {field: values} (a single value is a list of one)."""
    out = {}
    for name, values in (lights.get("done") or {}).items():
        out[name] = tuple(values) if isinstance(values, (list, tuple)) else (values,)
    return out


def is_done(row: Mapping, lights: Mapping) -> bool:
    done = done_values(lights)
    return bool(done) and all(row.get(name) in values for name, values in done.items())


def _not_done(lights: Mapping) -> list[dict]:
    done = done_values(lights)
    if not done:
        return []
    return [{"or": [{"or": [{name: None}, {"and": [{name: {"not": v}} for v in values]}]}
                    for name, values in done.items()]}]


def not_done_clause(lights: Mapping) -> dict | None:
    """The where clause of the rows that are not done (None: `done` declares nothing)."""
    parts = _not_done(lights)
    return {"and": parts} if parts else None


def color_clause(name: str, lights: Mapping, color: str) -> dict:
    """The where clause of the rows whose light is `color`."""
    due, warn = name, warn_field(name)
    parts = {"red": [{due: {"lt": "$now"}}],
             "yellow": [{due: {"gte": "$now"}}, {warn: {"lte": "$now"}}],
             "green": [{due: {"gte": "$now"}}, {warn: {"gt": "$now"}}]}[color]
    return {"and": parts + _not_done(lights)}


def light_of(due: dt.datetime | None, warn: dt.datetime | None, now: dt.datetime) -> str | None:
    """The light of a row that is not done, as color_clause reads it in the database."""
    if due is None:
        return None
    if due < now:
        return "red"
    if warn is not None and warn <= now:
        return "yellow"
    return "green" if warn is not None else None


def colors_of(cond: Any) -> list[str] | None:
    """The colours a where condition on a light names (`red`, `{eq: red}`, `{in: [..]}`), None if malformed."""
    if isinstance(cond, Mapping):
        if len(cond) != 1:
            return None
        op, value = next(iter(cond.items()))
        if op == "eq":
            return colors_of(value)
        if op != "in" or not isinstance(value, (list, tuple)) or not value:
            return None
        values = list(value)
    else:
        values = [cond]
    return values if all(v in COLORS for v in values) else None


def expand(clause: Any, lit: Mapping[str, Mapping]) -> Any:
    """`clause` with each `<field>_light` key of a field in `lit` (field name → its lights) rewritten
    into conditions on the stored columns; other keys as they are."""
    if not isinstance(clause, Mapping) or not lit:
        return clause
    keys = {light_key(n): n for n in lit}
    if not any(k in keys or k in ("or", "and") for k in clause):
        return clause
    out: dict[str, Any] = {}
    extra = []
    for key, cond in clause.items():
        if key in ("or", "and"):
            out[key] = [expand(c, lit) for c in cond]
        elif key in keys:
            name = keys[key]
            colors = colors_of(cond) or []
            extra.append({"or": [color_clause(name, lit[name], c) for c in colors]})
        else:
            out[key] = cond
    if extra:
        out["and"] = list(out.get("and", [])) + extra
    return out
