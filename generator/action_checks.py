"""Meaning checks of a custom action's parameters (`custom_actions.<name>.params`), code SA082.

A parameter is declared with the keys of an entity field that make sense in a form of its own:
a type among PARAM_TYPES (a `file` parameter is also checked by generator/file_checks.py, SA160–SA164),
a dictionary or code list that exists, a ref target that is an entity, a `ref_scope` one of the
plugins in use provides, bounds that agree, a pattern that compiles, a default that fits, and a
name that is not one of the action form's own fields.
"""
from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from specadmin.specs.codes import CODE_LISTS
from specadmin.specs.model import PARAM_TYPES, RESERVED_PARAMS

if TYPE_CHECKING:
    from specadmin.generator.build import Located
    from specadmin.generator.semantics import Checker

CODE = "SA082"
CHOICE_MULTI = ("dict", "string")  # `multi: true`: several keys of a dict, or of a string's code list


def _type_problem(ftype: str) -> str | None:
    if ftype in PARAM_TYPES:
        return None
    return f"unknown type '{ftype}' (expected one of {', '.join(PARAM_TYPES)})"


def check_action_params(ck: "Checker", loc: "Located", action: str, raw: dict) -> None:
    at = ("custom_actions", action)
    for name, p in (raw.get("params") or {}).items():
        here = at + ("params", name)
        what = f"action '{action}' param '{name}'"
        if name in RESERVED_PARAMS:
            ck.err(loc, here, CODE, f"{what}: the name is reserved (the action form uses {', '.join(RESERVED_PARAMS)})")
        ftype = p["type"]
        problem = _type_problem(ftype)
        if problem:
            ck.err(loc, here + ("type",), CODE, f"{what}: {problem}")
            continue
        _check_kind(ck, loc, here, what, ftype, p)
        for low, high in (("min", "max"), ("min_length", "max_length")):
            if low in p and high in p and p[low] > p[high]:
                ck.err(loc, here + (low,), CODE, f"{what}: {low} {p[low]} is greater than {high} {p[high]}")
        if "pattern" in p:
            try:
                re.compile(p["pattern"])
            except re.error as exc:
                ck.err(loc, here + ("pattern",), CODE, f"{what}: bad pattern: {exc}")
        if "sensitive" in p and ftype not in ("string", "text"):
            ck.err(loc, here + ("sensitive",), CODE, f"{what}: only string and text parameters can be sensitive")
        if "default" in p:
            problem = _default_problem(ck, ftype, p)
            if problem:
                ck.err(loc, here + ("default",), CODE, f"{what}: default {p['default']!r} {problem}")
    for key in (raw.get("result") or {}):
        if "handler" not in raw:
            ck.err(loc, at + ("result", key), CODE, f"action '{action}': only a handler returns a result to show")
            break


def _check_kind(ck: "Checker", loc: "Located", here: tuple, what: str, ftype: str, p: dict) -> None:
    needed = {"dict": "dict", "ref": "to", "multi_ref": "to"}.get(ftype)
    if needed and needed not in p:
        ck.err(loc, here, CODE, f"{what}: type {ftype} needs '{needed}'")
    if "dict" in p and ftype != "dict":
        ck.err(loc, here + ("dict",), CODE, f"{what}: 'dict' belongs to a dict parameter")
    elif ftype == "dict" and p["dict"] not in ck.reg.dictionaries:
        ck.err(loc, here + ("dict",), CODE, f"{what}: no dictionary named '{p['dict']}'")
    if "codes" in p:
        if ftype != "string":
            ck.err(loc, here + ("codes",), CODE, f"{what}: codes needs a string parameter")
        elif p["codes"] not in CODE_LISTS and p["codes"] not in ck.reg.dictionaries:
            known = ", ".join(sorted(CODE_LISTS))
            ck.err(loc, here + ("codes",), CODE,
                   f"{what}: codes '{p['codes']}' is neither a code list ({known}) nor a dictionary")
    if p.get("multi") and not (ftype in ("dict", "file") or (ftype == "string" and "codes" in p)):
        ck.err(loc, here + ("multi",), CODE, f"{what}: multi needs a dict parameter or a string with codes "
                                            "(several records: multi_ref)")
    if "to" in p:
        if ftype not in ("ref", "multi_ref"):
            ck.err(loc, here + ("to",), CODE, f"{what}: 'to' belongs to a ref or multi_ref parameter")
        elif p["to"] not in ck.reg.entities:
            known = ", ".join(sorted(ck.reg.entities))
            ck.err(loc, here + ("to",), CODE, f"{what}: refers to unknown entity '{p['to']}' (known: {known})")
    if "ref_scope" in p:
        if ftype not in ("ref", "multi_ref"):
            ck.err(loc, here + ("ref_scope",), CODE, f"{what}: ref_scope belongs to a ref or multi_ref parameter")
        else:
            plugin_name, _, scope = p["ref_scope"].partition(".")
            plugin = ck.reg.plugins.get(plugin_name) if ck.reg.plugins else None
            if plugin is None or scope not in plugin.ref_scopes:
                offered = sorted(f"{pl.name}.{n}" for pl in (ck.reg.plugins or ()) for n in pl.ref_scopes)
                ck.err(loc, here + ("ref_scope",), CODE, f"{what}: no ref scope '{p['ref_scope']}' "
                                                        f"(plugins in use offer: {', '.join(offered) or 'none'})")


def _default_problem(ck: "Checker", ftype: str, p: dict) -> str | None:
    value: Any = p["default"]
    if ftype in ("ref", "multi_ref", "password", "file"):
        return f"is not allowed on a {ftype} parameter"
    if p.get("multi"):
        if not isinstance(value, list):
            return "must be a list of keys (multi)"
        keys = _choice_keys(ck, ftype, p)
        unknown = [v for v in value if keys is not None and str(v) not in keys]
        return f"names unknown keys {unknown}" if unknown else None
    if ftype == "dict" or (ftype == "string" and "codes" in p):
        keys = _choice_keys(ck, ftype, p)
        return None if keys is None or str(value) in keys else "is not one of the choices"
    return ck.default_problem({**p, "type": ftype})


def _choice_keys(ck: "Checker", ftype: str, p: dict) -> set[str] | None:
    """Keys of the parameter's dictionary; None when unknown here (a code list is built at run time)."""
    name = p.get("dict") if ftype == "dict" else p.get("codes")
    loc = ck.reg.dictionaries.get(name or "")
    return {str(k) for k in loc.raw["items"]} if loc else None
