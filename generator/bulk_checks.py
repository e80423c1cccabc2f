"""Meaning checks of a screen's `bulk_query:` block (runtime/bulk_query), reported as SA130."""
from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from specadmin.generator.build import Located
    from specadmin.generator.semantics import Checker

# Fields the runtime maintains on the batch entity and on each item, by convention.
BATCH_FIELDS = {"batch_no": ("string",), "status": ("dict",), "row_count": ("integer",),
                "queried_count": ("integer",), "last_queried_at": ("datetime",)}
ITEM_FIELDS = {"queried": ("boolean",), "queried_at": ("datetime",)}


def check_bulk_query(checker: "Checker", loc: "Located", raw: dict) -> None:
    spec, batch = raw["bulk_query"], raw["entity"]
    at = ("bulk_query",)

    def err(sub: tuple, message: str) -> None:
        checker.err(loc, at + sub, "SA130", f"bulk_query: {message}")

    items, source = spec["items"], spec["source"]
    for key, name in (("items", items), ("source", source)):
        if name not in checker.reg.entities:
            err((key,), f"{key} names unknown entity '{name}'")
    if items not in checker.reg.entities or source not in checker.reg.entities:
        return
    bf, itf, srcf = checker.fields_of(batch), checker.fields_of(items), checker.fields_of(source)
    for name, types in BATCH_FIELDS.items():
        if bf.get(name, {}).get("type") not in types:
            err((), f"the batch entity '{batch}' needs a {types[0]} field '{name}'")
    for name, types in ITEM_FIELDS.items():
        if itf.get(name, {}).get("type") not in types:
            err((), f"the items entity '{items}' needs a {types[0]} field '{name}'")
    link = spec.get("batch_field", "batch")
    if itf.get(link, {}).get("type") != "ref" or itf[link].get("to") != batch:
        err(("batch_field",) if "batch_field" in spec else ("items",),
            f"'{items}.{link}' must be a ref to '{batch}'")
    key, source_key = spec["key"], spec.get("source_key", spec["key"])
    kf, sf = itf.get(key), srcf.get(source_key)
    if kf is None or kf.get("type") not in ("string", "integer"):
        err(("key",), f"key '{key}' is not a string or integer field of '{items}'")
    if sf is None or sf.get("type") not in ("string", "integer"):
        err(("source_key",) if "source_key" in spec else ("key",),
            f"'{source_key}' is not a string or integer field of '{source}'")
    elif kf is not None and bool(kf.get("sensitive")) != bool(sf.get("sensitive")):
        err(("key",), f"'{items}.{key}' and '{source}.{source_key}' must both be sensitive or both not "
                      "(sensitive keys match by blind index)")
    if srcf.get(spec["newest"], {}).get("type") not in ("date", "datetime"):
        err(("newest",), f"newest '{spec['newest']}' is not a date or datetime field of '{source}'")
    for i, name in enumerate(spec.get("upload", [])):
        f = itf.get(name)
        if f is None or f.get("type") in ("lookup", "multi_ref", "geo", "ref", "computed") or f.get("system") or f.get("readonly"):
            err(("upload", i), f"upload column '{name}' is not a typed-in field of '{items}'")
    if spec.get("upload") and key not in spec["upload"]:
        err(("upload",), f"upload columns must include the key '{key}'")
    for target, origin in (spec.get("copy") or {}).items():
        tf, of = itf.get(target), srcf.get(origin)
        if tf is None or tf.get("type") in ("lookup", "multi_ref", "computed"):
            err(("copy", target), f"copy target '{target}' is not a stored field of '{items}'")
        elif of is None or of.get("type") in ("lookup", "multi_ref", "computed"):
            err(("copy", target), f"copy source '{origin}' is not a stored field of '{source}'")
        elif tf.get("type") != of.get("type") or bool(tf.get("sensitive")) != bool(of.get("sensitive")):
            err(("copy", target), f"'{items}.{target}' and '{source}.{origin}' differ in type or sensitivity")
    for i, name in enumerate(spec.get("inherit", [])):
        if name not in itf or name not in bf or itf[name].get("type") != bf[name].get("type"):
            err(("inherit", i), f"inherit '{name}' must be a field of the same type in '{batch}' and '{items}'")
    recent = spec.get("recent_count")
    if recent is not None and itf.get(recent, {}).get("type") != "integer":
        err(("recent_count",), f"recent_count '{recent}' is not an integer field of '{items}'")
    screen = spec.get("items_screen")
    if screen is not None:
        sloc = checker.reg.screens.get(screen)
        if sloc is None or sloc.raw.get("entity") != items:
            err(("items_screen",), f"items_screen '{screen}' is not a screen of '{items}'")
