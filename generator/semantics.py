"""Meaning checks run after the shape is valid, in the style of Django's system checks.

Every check appends to one list, so a user sees all problems at once.
"""
from __future__ import annotations

import re
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

from specadmin.generator.errors import SpecError
from specadmin.generator.file_checks import check_file_field, check_file_params
from specadmin.generator.handlers import handler_problem
from specadmin.generator.ref_option_checks import check_ref_options
from specadmin.generator.multi_checks import (check_multi_field, check_multi_group, check_multi_single,
                                               check_multi_where, is_multi)
from specadmin.generator.deadline_checks import check_deadline, check_light_condition, light_keys
from specadmin.specs import aggregates, computed, expr, lights, paths, relative_dates
from specadmin.specs.codes import CODE_LISTS
from specadmin.specs.model import TREE_SCOPES
from specadmin.specs.physical import ROW_VERSION
from specadmin.specs.unmask import UNMASK, offers_unmask

if TYPE_CHECKING:
    from specadmin.generator.build import Located, Registry

ORG_SCOPES = ("own_unit", "own_and_sub", "sub_only", "self_only")
WHERE_OPS = ("not", "in", "gte", "lte", "gt", "lt", "contains")
FILTERABLE = ("string", "integer", "decimal", "boolean", "date", "datetime", "dict", "ref", "computed", "geo")
SEARCHABLE = ("string", "text")
SET_SPECIALS = ("$user", "$now", "$today", "$user.org")
UNSTORED = ("lookup", "multi_ref", "computed")  # field types without a column of their own
REQUIRED_BY_TYPE = {"dict": "dict", "ref": "to", "multi_ref": "to", "lookup": "path", "computed": "expr"}


def set_param_problem(field: dict, param: dict | None) -> str | None:
    """Why `set: {field: $params.<name>}` cannot work: no such parameter, or one of another kind."""
    if param is None:
        return "the action declares no such parameter"
    text = ("string", "text", "password")
    same = param["type"] == field["type"] or (param["type"] in text and field["type"] in ("string", "text"))
    if param["type"] == "file" and field["type"] == "file":
        return "a multi file parameter cannot fill a one-file field" if param.get("multi") and not field.get("multi") else None
    if param.get("multi") or param["type"] == "multi_ref" or not same:
        return f"a {param['type']}{' (multi)' if param.get('multi') else ''} parameter cannot fill a {field['type']} field"
    if field["type"] == "ref" and param.get("to") != field.get("to"):
        return f"the parameter refers to '{param.get('to')}', the field to '{field.get('to')}'"
    if field["type"] == "dict" and param.get("dict") != field.get("dict"):
        return f"the parameter's dictionary '{param.get('dict')}' is not the field's '{field.get('dict')}'"
    return None


DEFAULT_MAX_UPLOAD_MB = 1024  # runtime/data/uploads.py DEFAULT_MAX_MB


class Checker:
    def __init__(self, reg: "Registry"):
        self.reg = reg
        self.errors: list[SpecError] = []

    def err(self, loc: "Located", sub: tuple, code: str, message: str) -> None:
        self.errors.append(SpecError(loc.doc.file, loc.line(*sub), code, message))

    # -- paths ------------------------------------------------------------
    def fields_of(self, entity: str) -> dict[str, Any]:
        loc = self.reg.entities.get(entity)
        fields = dict(loc.raw["fields"]) if loc else {}
        fields.setdefault("id", {"type": "integer", "label": "ID"})
        for name, f in list(fields.items()):
            if isinstance(f, dict) and "lights" in f:  # stored beside the deadline (specs/lights.py)
                fields.setdefault(lights.warn_field(name), {"type": "datetime", "label": f"{f.get('label')}预警时间",
                                                            "readonly": True})
        return fields

    def business_key_problem(self, target: str, name: str) -> str | None:
        """Why field `name` of `target` cannot name its rows in imports and feeds (None: it can)."""
        fields = self.fields_of(target)
        if name not in fields or name == "id":
            return f"'{target}' has no field '{name}' to name its rows by (fields: {', '.join(sorted(set(fields) - {'id'}))})"
        f = fields[name]
        if name != "id" and not f.get("unique"):
            return f"'{name}' is not a unique field of '{target}' (mark it unique: true)"
        if f.get("type") not in ("string", "integer") or f.get("sensitive"):
            return f"'{name}' of '{target}' is not a plain string or integer field"
        return None

    def resolve(self, entity: str, path: str) -> tuple[dict | None, str]:
        """Follow `a.b.c` through refs (specs/paths.py); returns (final raw field, error text)."""
        try:
            return paths.resolve(paths.RawCatalog(self.fields_of, self.reg.entities), entity, path).field, ""
        except paths.PathError as exc:
            return None, str(exc)

    # -- entities ---------------------------------------------------------
    def check_renames(self, loc: "Located", fields: dict) -> None:
        """`renamed_from` names a former name, so it cannot be a name in use (the rename would clash)."""
        former = loc.raw.get("renamed_from")
        if former and former in self.reg.entities:
            self.err(loc, ("renamed_from",), "SA195", f"entity '{loc.name}': renamed_from '{former}' is the name of "
                     "an entity in use; a former name must be free")
        for name, f in fields.items():
            if f.get("renamed_from") and f["renamed_from"] in fields:
                self.err(loc, ("fields", name, "renamed_from"), "SA195", f"field '{loc.name}.{name}': renamed_from "
                         f"'{f['renamed_from']}' is a field in use; a former name must be free")
            elif f.get("renamed_from") and f.get("type") in ("lookup", "computed"):
                self.err(loc, ("fields", name, "renamed_from"), "SA195", f"field '{loc.name}.{name}': a "
                         f"{f['type']} field has no column to rename")

    def check_entity(self, loc: "Located") -> None:
        raw = loc.raw
        fields = raw["fields"]
        for name, f in fields.items():
            self.check_field(loc, name, f)
        if ROW_VERSION in fields and not raw.get("append_only"):
            self.err(loc, ("fields", ROW_VERSION), "SA035",
                     f"field name '{ROW_VERSION}' is reserved: every writable table has the row version of that name")
        display = raw.get("display")
        if display and display not in fields:
            self.err(loc, ("display",), "SA100", f"display field '{display}' is not a field of '{loc.name}'")
        elif display and fields[display]["type"] == "computed":
            self.err(loc, ("display",), "SA179", f"display field '{display}' is computed: a row is named by a stored field")
        tree = raw.get("tree")
        if tree:
            f = fields.get(tree)
            if not f or f.get("type") != "ref" or f.get("to") != loc.name:
                self.err(loc, ("tree",), "SA034", f"tree parent '{tree}' must be a ref field to '{loc.name}' itself")
        self.check_unique(loc, fields)
        self.check_renames(loc, fields)
        for i, check in enumerate(raw.get("checks", [])):
            try:
                parsed = expr.parse(check["expr"])
            except expr.ExprError as exc:
                self.err(loc, ("checks", i, "expr"), "SA070", f"check '{check['expr']}': {exc}")
                continue
            for name in sorted(parsed.fields - set(fields)):
                self.err(loc, ("checks", i, "expr"), "SA070", f"check '{check['expr']}' names unknown field '{name}'")

    def check_unique(self, loc: "Located", fields: dict) -> None:
        """`unique: [[event, org], ...]`: stored fields of the entity, each set once, no field twice in a set;
        a one-field set is `unique: true` on the field."""
        seen: set[frozenset] = {frozenset([n]) for n, f in fields.items() if f.get("unique")}
        for i, names in enumerate(loc.raw.get("unique", [])):
            at = ("unique", i)
            for j, name in enumerate(names):
                f = fields.get(name)
                if f is None:
                    self.err(loc, at + (j,), "SA036", f"unique: '{name}' is not a field of '{loc.name}'")
                elif is_multi(f):
                    check_multi_single(self, loc, at + (j,), f"unique: '{name}'", f)
                elif f["type"] in UNSTORED:
                    self.err(loc, at + (j,), "SA038",
                             f"unique: '{name}' is a {f['type']} field, which has no column of its own to be unique")
            if len(set(names)) != len(names):
                self.err(loc, at, "SA037", f"unique: {list(names)} names a field twice")
            elif frozenset(names) in seen:
                self.err(loc, at, "SA037", f"unique: {list(names)} is declared already"
                         + (" (the field says unique: true)" if len(names) == 1 else ""))
            seen.add(frozenset(names))

    def check_field(self, loc: "Located", name: str, f: dict) -> None:
        at = ("fields", name)
        ftype = f["type"]
        check_deadline(self, loc, name, f)
        needed = REQUIRED_BY_TYPE.get(ftype)
        if ftype == "computed" and "aggregate" in f:
            needed = None
            if "expr" in f:
                self.err(loc, at + ("expr",), "SA205", f"field '{name}': a computed field has an expr or an aggregate, not both")
        if needed and needed not in f:
            self.err(loc, at, "SA012", f"field '{name}' of type {ftype} needs '{needed}'")
            return
        check_multi_field(self, loc, name, f)
        check_ref_options(self, loc, name, f)
        if ftype == "dict" and f["dict"] not in self.reg.dictionaries:
            self.err(loc, at + ("dict",), "SA031", f"field '{name}': no dictionary named '{f['dict']}'")
        if "codes" in f:
            if ftype != "string" or f.get("sensitive"):
                self.err(loc, at + ("codes",), "SA031", f"field '{name}': codes needs a plain string field")
            elif f["codes"] not in CODE_LISTS and f["codes"] not in self.reg.dictionaries:
                known = ", ".join(sorted(CODE_LISTS))
                self.err(loc, at + ("codes",), "SA031",
                         f"field '{name}': codes '{f['codes']}' is neither a code list ({known}) nor a dictionary")
        if "choices" in f and (ftype != "string" or f.get("sensitive") or "codes" in f):
            self.err(loc, at + ("choices",), "SA031", f"field '{name}': choices needs a plain string field without codes")
        if ftype in ("ref", "multi_ref"):
            target = f["to"]
            if target not in self.reg.entities:
                known = ", ".join(sorted(self.reg.entities))
                self.err(loc, at + ("to",), "SA030", f"field '{name}' refers to unknown entity '{target}' (known: {known})")
            elif "key" in f:
                key_field = self.fields_of(target).get(f["key"])
                if not key_field or not key_field.get("unique"):
                    self.err(loc, at + ("key",), "SA033",
                             f"field '{name}': key '{f['key']}' must be a unique field of '{target}'")
            if "by" in f and target in self.reg.entities:
                problem = self.business_key_problem(target, f["by"])
                if f.get("key") or ftype not in ("ref", "multi_ref"):
                    problem = "by needs a ref stored by id (a ref with key: is named by its key already)"
                if problem:
                    self.err(loc, at + ("by",), "SA039", f"field '{name}': {problem}")
        if "aggregate" in f:
            self.check_aggregate(loc, name, f)
        elif ftype == "computed" or "expr" in f or "labels" in f:
            self.check_computed(loc, name, f)
        if ftype == "lookup":
            final, problem = self.resolve(loc.name, f["path"])
            if final is None:
                self.err(loc, at + ("path",), "SA032", f"lookup '{name}': {problem}")
            elif "." not in f["path"]:
                self.err(loc, at + ("path",), "SA032", f"lookup '{name}' must go through a ref (a.b)")
        for low, high in (("min", "max"), ("min_length", "max_length")):
            if low in f and high in f and f[low] > f[high]:
                self.err(loc, at + (low,), "SA071", f"field '{name}': {low} {f[low]} is greater than {high} {f[high]}")
        if "pattern" in f:
            try:
                re.compile(f["pattern"])
            except re.error as exc:
                self.err(loc, at + ("pattern",), "SA013", f"field '{name}': bad pattern: {exc}")
        if "initials_of" in f:
            source = loc.raw["fields"].get(f["initials_of"])
            if ftype != "string" or not source or source.get("type") not in ("string", "text") or source.get("sensitive"):
                self.err(loc, at + ("initials_of",), "SA013",
                         f"field '{name}': initials_of needs a string field and must name a plain string field of '{loc.name}'")
        if "stamp_on" in f:
            others = loc.raw["fields"]
            if f.get("system") not in ("current_user", "now"):
                self.err(loc, at + ("stamp_on",), "SA112", f"field '{name}': stamp_on needs system: current_user or now")
            for i, other in enumerate(f["stamp_on"]):
                o = others.get(other)
                if not o or o.get("system") or o.get("readonly") or o.get("type") == "lookup":
                    self.err(loc, at + ("stamp_on", i), "SA112",
                             f"field '{name}': stamp_on names '{other}', which is not an editable field of '{loc.name}'")
        if f.get("check") == "id_number" and ftype != "string":
            self.err(loc, at + ("check",), "SA111", f"field '{name}': check id_number needs a string field")
        if "sensitive" in f and ftype not in ("string", "text", "file"):
            self.err(loc, at + ("sensitive",), "SA013", f"field '{name}': only string, text and file fields can be sensitive")
        elif "sensitive" in f and (ftype == "file") != (f["sensitive"] is True):
            self.err(loc, at + ("sensitive",), "SA163" if ftype == "file" else "SA013",
                     f"field '{name}': a file field is sensitive: true (its files encrypted at rest); "
                     "string and text fields name a kind (id_number, phone, address, name, other)")
        security = self.reg.app.raw.get("security") or {}
        check_file_field(self, loc, name, f, float(security.get("max_upload_mb", DEFAULT_MAX_UPLOAD_MB)))
        if f.get("unique") and ftype in UNSTORED:
            self.err(loc, at + ("unique",), "SA038", f"field '{name}': a {ftype} field has no column of its own to be unique")
        if "default" in f:
            problem = self.default_problem(f)
            if problem:
                self.err(loc, at + ("default",), "SA072", f"field '{name}': default {f['default']!r} {problem}")

    def check_aggregate(self, loc: "Located", name: str, f: dict) -> None:
        """`aggregate:` (specs/aggregates.py) on a computed field: a child entity, its ref here, an
        agg that fits its field, a where clause on the child; none of the keys of a written value."""
        at = ("fields", name)
        if f["type"] != "computed" or "labels" in f:
            key = "aggregate" if f["type"] != "computed" else "labels"
            self.err(loc, at + (key,), "SA205", f"field '{name}': {key} belongs to a field of type computed without labels")
            return
        for key in ("default", "required", "unique", "readonly", "system", "sensitive", "index"):
            if key in f:
                self.err(loc, at + (key,), "SA179", f"field '{name}': a computed field is never written, so it takes no {key}")
        spec = f["aggregate"]
        found = aggregates.problems(spec, loc.name, lambda e: self.fields_of(e) if e in self.reg.entities else None)
        for sub, code, message in found:
            self.err(loc, at + ("aggregate",) + sub, code, f"computed field '{name}': {message}")
        if not found and "where" in spec:
            self.check_where(loc, at + ("aggregate", "where"), spec["of"], spec["where"], lights_ok=False)

    def check_computed(self, loc: "Located", name: str, f: dict) -> None:
        """`type: computed`: a readable, well-typed expression (specs/computed.py), band labels that
        fit, and none of the keys of a written value."""
        at = ("fields", name)
        if f["type"] != "computed":
            key = "expr" if "expr" in f else "labels"
            self.err(loc, at + (key,), "SA175", f"field '{name}': {key} belongs to a field of type computed")
            return
        for key in ("default", "required", "unique", "readonly", "system", "sensitive", "index"):
            if key in f:
                self.err(loc, at + (key,), "SA179", f"field '{name}': a computed field is never written, so it takes no {key}")
        try:
            tree = computed.parse(f["expr"])
            catalog = paths.RawCatalog(self.fields_of, self.reg.entities)
            for path in computed.paths(tree):
                final, _ = self.resolve(loc.name, path)
                if final is not None and final.get("type") == "computed":
                    raise computed.ComputedError("SA176", f"'{path}' is a computed field: write its expression instead")
            computed.type_of(tree, computed.field_typer(catalog, loc.name))
        except computed.ComputedError as exc:
            self.err(loc, at + ("expr",), exc.code, f"computed field '{name}': {exc.message}")
            return
        if "labels" in f:
            bounds = computed.band_of(tree)
            if bounds is None:
                self.err(loc, at + ("labels",), "SA178", f"field '{name}': labels need an expression that is band(...)")
            elif len(f["labels"]) != len(bounds) + 1:
                self.err(loc, at + ("labels",), "SA178",
                         f"field '{name}': {len(bounds)} bounds make {len(bounds) + 1} bands, but {len(f['labels'])} labels are given")

    def default_problem(self, f: dict) -> str | None:
        value, ftype = f["default"], f["type"]
        expected = {"string": str, "text": str, "integer": int, "decimal": (int, float), "boolean": bool,
                    "date": (date, str), "datetime": (datetime, str)}.get(ftype)
        if ftype in ("ref", "multi_ref", "lookup", "file", "geo"):
            return f"is not allowed on a {ftype} field"
        if ftype == "dict":
            loc = self.reg.dictionaries.get(f["dict"])
            if loc and str(value) not in loc.raw["items"]:
                return f"is not a key of dictionary '{f['dict']}'"
            return None
        if expected and (not isinstance(value, expected) or (ftype == "integer" and isinstance(value, bool))):
            return f"is not a {ftype}"
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            if "min" in f and value < f["min"] or "max" in f and value > f["max"]:
                return "is outside min/max"
        if isinstance(value, str) and "max_length" in f and len(value) > f["max_length"]:
            return "is longer than max_length"
        return None

    # -- where clauses, scopes --------------------------------------------
    def check_where(self, loc: "Located", sub: tuple, entity: str, where: Any, lights_ok: bool = True) -> None:
        """`lights_ok`: the clause may name `<deadline>_light` (tabs, action conditions, notifications:
        the model builder rewrites it, specs/lights.py); feeds and chart lines may not."""
        if not isinstance(where, dict):
            self.err(loc, sub, "SA080", "a where clause must be a mapping of field: condition")
            return
        fields = self.fields_of(entity)
        for key, cond in where.items():
            if key in ("or", "and"):
                if not isinstance(cond, list) or not cond:
                    self.err(loc, sub + (key,), "SA080", f"'{key}' needs a list of where clauses")
                    continue
                for i, part in enumerate(cond):
                    self.check_where(loc, sub + (key, i), entity, part, lights_ok)
                continue
            if key in light_keys(fields):
                check_light_condition(self, loc, sub + (key,), key, cond, lights_ok)
                continue
            f = fields.get(key)
            if f is None or f.get("type") in ("lookup", "multi_ref"):
                self.err(loc, sub + (key,), "SA080", f"where: '{key}' is not a stored field of '{entity}'")
                continue
            if is_multi(f):
                check_multi_where(self, loc, sub + (key,), key, cond)
            if isinstance(cond, dict):
                for op, value in cond.items():
                    if op not in WHERE_OPS:
                        self.err(loc, sub + (key, op), "SA080",
                                 f"where: unknown operator '{op}' (expected one of {', '.join(WHERE_OPS)})")
                    elif op == "in" and isinstance(value, list):
                        for i, item in enumerate(value):
                            self.check_relative(loc, sub + (key, op, i), key, f, op, item)
                    else:
                        self.check_relative(loc, sub + (key, op), key, f, op, value)
            else:
                self.check_relative(loc, sub + (key,), key, f, "eq", cond)

    def check_relative(self, loc: "Located", at: tuple, key: str, f: dict, op: str, value: Any) -> None:
        """SA083: a `$` value in a where clause is a relative date (specs/relative_dates.py) on a date
        or datetime field, compared (not `contains`)."""
        if not relative_dates.is_token(value):
            return
        try:
            relative_dates.parse(value)
        except relative_dates.TokenError as exc:
            self.err(loc, at, "SA083", f"where: {exc}")
            return
        if self.value_type(f) not in ("date", "datetime"):
            self.err(loc, at, "SA083", f"where: '{key}' is a {f.get('type')} field; relative dates such as "
                                       f"{value} compare only with date and datetime fields")
        elif op == "contains":
            self.err(loc, at, "SA083", f"where: 'contains' takes text, not the relative date {value}")

    def value_type(self, f: dict) -> str | None:
        """A field's own type, or the type of an aggregate's value (max of a datetime is a datetime)."""
        spec = f.get("aggregate") if f.get("type") == "computed" else None
        if not isinstance(spec, dict):
            return f.get("type")
        child = self.fields_of(spec.get("of", "")).get(spec.get("field") or "", {})  # an unknown one: SA205 already
        return aggregates.result_type(spec.get("agg", "count"), child.get("type"))

    def check_scope(self, loc: "Located", sub: tuple, entity: str, scope: dict) -> None:
        mode = scope["mode"]
        if mode == "participated":
            self.check_participated(loc, sub, entity, scope)
            return
        for key in ("through", "and_sub"):
            if key in scope:
                self.err(loc, sub + (key,), "SA170", f"scope {mode}: '{key}' belongs to mode participated only")
        if mode == "all":
            return
        default_field = {"own_records": "created_by"}.get(mode, "org")
        path = scope.get("field", default_field)
        final, problem = self.resolve(entity, path)
        if final is None:
            self.err(loc, sub + ("field",), "SA050", f"scope {mode} on '{entity}': {problem}")
            return
        if mode in ORG_SCOPES and (final.get("type") != "ref" or final.get("to") != "org"):
            self.err(loc, sub + ("field",), "SA051", f"scope {mode} needs a ref to org, but '{path}' is {final.get('type')}")
        if mode == "own_records" and (final.get("type") != "ref" or final.get("to") != "user"):
            self.err(loc, sub + ("field",), "SA051", f"scope own_records needs a ref to user, but '{path}' is not")
        check_multi_single(self, loc, sub + ("field",), f"scope field '{path}'", final)
        if mode == "field_equals_user":
            attr = scope.get("user_attr")
            if not attr or attr not in self.fields_of("user"):
                self.err(loc, sub + ("user_attr",), "SA051", f"scope field_equals_user needs user_attr naming a user field, got {attr!r}")

    def check_participated(self, loc: "Located", sub: tuple, entity: str, scope: dict) -> None:
        """SA170–SA172: `through` names an entity with a ref to `entity` and a path to an org."""
        through = scope.get("through")
        if "field" in scope or "user_attr" in scope:
            self.err(loc, sub, "SA170", "scope participated takes `through` (entity, ref, field), not field/user_attr")
        if not through:
            self.err(loc, sub, "SA170", f"scope participated on '{entity}' needs `through: {{entity, ref, field}}`")
            return
        other = through["entity"]
        if other not in self.reg.entities:
            self.err(loc, sub + ("through", "entity"), "SA170", f"scope participated: unknown entity '{other}'")
            return
        ref = self.fields_of(other).get(through["ref"])
        if ref is None or ref.get("type") != "ref" or ref.get("to") != entity or ref.get("key"):
            self.err(loc, sub + ("through", "ref"), "SA171",
                     f"scope participated: '{other}.{through['ref']}' must be a ref (by id) to '{entity}'")
        path = through.get("field", "org")
        final, problem = self.resolve(other, path)
        if final is None or final.get("type") != "ref" or final.get("to") != "org":
            self.err(loc, sub + ("through", "field"), "SA172",
                     f"scope participated: '{other}.{path}' must lead to an org ({problem or final.get('type')})")

    # -- screens ----------------------------------------------------------
    def check_screen(self, loc: "Located") -> None:
        raw = loc.raw
        entity = raw["entity"]
        if entity not in self.reg.entities:
            self.err(loc, ("entity",), "SA040", f"screen '{loc.name}' names unknown entity '{entity}'")
            return
        fields = self.fields_of(entity)
        for section in ("list", "detail"):
            for i, path in enumerate(raw.get(section, [])):
                final, problem = self.resolve(entity, path)
                if final is None:
                    self.err(loc, (section, i), "SA041", f"{section} column '{path}': {problem}")
        for i, name in enumerate(raw.get("form", [])):
            f = fields.get(name)
            if f is None:
                self.err(loc, ("form", i), "SA041", f"form field '{name}' is not a field of '{entity}'")
            elif f.get("type") == "computed":
                self.err(loc, ("form", i), "SA179", f"form field '{name}' is computed: its value comes from its expression")
            elif (f.get("type") in ("lookup",) or f.get("readonly") or f.get("system") or f.get("initials_of")
                  or f.get("deadline") or name == "id"):
                self.err(loc, ("form", i), "SA043", f"form field '{name}' is read-only, computed or set by the system")
        for section, allowed in (("filters", FILTERABLE), ("search", SEARCHABLE)):
            for i, name in enumerate(raw.get(section, [])):
                f = fields.get(name)
                if f is None:
                    self.err(loc, (section, i), "SA041", f"{section} field '{name}' is not a field of '{entity}'")
                elif f.get("type") not in allowed or (section == "search" and f.get("sensitive")):
                    self.err(loc, (section, i), "SA042", f"'{name}' ({f.get('type')}) cannot be used in {section}")
        sort = raw.get("sort")
        if sort and sort.lstrip("-") not in fields:
            self.err(loc, ("sort",), "SA041", f"sort field '{sort.lstrip('-')}' is not a field of '{entity}'")
        for tab, t in (raw.get("tabs") or {}).items():
            self.check_where(loc, ("tabs", tab, "where"), entity, t["where"])
        if "where" in raw:
            self.check_where(loc, ("where",), entity, raw["where"])
        for name, action in (raw.get("custom_actions") or {}).items():
            if name in ("list", "read", "create", "update", "delete", "export", "import", UNMASK):
                self.err(loc, ("custom_actions", name), "SA081",
                         f"custom action '{name}' has the name of a built-in action (batch delete is /actions/delete)")
            if "when" in action:
                self.check_where(loc, ("custom_actions", name, "when"), entity, action["when"])
            if "handler" in action:
                problem = handler_problem(action["handler"], self.reg.plugins)
                if problem:
                    self.err(loc, ("custom_actions", name, "handler"), "SA081", f"action '{name}': {problem}")
            if "params" in action or "result" in action:
                from specadmin.generator.action_checks import check_action_params

                check_action_params(self, loc, name, action)
            check_file_params(self, loc, name, action, fields)
            for field_name, value in (action.get("set") or {}).items():
                f = fields.get(field_name)
                if f is None or f.get("type") in UNSTORED:
                    self.err(loc, ("custom_actions", name, "set", field_name), "SA081",
                             f"action '{name}' sets unknown field '{field_name}'")
                elif isinstance(value, str) and value.startswith("$params."):
                    problem = set_param_problem(f, (action.get("params") or {}).get(value.removeprefix("$params.")))
                    if problem:
                        self.err(loc, ("custom_actions", name, "set", field_name), "SA081",
                                 f"action '{name}' sets '{field_name}' to {value}: {problem}")
                elif isinstance(value, str) and value.startswith("$") and value not in SET_SPECIALS:
                    self.err(loc, ("custom_actions", name, "set", field_name), "SA081",
                             f"action '{name}': unknown value {value!r} (expected one of "
                             f"{', '.join(SET_SPECIALS)} or $params.<parameter>)")
        if "scope" in raw:
            self.check_scope(loc, ("scope",), entity, raw["scope"])
        if raw.get("levels") and (raw.get("scope") or {}).get("mode") not in TREE_SCOPES:
            self.err(loc, ("levels",), "SA173", f"levels: true needs a tree scope ({', '.join(TREE_SCOPES)}) on the "
                                               f"screen to narrow to 本级 / 下级, not {(raw.get('scope') or {}).get('mode', 'all')}")
        if "lookup" in raw:
            self.check_lookup(loc, raw, entity, fields)
        self.check_transfer(loc, raw, fields)
        if "stat" in raw:
            self.check_stat(loc, entity, raw["stat"])
        if "bulk_query" in raw:
            from specadmin.generator.bulk_checks import check_bulk_query

            check_bulk_query(self, loc, raw)
        if "map" in raw:
            from specadmin.generator.map_checks import check_map

            check_map(self, loc, raw)
        for name, rel in (raw.get("related") or {}).items():
            self.check_related(loc, entity, name, rel)

    def check_related(self, loc: "Located", entity: str, name: str, rel: dict) -> None:
        """A related list: an entity with a ref `via` to the screen's entity, and its own columns."""
        here = ("related", name)
        child = self.fields_of(rel["entity"]) if rel["entity"] in self.reg.entities else None
        if child is None:
            self.err(loc, here + ("entity",), "SA044", f"related '{name}' names unknown entity '{rel['entity']}'")
            return
        via = child.get(rel["via"])
        if not via or via.get("type") != "ref" or via.get("to") != entity or via.get("key"):
            self.err(loc, here + ("via",), "SA044",
                     f"related '{name}': '{rel['via']}' is not a ref (by id) of '{rel['entity']}' to '{entity}'")
        for i, col in enumerate(rel["columns"]):
            f = child.get(col)
            if f is None or f.get("type") in ("lookup", "multi_ref", "geo"):
                self.err(loc, here + ("columns", i), "SA044", f"related '{name}': '{col}' is not a stored field of '{rel['entity']}'")
        if rel.get("sort") and rel["sort"].lstrip("-") not in child:
            self.err(loc, here + ("sort",), "SA044", f"related '{name}': sort field '{rel['sort'].lstrip('-')}' is unknown")
        chart = rel.get("chart") or {}
        for i, col in enumerate([chart.get("x")] + list(chart.get("series", []))):
            if col is not None and col not in rel["columns"]:
                self.err(loc, here + ("chart",), "SA044", f"related '{name}': chart column '{col}' is not one of its columns")
        parent = self.fields_of(entity)
        for field_name, line in (chart.get("lines") or {}).items():
            at = here + ("chart", "lines", field_name)
            final = self.resolve(entity, parent[field_name]["path"])[0] if parent.get(field_name, {}).get("type") == "lookup" \
                else parent.get(field_name)
            if final is None or final.get("type") not in ("integer", "decimal"):
                self.err(loc, at, "SA044", f"related '{name}': chart line '{field_name}' is not a numeric field of "
                                           f"'{entity}' (the row the detail page shows)")
            if isinstance(line, dict) and "when" in line:
                self.check_where(loc, at + ("when",), entity, line["when"], lights_ok=False)

    def check_lookup(self, loc: "Located", raw: dict, entity: str, fields: dict) -> None:
        """SA150: look-up keys are sensitive fields the screen filters on (matched exactly by blind index)."""
        for i, name in enumerate(raw["lookup"]["keys"]):
            if not fields.get(name, {}).get("sensitive"):
                self.err(loc, ("lookup", "keys", i), "SA150",
                         f"lookup key '{name}' must be a sensitive field (an exact match by its blind index)")
            elif name not in raw.get("filters", []):
                self.err(loc, ("lookup", "keys", i), "SA150", f"lookup key '{name}' must be one of the screen's filters")
        if "scope" in raw["lookup"]:
            self.check_scope(loc, ("lookup", "scope"), entity, raw["lookup"]["scope"])

    def check_transfer(self, loc: "Located", raw: dict, fields: dict) -> None:
        """import / export_columns / delete_by_range (runtime/imports, runtime/exports)."""
        spec = raw.get("import") or {}
        for section in ("columns", "key"):
            for i, name in enumerate(spec.get(section, [])):
                f = fields.get(name)
                if f is not None and f.get("type") == "computed":
                    self.err(loc, ("import", section, i), "SA179", f"import {section} '{name}' is computed, never written")
                elif f is not None and f.get("type") == "file":
                    self.err(loc, ("import", section, i), "SA110", f"import {section} '{name}' is a file field: a "
                             "spreadsheet cell cannot carry a file (upload it to /api/<entity>/<id>/files/<field>)")
                elif f is not None and f.get("type") == "multi_ref" and section == "columns":
                    if not f.get("by") and name not in (spec.get("ref_keys") or {}):
                        self.err(loc, ("import", section, i), "SA220", f"import column '{name}' is a multi_ref: its "
                                 "cells name the targets by a unique field, so the field needs `by:` or the import "
                                 "a `ref_keys` entry")
                elif f is None or f.get("type") in ("lookup", "multi_ref", "geo") or f.get("system") or f.get("readonly"):
                    self.err(loc, ("import", section, i), "SA110", f"import {section} '{name}' is not a stored, typed-in field")
        for i, name in enumerate(spec.get("key", [])):
            check_multi_single(self, loc, ("import", "key", i), f"import key '{name}'", fields.get(name))
            if spec.get("columns") and name not in spec["columns"]:
                self.err(loc, ("import", "key", i), "SA110", f"import key '{name}' is not one of the import columns")
        if "import" in raw and "import" not in raw.get("actions", []):
            self.err(loc, ("import",), "SA110", "an import block needs 'import' in actions")
        for name, target_field in (spec.get("ref_keys") or {}).items():
            f = fields.get(name) or {}
            if f.get("type") not in ("ref", "multi_ref") or f.get("key") or name not in spec.get("columns", [name]):
                self.err(loc, ("import", "ref_keys", name), "SA113",
                         f"import ref_keys '{name}' is not an import column that is a ref by id or a multi_ref")
            elif f["to"] in self.reg.entities and self.business_key_problem(f["to"], target_field):
                self.err(loc, ("import", "ref_keys", name), "SA113",
                         f"import ref_keys '{name}': {self.business_key_problem(f['to'], target_field)}")
        modes = spec.get("modes") or []
        if "upsert" in modes + [spec.get("mode")] and not spec.get("key"):
            self.err(loc, ("import", "modes" if "upsert" in modes else "mode"), "SA110", "import mode upsert needs import key")
        if modes and spec.get("mode") and spec["mode"] not in modes:
            self.err(loc, ("import", "mode"), "SA110", f"import mode '{spec['mode']}' is not one of import modes")
        for i, path in enumerate(raw.get("export_columns", [])):
            final, problem = self.resolve(raw["entity"], path)
            if final is None:
                self.err(loc, ("export_columns", i), "SA110", f"export column '{path}': {problem}")
        for i, name in enumerate(raw.get("delete_by_range", [])):
            if fields.get(name, {}).get("type") not in ("date", "datetime"):
                self.err(loc, ("delete_by_range", i), "SA110", f"delete_by_range '{name}' must be a date or datetime field")
        if raw.get("delete_by_range") and "delete" not in raw.get("actions", []):
            self.err(loc, ("delete_by_range",), "SA110", "delete_by_range needs 'delete' in actions")

    def check_stat(self, loc: "Located", entity: str, stat: dict) -> None:
        """SA090: group keys (fields, ref paths, date()/week()/month()/quarter()/year()), measures, derived
        expressions, chart, sort; SA200-SA203 ratios, measure filters, compare, drill; SA080 a measure's where."""
        from specadmin.specs.stat_names import check_stat_extras, check_stat_spec

        for at, text in check_stat_spec(self, entity, stat):
            self.err(loc, ("stat", *at), "SA090", text)
        for at, code, text in check_stat_extras(self, entity, stat):
            self.err(loc, ("stat", *at), code, text)
        for name, measure in stat["measures"].items():
            if "where" in measure:
                source = measure.get("from") or entity
                if source in self.reg.entities:
                    self.check_where(loc, ("stat", "measures", name, "where"), source, measure["where"],
                                     lights_ok=source == entity)
        self.check_rollups(loc, entity, stat)
        check_multi_group(self, loc, entity, stat)

    def check_rollups(self, loc: "Located", entity: str, stat: dict) -> None:
        """SA174: `<level>(path)` (e.g. `street(org)`) rolls a path to an org up to a level of org_level,
        and no other group key has the same name."""
        from specadmin.specs.stat_names import dim_key, rollup_of

        dictionary = self.reg.dictionaries.get("org_level")
        levels = dict(dictionary.raw["items"]) if dictionary else {}
        keys = [dim_key(g) for g in stat["group_by"]]
        for i, group in enumerate(stat["group_by"]):
            rolled = rollup_of(group)
            if rolled is None:
                continue
            path, level = rolled
            final, _ = self.resolve(entity, path)
            if final is not None and (final.get("type") != "ref" or final.get("to") != "org"):
                self.err(loc, ("stat", "group_by", i), "SA174", f"stat group '{group}': '{path}' is not a ref to org")
            if level not in levels:
                self.err(loc, ("stat", "group_by", i), "SA174", f"stat group '{group}': '{level}' is neither date, month nor an org level "
                                                               f"(expected one of {', '.join(levels)})")
            if keys.count(path) > 1:
                self.err(loc, ("stat", "group_by", i), "SA174", f"stat group '{group}': another group key is also '{path}'")

    # -- roles ------------------------------------------------------------
    def check_role(self, loc: "Located") -> None:
        for screen_name, grant in (loc.raw.get("grants") or {}).items():
            at = ("grants", screen_name)
            sloc = self.reg.screens.get(screen_name)
            if sloc is None:
                self.err(loc, at, "SA060", f"role '{loc.name}' grants unknown screen '{screen_name}'")
                continue
            if grant == "all":
                continue
            screen = sloc.raw
            offered = {"list", "read", *screen.get("actions", []), *(screen.get("custom_actions") or {})}
            unmaskable = screen.get("entity") in self.reg.entities and offers_unmask(
                paths.RawCatalog(self.fields_of, self.reg.entities), screen, self.fields_of(screen["entity"]))
            if unmaskable:
                offered.add(UNMASK)
            elif grant.get("clear_view"):
                self.err(loc, at + ("clear_view",), "SA062",
                         f"screen '{screen_name}' shows no sensitive value: clear_view (unmask) has nothing to show")
            for i, action in enumerate(grant.get("actions", [])):
                if action not in offered:
                    self.err(loc, at + ("actions", i), "SA062",
                             f"screen '{screen_name}' does not offer action '{action}' (offers {', '.join(sorted(offered))})")
            entity = screen["entity"]
            if entity not in self.reg.entities:
                continue
            editable = set(screen["form"]) if "form" in screen else {
                n for n, f in self.fields_of(entity).items()
                if f.get("type") not in UNSTORED and not f.get("readonly") and not f.get("system")
                and not f.get("deadline") and n != "id"}
            for i, name in enumerate(grant.get("fields", [])):
                if name not in editable:
                    self.err(loc, at + ("fields", i), "SA061", f"grant on '{screen_name}' names field '{name}' that its form cannot edit")
            if isinstance(grant.get("scope"), list):
                self.check_scope_union(loc, at + ("scope",), entity, grant["scope"])
            elif "scope" in grant:
                self.check_scope(loc, at + ("scope",), entity, grant["scope"])

    def check_scope_union(self, loc: "Located", sub: tuple, entity: str, scopes: list) -> None:
        """SA240–SA242: a grant's list of scopes (their union): each checked alone; none `all` (the
        union would be every row), none twice, none inside another on the same field."""
        seen: list[tuple[int, dict]] = []
        for i, scope in enumerate(scopes):
            self.check_scope(loc, sub + (i,), entity, scope)
            mode = scope["mode"]
            if mode == "all":
                self.err(loc, sub + (i,), "SA240", "a list of scopes with mode all is every row: write scope: {mode: all}")
                continue
            for j, other in seen:
                if other == scope:
                    self.err(loc, sub + (i,), "SA241", f"scope {i + 1} repeats scope {j + 1}")
                    break
                same = other.get("field", "org") == scope.get("field", "org") and "through" not in scope
                if same and {mode, other["mode"]} in ({"own_and_sub", "own_unit"}, {"own_and_sub", "self_only"},
                                                      {"own_and_sub", "sub_only"}):
                    self.err(loc, sub + (i,), "SA242", f"scopes {j + 1} and {i + 1} on the same field: "
                             f"own_and_sub already holds {mode if mode != 'own_and_sub' else other['mode']}")
                    break
            seen.append((i, scope))


def check_semantics(reg: "Registry") -> list[SpecError]:
    checker = Checker(reg)
    for loc in reg.entities.values():
        checker.check_entity(loc)
    for loc in reg.screens.values():
        checker.check_screen(loc)
    for loc in reg.roles.values():
        checker.check_role(loc)
    from specadmin.generator.rule_checks import check_rules

    check_rules(checker)
    from specadmin.generator.feed_checks import check_feeds

    check_feeds(checker)
    return checker.errors
