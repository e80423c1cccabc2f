"""Meaning checks for `deadline:` and `lights:` on datetime fields, and for `<field>_light` in
where clauses (specs/lights.py, runtime/calendar), kept apart from semantics.py.

SA165: a deadline on a field that is not a datetime, a `from` that is no date/datetime field nor
`$now`, or not exactly one of working_days / working_hours / days / hours.
SA166: a per-row amount that is not a number field of the row or through a ref (event_type.limit_days).
SA167: lights without a deadline, a yellow of more than one unit, a `done` naming an unknown field
or a value its dictionary does not know, or a field named `<field>_warn_at` already.
SA235: a yellow `param:` naming an entity that does not exist, or a key/value/fallback field it lacks.
SA236: a yellow `param:` whose key is not a string field or whose value/fallback is not a string or number
field, or a yellow with `param` but no unit (or more than one).
SA168: a where clause naming `<field>_light` with something other than green, yellow or red
(`red`, `{eq: red}`, `{in: [yellow, red]}`), or where it is not rewritten (feeds, chart lines).
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from specadmin.specs import lights

if TYPE_CHECKING:
    from specadmin.generator.build import Located
    from specadmin.generator.semantics import Checker

NUMBER = ("integer", "decimal")
MOMENT = ("date", "datetime")


def check_deadline(ck: "Checker", loc: "Located", name: str, f: dict) -> None:
    at = ("fields", name)
    fields = loc.raw["fields"]
    if "deadline" in f:
        spec = f["deadline"]
        if f["type"] != "datetime":
            ck.err(loc, at + ("deadline",), "SA165", f"field '{name}': deadline needs a datetime field, not {f['type']}")
        source = spec["from"]
        if source != "$now" and (fields.get(source) or {}).get("type") not in MOMENT:
            ck.err(loc, at + ("deadline", "from"), "SA165",
                   f"field '{name}': deadline from '{source}' must be $now or a date or datetime field of '{loc.name}'")
        found = [u for u in lights.AMOUNT_UNITS if u in spec]
        if len(found) != 1:
            ck.err(loc, at + ("deadline",), "SA165", f"field '{name}': deadline needs exactly one of "
                                                     f"{', '.join(lights.AMOUNT_UNITS)} (found {', '.join(found) or 'none'})")
        else:
            amount = spec[found[0]]
            if isinstance(amount, str):
                final, problem = ck.resolve(loc.name, amount)
                if final is None or final.get("type") not in NUMBER or final.get("sensitive"):
                    ck.err(loc, at + ("deadline", found[0]), "SA166",
                           f"field '{name}': deadline {found[0]} '{amount}' must be a number field of '{loc.name}' "
                           f"or of a ref (e.g. event_type.limit_days){': ' + problem if problem else ''}")
                elif amount.count(".") > 1 or ("." in amount and fields[amount.split(".")[0]].get("key")):
                    ck.err(loc, at + ("deadline", found[0]), "SA166",
                           f"field '{name}': deadline {found[0]} '{amount}' may go through one ref stored by id, no further")
            elif found[0] == "working_days" and int(amount) != amount:
                ck.err(loc, at + ("deadline", found[0]), "SA165", f"field '{name}': working_days must be a whole number")
    if "lights" in f:
        spec = f["lights"]
        if "deadline" not in f:
            ck.err(loc, at + ("lights",), "SA167", f"field '{name}': lights needs a deadline on the same field")
        warn = lights.warn_field(name)
        if warn in fields:
            ck.err(loc, at + ("lights",), "SA167", f"field '{name}': lights stores '{warn}', which is a field already")
        check_yellow_param(ck, loc, at + ("lights", "yellow"), name, spec.get("yellow") or {})
        for done, values in (spec.get("done") or {}).items():
            target = fields.get(done)
            if target is None or target["type"] in ("lookup", "multi_ref", "geo") or target.get("sensitive"):
                ck.err(loc, at + ("lights", "done", done), "SA167",
                       f"field '{name}': lights done names '{done}', which is not a stored, unencrypted field of '{loc.name}'")
                continue
            if target["type"] == "dict" and target.get("dict") in ck.reg.dictionaries:
                items = ck.reg.dictionaries[target["dict"]].raw["items"]
                for value in values if isinstance(values, list) else [values]:
                    if str(value) not in items:
                        ck.err(loc, at + ("lights", "done", done), "SA167",
                               f"field '{name}': lights done value '{value}' is not a key of dictionary '{target['dict']}'")


def check_yellow_param(ck: "Checker", loc: "Located", at: tuple, name: str, yellow: dict) -> None:
    param = lights.param_of(yellow)
    units = [u for u in lights.YELLOW_UNITS if u in yellow]
    if param is None:
        return
    if len(units) != 1:
        ck.err(loc, at, "SA236", f"field '{name}': lights yellow with param needs exactly one unit beside it "
                                 f"(the amount when the parameter is unset), found {', '.join(units) or 'none'}")
    target = ck.reg.entities.get(param["entity"])
    if target is None:
        ck.err(loc, at + ("param", "entity"), "SA235",
               f"field '{name}': lights yellow param names entity '{param['entity']}', which does not exist")
        return
    fields = target.raw["fields"]
    for role, kinds in (("key", ("string",)), ("value", ("string", "integer", "decimal")),
                        ("fallback", ("string", "integer", "decimal"))):
        field = param[role]
        if field not in fields:
            if role != "fallback" or role in param["explicit"]:
                ck.err(loc, at + ("param", role if role in param["explicit"] else "entity"), "SA235",
                       f"field '{name}': lights yellow param {role} '{field}' is not a field of '{param['entity']}'")
        elif fields[field].get("type") not in kinds or fields[field].get("sensitive"):
            ck.err(loc, at + ("param", role if role in param["explicit"] else "entity"), "SA236",
                   f"field '{name}': lights yellow param {role} '{field}' must be an unencrypted "
                   f"{' or '.join(kinds)} field of '{param['entity']}'")


def light_keys(fields: dict) -> set[str]:
    return {lights.light_key(n) for n, f in fields.items() if isinstance(f, dict) and "lights" in f}


def check_light_condition(ck: "Checker", loc: "Located", at: tuple, key: str, cond: Any, allowed: bool) -> None:
    if not allowed:
        ck.err(loc, at, "SA168", f"where: '{key}' is usable in tabs, action conditions and notifications only; "
                                 f"compare the stored deadline and '{key[:-len('_light')]}_warn_at' here")
    elif lights.colors_of(cond) is None:
        ck.err(loc, at, "SA168", f"where: '{key}' takes green, yellow or red (red, {{in: [yellow, red]}}), not {cond!r}")
