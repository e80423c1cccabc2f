"""Meaning checks for multi-valued fields (`type: dict, multi: true`, specs/multi_keys.py).

SA210: `multi: true` on a field whose type cannot hold several values (a stored field: dict)
SA211: a multi-valued dict that is also unique, sensitive, has codes/choices/pattern, or a default that is
       not a list of the dictionary's keys
SA212: a statistic groups by a multi-valued dict (a row would count once per key: refused)
SA213: a where clause compares a multi-valued dict with an operator other than eq, contains, in, not
       (they mean: holds the key, holds any of the keys, does not hold it)
SA214: a multi-valued dict in a `unique:` set, an import key or a data scope (one value is needed there)
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from specadmin.specs.multi_keys import MULTI_SEPARATORS, MULTI_TYPES

if TYPE_CHECKING:
    from specadmin.generator.build import Located
    from specadmin.generator.semantics import Checker

MULTI_OPS = ("eq", "contains", "in", "not")


def is_multi(f: dict | None) -> bool:
    return bool(f) and f.get("type") == "dict" and bool(f.get("multi"))


def check_multi_field(ck: "Checker", loc: "Located", name: str, f: dict) -> None:
    """SA210 / SA211 on one field of an entity."""
    if not f.get("multi"):
        return
    at = ("fields", name)
    if f["type"] == "file":  # several files: generator/file_checks.py
        return
    if f["type"] not in MULTI_TYPES:
        ck.err(loc, at + ("multi",), "SA210", f"field '{name}': multi needs a dict or file field "
                                               f"(several records: multi_ref), not {f['type']}")
        return
    for key in ("unique", "sensitive", "codes", "choices", "pattern", "key", "index"):
        if f.get(key):
            ck.err(loc, at + (key,), "SA211", f"field '{name}': a multi-valued dict cannot have {key}")
    dictionary = ck.reg.dictionaries.get(f.get("dict"))
    if "default" in f:
        default = f["default"]
        keys = [str(k) for k in dict(dictionary.raw.get("items") or {})] if dictionary else None
        if not isinstance(default, list) or (keys is not None and any(str(v) not in keys for v in default)):
            ck.err(loc, at + ("default",), "SA211",
                   f"field '{name}': the default of a multi-valued dict is a list of its dictionary's keys")
    if dictionary:
        bad = [str(k) for k in dict(dictionary.raw.get("items") or {}) if MULTI_SEPARATORS.search(str(k))]
        if bad:
            ck.err(loc, at + ("dict",), "SA211", f"field '{name}': dictionary '{f['dict']}' has keys with a "
                                                  f"separator (、 , ， ; ；): {', '.join(bad)}")


def check_multi_where(ck: "Checker", loc: "Located", at: tuple, key: str, cond: Any) -> None:
    """SA213: the operators a where clause may use on a multi-valued dict."""
    if not isinstance(cond, dict):
        return
    for op in cond:
        if op not in MULTI_OPS:
            ck.err(loc, at + (op,), "SA213", f"where: '{key}' holds several keys; use eq or contains (holds the key), "
                                             f"in (holds any of them) or not, not '{op}'")


def check_multi_group(ck: "Checker", loc: "Located", entity: str, stat: dict) -> None:
    """SA212: no statistic groups by a multi-valued dict."""
    for i, group in enumerate(stat.get("group_by") or []):
        if not isinstance(group, str):
            continue
        final, _ = ck.resolve(entity, group)
        if is_multi(final):
            ck.err(loc, ("stat", "group_by", i), "SA212",
                   f"stat group '{group}' holds several keys per row; a statistic cannot group by it "
                   "(filter by it, or group by a single-valued field)")


def check_multi_single(ck: "Checker", loc: "Located", at: tuple, what: str, f: dict | None) -> None:
    """SA214: a place that needs one value per row (a unique set, an import key, a data scope)."""
    if is_multi(f):
        ck.err(loc, at, "SA214", f"{what} is a multi-valued dict; one value per row is needed there")
