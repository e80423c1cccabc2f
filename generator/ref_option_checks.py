"""Meaning checks of a ref field's `options:` (choices narrowed for the current user,
runtime/security/ref_options.py).

SA230: `options` on a field that is not a ref or multi_ref
SA231: `options.from` names no entity
SA232: `options.values` is not a ref or multi_ref field of `from` pointing at the field's own target
SA233: `options.where` names a field `from` does not store, or a `$` value other than $user and $user.org
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from specadmin.specs.model import STORED_TYPES

if TYPE_CHECKING:
    from specadmin.generator.build import Located
    from specadmin.generator.semantics import Checker

USER_VALUES = ("$user", "$user.org")


def check_ref_options(ck: "Checker", loc: "Located", name: str, f: dict) -> None:
    """SA230–SA233 on one field of an entity."""
    spec = f.get("options")
    if not isinstance(spec, dict):
        return
    at = ("fields", name, "options")
    if f["type"] not in ("ref", "multi_ref"):
        ck.err(loc, at, "SA230", f"field '{name}': options narrow a ref or multi_ref field, not {f['type']}")
        return
    source = spec.get("from")
    if source not in ck.reg.entities:
        ck.err(loc, at + ("from",), "SA231", f"field '{name}': options from '{source}' is not an entity")
        return
    fields = ck.fields_of(source)
    values = fields.get(spec.get("values"))
    if not isinstance(values, dict) or values.get("type") not in ("ref", "multi_ref") or values.get("to") != f.get("to") \
            or (values.get("type") == "ref" and values.get("key") != f.get("key")):
        ck.err(loc, at + ("values",), "SA232", f"field '{name}': options values '{spec.get('values')}' must be a ref or "
                                               f"multi_ref field of '{source}' to '{f.get('to')}' (stored the same way)")
    for key, value in (spec.get("where") or {}).items():
        column = fields.get(key)
        if not isinstance(column, dict) or column.get("type") not in STORED_TYPES:
            ck.err(loc, at + ("where", key), "SA233", f"field '{name}': options where names '{key}', "
                                                     f"which is not a stored field of '{source}'")
        elif isinstance(value, str) and value.startswith("$") and value not in USER_VALUES:
            ck.err(loc, at + ("where", key), "SA233", f"field '{name}': options where value '{value}' "
                                                     f"is not one of {', '.join(USER_VALUES)}")
