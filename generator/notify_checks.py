"""Meaning checks of what a notification says and when it is sent (runtime/notify).

SA124: a placeholder of title/text/link the notification cannot fill (specs/placeholders.py): a
digest knows {count}, {group}, {group_id}, {day}; an event (`trigger:`) the written row's fields and
paths ({place.name}) besides {id}, {day}, {entity}, {action}. SA125: `trigger: {change: FIELD}` names no
field of the entity, `trigger: {action: NAME}` no custom action of a screen on it. SA126: an event's
recipients: `to` must end in a string field, `to_users` in a ref to org or user, and an in-app
event needs `to_users` or `roles`.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from specadmin.specs.placeholders import DIGEST, EVENT, TEMPLATE_KEYS, names

# Field types without one column value to show or compare.
UNSHOWN = ("multi_ref", "lookup", "file", "geo", "computed")

if TYPE_CHECKING:
    from specadmin.generator.build import Located
    from specadmin.generator.semantics import Checker


def check_placeholders(ck: "Checker", loc: "Located", entity: str) -> None:
    raw = loc.raw
    event = "trigger" in raw
    for key in TEMPLATE_KEYS:
        for name in names(raw.get(key)):
            if name in (EVENT if event else DIGEST):
                continue
            if not event:
                ck.err(loc, (key,), "SA124", f"notification '{loc.name}' {key}: unknown placeholder {{{name}}} "
                       f"(a digest knows {', '.join('{' + d + '}' for d in DIGEST)})")
                continue
            final, problem = ck.resolve(entity, name)
            if final is None:
                ck.err(loc, (key,), "SA124", f"notification '{loc.name}' {key}: unknown placeholder {{{name}}}: {problem}")
            elif final.get("sensitive"):
                ck.err(loc, (key,), "SA124", f"notification '{loc.name}' {key}: {{{name}}} is a sensitive field")
            elif final.get("type") in UNSHOWN:
                ck.err(loc, (key,), "SA124", f"notification '{loc.name}' {key}: {{{name}}} cannot be shown in a text")


def check_trigger(ck: "Checker", loc: "Located", entity: str) -> None:
    on = loc.raw["trigger"]
    if isinstance(on, str):
        return
    if "change" in on:
        fields = ck.fields_of(entity)
        for name in [on["change"]] if isinstance(on["change"], str) else on["change"]:
            if name not in fields or name == "id":
                ck.err(loc, ("trigger", "change"), "SA125", f"notification '{loc.name}': entity '{entity}' has no field '{name}' to watch")
            elif fields[name].get("type") in UNSHOWN:
                ck.err(loc, ("trigger", "change"), "SA125",
                       f"notification '{loc.name}': field '{name}' ({fields[name]['type']}) cannot be watched")
        return
    actions = {a for s in ck.reg.screens.values() if s.raw.get("entity") == entity for a in (s.raw.get("custom_actions") or {})}
    if on["action"] not in actions:
        known = ", ".join(sorted(actions)) or "none"
        ck.err(loc, ("trigger", "action"), "SA125",
               f"notification '{loc.name}': no custom action '{on['action']}' on a screen of '{entity}' (known: {known})")


def check_recipients(ck: "Checker", loc: "Located", entity: str) -> None:
    raw = loc.raw
    if raw["channel"] == "inapp" and "to_users" not in raw and not raw.get("roles"):
        ck.err(loc, (), "SA126", f"notification '{loc.name}' needs 'to_users' or 'roles' (who receives it)")
    for key, types in (("to", ("string",)), ("to_users", ("ref",))):
        if key not in raw:
            continue
        final, problem = ck.resolve(entity, raw[key])
        if final is None:
            ck.err(loc, (key,), "SA126", f"notification '{loc.name}' {key} '{raw[key]}': {problem}")
        elif final.get("type") not in types:
            ck.err(loc, (key,), "SA126", f"notification '{loc.name}' {key} '{raw[key]}' must end in a {types[0]} field")
        elif key == "to_users" and final.get("to") not in ("org", "user"):
            ck.err(loc, (key,), "SA126", f"notification '{loc.name}' to_users '{raw[key]}' must end in a ref to org or user")
