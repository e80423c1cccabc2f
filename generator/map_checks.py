"""Meaning checks of a screen's `map:` block (runtime/maps): SA215 a geo field, SA216 a label field."""
from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from specadmin.generator.build import Located
    from specadmin.generator.semantics import Checker

UNLABELLED = ("geo", "multi_ref", "lookup", "file", "text", "dict")


def check_map(checker: "Checker", loc: "Located", raw: dict) -> None:
    spec, fields = raw["map"], checker.fields_of(raw["entity"])
    geo = fields.get(spec["field"])
    if geo is None or geo.get("type") != "geo":
        checker.err(loc, ("map", "field"), "SA215",
                    f"map field '{spec['field']}' must be a geo field of '{raw['entity']}'")
    label = fields.get(spec["label"])
    if label is None or label.get("type") in UNLABELLED or label.get("sensitive") or label.get("type") == "computed":
        checker.err(loc, ("map", "label"), "SA216",
                    f"map label '{spec['label']}' must be a stored, unencrypted field of '{raw['entity']}' "
                    f"(a string, number, date or ref)")
