"""Meaning checks for `rules:` and `jobs:` (runtime/rules, runtime/jobs), kept apart from semantics.py.

A rule names entities and fields in several places (source, bounds, target, creates); each
must exist with a usable type, and `creates` mappings may only use the tokens its kind
provides, so a typo is a spec error at generate time instead of a failed nightly job.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from specadmin.generator.build import Located
    from specadmin.generator.semantics import Checker

NUMERIC = ("integer", "decimal")
DATED = ("date", "datetime")
KEYS = ("string", "integer", "ref")
# Tokens a `creates.fields` value may use, per rule kind; anything not starting with $ is a literal.
TOKENS = {
    "consecutive_days": {"$bound", "$key", "$start", "$end", "$period", "$reason"},
    "threshold": {"$bound", "$key", "$date", "$value", "$reason", "$source"},
    "missing_reference": {"$key"},
}
DAY_TOKENS = {"$parent", "$date", "$value"}


def check_rules(ck: "Checker") -> None:
    for loc in ck.reg.rules.values():
        RuleCheck(ck, loc).run()
    for loc in ck.reg.jobs.values():
        check_job(ck, loc)
    for loc in ck.reg.notifications.values():
        check_notification(ck, loc)


def check_notification(ck: "Checker", loc: "Located") -> None:
    """A digest's group_by must end in a ref (the group, e.g. the supervising unit), `to` in a text
    field; an event notification (`trigger:`) is checked by generator/notify_checks.py."""
    from specadmin.generator.notify_checks import check_placeholders, check_recipients, check_trigger

    raw = loc.raw
    entity = raw["when"]["entity"]
    if entity not in ck.reg.entities:
        ck.err(loc, ("when", "entity"), "SA123", f"notification '{loc.name}': unknown entity '{entity}'")
        return
    if raw["when"].get("where"):
        ck.check_where(loc, ("when", "where"), entity, raw["when"]["where"])
    # sms sends to a phone (`to`); inapp to the users of an org or a user (`to_users`, runtime/notify/inapp).
    sms, event = raw["channel"] == "sms", "trigger" in raw
    need, other = ("to", "to_users") if sms else ("to_users", "to")
    needed = (need,) if sms else (() if event else (need,)) + ("title",)
    if not event:
        needed += ("group_by",)
    for key in needed:
        if key not in raw:
            ck.err(loc, (), "SA123", f"notification '{loc.name}' (channel {raw['channel']}) needs '{key}'")
    for key in (other, "title", "link", "roles") if sms else (other,):
        if key in raw:
            ck.err(loc, (key,), "SA123", f"notification '{loc.name}': '{key}' does not apply to channel {raw['channel']}")
    for key in ("group_by", "once_per") if event else ():
        if key in raw:
            ck.err(loc, (key,), "SA123", f"notification '{loc.name}': '{key}' does not apply to an event notification (trigger:)")
    for role in raw.get("roles", ()):
        if role not in ck.reg.roles:
            ck.err(loc, ("roles",), "SA123", f"notification '{loc.name}' names unknown role '{role}'")
    check_placeholders(ck, loc, entity)
    if event:
        check_trigger(ck, loc, entity)
        check_recipients(ck, loc, entity)
        return
    for key, types in (("group_by", ("ref",)), ("to", ("string",)), ("to_users", ("ref",))):
        if key not in raw:
            continue
        final, problem = ck.resolve(entity, raw[key])
        if final is None:
            ck.err(loc, (key,), "SA123", f"notification '{loc.name}' {key} '{raw[key]}': {problem}")
        elif final.get("type") not in types:
            ck.err(loc, (key,), "SA123", f"notification '{loc.name}' {key} '{raw[key]}' must end in a {types[0]} field")
        elif key == "to_users" and final.get("to") not in ("org", "user"):
            ck.err(loc, (key,), "SA123", f"notification '{loc.name}' to_users '{raw[key]}' must end in a ref to org or user")


def _schedule_problem(expr: str) -> str | None:
    from celery.schedules import crontab

    minute, hour, dom, month, dow = expr.split()
    try:
        crontab(minute=minute, hour=hour, day_of_month=dom, month_of_year=month, day_of_week=dow)
    except Exception as exc:  # celery raises ValueError/ParseException for bad fields
        return f"schedule '{expr}' is not a valid cron expression ({exc})"
    return None


def check_job(ck: "Checker", loc: "Located") -> None:
    from specadmin.generator.handlers import handler_problem

    raw = loc.raw
    if sum(k in raw for k in ("rule", "function", "notification")) != 1:
        ck.err(loc, (), "SA122", f"job '{loc.name}' must name exactly one of 'rule', 'function' or 'notification'")
    if "rule" in raw and raw["rule"] not in ck.reg.rules:
        ck.err(loc, ("rule",), "SA122", f"job '{loc.name}' names unknown rule '{raw['rule']}'")
    if "notification" in raw and raw["notification"] not in ck.reg.notifications:
        ck.err(loc, ("notification",), "SA122", f"job '{loc.name}' names unknown notification '{raw['notification']}'")
    elif "notification" in raw and "trigger" in ck.reg.notifications[raw["notification"]].raw:
        ck.err(loc, ("notification",), "SA122", f"job '{loc.name}': notification '{raw['notification']}' is sent on writes (trigger:), not by a job")
    if "function" in raw and (problem := handler_problem(raw["function"], ck.reg.plugins)):
        ck.err(loc, ("function",), "SA122", problem)
    if "args" in raw and "function" not in raw:
        ck.err(loc, ("args",), "SA122", f"job '{loc.name}': 'args' are given to a 'function' only")
    if problem := _schedule_problem(raw["schedule"]):
        ck.err(loc, ("schedule",), "SA122", problem)


class RuleCheck:
    def __init__(self, ck: "Checker", loc: "Located"):
        self.ck, self.loc, self.raw = ck, loc, loc.raw
        self.kind = loc.raw["kind"]

    def err(self, sub: tuple, code: str, message: str) -> None:
        self.ck.err(self.loc, sub, code, f"rule '{self.loc.name}': {message}")

    def need(self, key: str) -> Any:
        if key not in self.raw:
            self.err((), "SA012", f"kind {self.kind} needs '{key}'")
        return self.raw.get(key)

    def field(self, sub: tuple, entity: str, name: str | None, types: tuple[str, ...], what: str) -> dict | None:
        if name is None:
            return None
        fields = self.ck.fields_of(entity)
        f = fields.get(name)
        if f is None:
            self.err(sub, "SA120", f"{what} '{name}' is not a field of '{entity}'")
        elif f.get("type") == "computed" and "aggregate" in f:
            self.err(sub, "SA208", f"{what} '{name}' of '{entity}' is an aggregate over child rows: a rule reads "
                                   "stored fields here, and an aggregate only in its bounds where clause")
        elif f.get("type") not in types:
            self.err(sub, "SA120", f"{what} '{name}' of '{entity}' must be {' or '.join(types)}, not {f.get('type')}")
        return f

    def entity(self, sub: tuple, name: str) -> bool:
        if name not in self.ck.reg.entities:
            self.err(sub, "SA120", f"unknown entity '{name}'")
            return False
        return True

    def run(self) -> None:
        from specadmin.generator.handlers import handler_problem

        if self.kind in ("custom", "missing_reference") and "closes" in self.raw:
            self.err(("closes",), "SA181", "closes applies to consecutive_days and threshold rules only")
        if self.kind == "custom":
            if fn := self.need("function"):
                if problem := handler_problem(fn, self.ck.reg.plugins):
                    self.err(("function",), "SA120", problem)
            return
        source = self.need("source")
        if source and self.entity(("source", "entity"), source["entity"]):
            ent = source["entity"]
            self.field(("source", "key"), ent, source["key"], KEYS, "source key")
            if self.kind in ("consecutive_days", "threshold") and "date" not in source:
                self.err(("source",), "SA012", "source needs 'date'")
            self.field(("source", "date"), ent, source.get("date"), DATED, "source date")
            self.field(("source", "newest"), ent, source.get("newest"), DATED, "source newest")
            if self.kind == "threshold":
                if "value" not in source:
                    self.err(("source",), "SA012", "threshold source needs 'value'")
                self.field(("source", "value"), ent, source.get("value"), NUMERIC, "source value")
            if self.kind == "consecutive_days" and isinstance(self.raw.get("measure"), dict):
                self.field(("measure", "sum"), ent, self.raw["measure"]["sum"], NUMERIC, "measure field")
        if self.kind in ("consecutive_days", "threshold"):
            self.check_bounds()
        if self.kind == "missing_reference":
            target = self.need("target")
            if target and self.entity(("target", "entity"), target["entity"]):
                self.field(("target", "key"), target["entity"], target["key"], KEYS, "target key")
        self.check_creates()

    def check_bounds(self) -> None:
        bounds = self.need("bounds")
        if not bounds or not self.entity(("bounds", "entity"), bounds["entity"]):
            return
        ent = bounds["entity"]
        key = self.field(("bounds", "key"), ent, bounds["key"], KEYS, "bounds key")
        if key is not None and not key.get("unique") and bounds["key"] != "id":
            self.err(("bounds", "key"), "SA120", f"bounds key '{bounds['key']}' must be unique in '{ent}'")
        if "min" not in bounds and "max" not in bounds:
            self.err(("bounds",), "SA012", "bounds need 'min' or 'max'")
        for side in ("min", "max"):  # a field of the bounds entity, or a literal number (SA180)
            if isinstance(bounds.get(side), str):
                self.field(("bounds", side), ent, bounds.get(side), NUMERIC, f"bounds {side}")
        low, high = bounds.get("min"), bounds.get("max")
        if all(isinstance(v, (int, float)) for v in (low, high)) and low > high:
            self.err(("bounds", "min"), "SA180", f"bounds min {low} is above bounds max {high}")
        if bounds.get("where") is not None:
            self.ck.check_where(self.loc, ("bounds", "where"), ent, bounds["where"])
        reasons = self.need("reasons") or {}
        for reason, side in (("below", "min"), ("above", "max")):
            if reason in reasons and side not in bounds:
                self.err(("reasons", reason), "SA121", f"reason '{reason}' needs bounds '{side}'")
        if "no_data" in reasons and self.kind != "consecutive_days":
            self.err(("reasons", "no_data"), "SA183", "reason 'no_data' applies to consecutive_days windows only")
        elif "no_data" in reasons and "min" not in bounds:
            self.err(("reasons", "no_data"), "SA183", "reason 'no_data' refines 'below': it needs bounds 'min'")
        self.check_closes()

    def check_closes(self) -> None:
        """SA182: `closes` names a stored field of the created entity (and `at` a date or datetime one),
        with a value that field can hold; SA184: the created rows need an owner and a day to close by."""
        closes, creates = self.raw.get("closes"), self.raw.get("creates") or {}
        if closes is None or creates.get("entity") not in self.ck.reg.entities:
            return
        ent = creates["entity"]
        fields = self.ck.fields_of(ent)
        f = fields.get(closes["field"])
        if f is None or f.get("type") in ("lookup", "multi_ref") or closes["field"] == "id":
            self.err(("closes", "field"), "SA182", f"closes field '{closes['field']}' is not a stored field of '{ent}'")
        elif f.get("type") == "dict":
            loc = self.ck.reg.dictionaries.get(f.get("dict"))
            if loc and str(closes["value"]) not in (loc.raw.get("items") or {}):
                self.err(("closes", "value"), "SA182",
                         f"closes value '{closes['value']}' is not a key of dictionary '{f.get('dict')}'")
        if "at" in closes:
            at = fields.get(closes["at"])
            if at is None or at.get("type") not in DATED:
                self.err(("closes", "at"), "SA182", f"closes at '{closes['at']}' must be a date or datetime field of '{ent}'")
        mapped = set((creates.get("fields") or {}).values())
        day = "$end" if self.kind == "consecutive_days" else "$date"
        if not mapped & {"$bound", "$key"} or day not in mapped or "$reason" not in mapped:
            self.err(("closes",), "SA184", f"closes needs the created rows to keep $bound or $key, {day} and $reason")

    def check_creates(self) -> None:
        creates = self.need("creates")
        if not creates or not self.entity(("creates", "entity"), creates["entity"]):
            return
        self.mapping(("creates", "fields"), creates["entity"], creates["fields"], TOKENS[self.kind])
        days = creates.get("days")
        if days is not None:
            if self.kind != "consecutive_days":
                self.err(("creates", "days"), "SA121", "only consecutive_days rules create per-day rows")
            elif self.entity(("creates", "days", "entity"), days["entity"]):
                self.mapping(("creates", "days", "fields"), days["entity"], days["fields"], DAY_TOKENS)
                parent = next((n for n, v in days["fields"].items() if v == "$parent"), None)
                fields = self.ck.fields_of(days["entity"])
                if parent is None or fields.get(parent, {}).get("to") != creates["entity"]:
                    self.err(("creates", "days", "fields"), "SA121",
                             f"per-day rows need a ref to '{creates['entity']}' mapped to $parent")

    def mapping(self, sub: tuple, entity: str, mapping: dict, tokens: set[str]) -> None:
        fields = self.ck.fields_of(entity)
        source_fields = self.ck.fields_of(self.raw["source"]["entity"]) if self.raw.get("source") else {}
        for name, value in mapping.items():
            f = fields.get(name)
            if f is None or f.get("type") in ("lookup", "multi_ref", "computed") or name == "id":
                self.err(sub + (name,), "SA121", f"'{name}' is not a stored field of '{entity}'")
                continue
            if not isinstance(value, str) or not value.startswith("$"):
                continue
            if value.startswith("$row.") and self.kind == "missing_reference":
                if value[5:] not in source_fields:
                    self.err(sub + (name,), "SA121", f"'{value}': '{value[5:]}' is not a field of the source")
            elif value not in tokens:
                self.err(sub + (name,), "SA121", f"'{value}' is not available here (use {', '.join(sorted(tokens))})")
            elif value == "$reason":
                self.check_reasons(sub + (name,), f)

    def check_reasons(self, sub: tuple, f: dict) -> None:
        if f.get("type") != "dict":
            self.err(sub, "SA121", "the field mapped to $reason must be a dict field")
            return
        loc = self.ck.reg.dictionaries.get(f.get("dict"))
        keys = set((loc.raw.get("items") or {}).keys()) if loc else set()
        for reason, key in (self.raw.get("reasons") or {}).items():
            if key not in keys:
                self.err(("reasons", reason), "SA121", f"reason '{key}' is not a key of dictionary '{f.get('dict')}'")
