"""Shape validation of spec documents against the JSON Schemas in specs/."""
from __future__ import annotations

import difflib
import json
from collections.abc import Mapping
from functools import lru_cache
from pathlib import Path

import jsonschema

from specadmin.generator.errors import SpecError
from specadmin.generator.loader import Document

SCHEMA_DIR = Path(__file__).resolve().parent.parent / "specs"


@lru_cache(maxsize=None)
def _validator(name: str, extra: str = "{}", scope_modes: tuple[str, ...] = ()) -> jsonschema.protocols.Validator:
    """The schema `name`, with plugins' top-level keys (`extra`, JSON: key → schema) and data-scope modes added."""
    schema = json.loads((SCHEMA_DIR / name).read_text(encoding="utf-8"))
    schema["properties"].update(json.loads(extra))
    if scope_modes and "scope" in schema.get("$defs", {}):
        schema["$defs"]["scope"]["properties"]["mode"]["enum"] += list(scope_modes)
    cls = jsonschema.validators.validator_for(schema)
    cls.check_schema(schema)
    return cls(schema)


def _describe(path) -> str:
    return ".".join(str(p) for p in path) or "(top level)"


def _leaf(error: jsonschema.ValidationError) -> jsonschema.ValidationError:
    """For oneOf/anyOf failures, the most specific sub-error explains best."""
    if error.validator in ("oneOf", "anyOf") and error.context:
        deepest = max(error.context, key=lambda e: (len(e.absolute_path), e.validator != "const"))
        return _leaf(deepest)
    return error


def validate_shape(doc: Document, schema_name: str, extra_keys: Mapping[str, dict] | None = None,
                   scope_modes: tuple[str, ...] = ()) -> list[SpecError]:
    errors: list[SpecError] = []
    extra = json.dumps(dict(extra_keys or {}), sort_keys=True, ensure_ascii=False)
    for raw in _validator(schema_name, extra, tuple(sorted(scope_modes))).iter_errors(doc.data):
        err = _leaf(raw)
        path = tuple(err.absolute_path)
        where = _describe(path)
        if err.validator == "additionalProperties":
            allowed = sorted((err.schema.get("properties") or {}).keys())
            extras = [k for k in err.instance if k not in allowed]
            for key in extras:
                hint = difflib.get_close_matches(str(key), allowed, n=1)
                if key is True and "trigger" in allowed:  # YAML 1.1 reads a bare `on:` key as true
                    hint = ["trigger"]
                msg = f"unknown key '{key}' in {where}"
                msg += f"; did you mean '{hint[0]}'?" if hint else f"; expected one of: {', '.join(allowed)}"
                errors.append(SpecError(doc.file, doc.line(path + (key,)), "SA010", msg))
        elif err.validator == "type":
            errors.append(SpecError(doc.file, doc.line(path), "SA011",
                                    f"{where}: expected {err.validator_value}, got {type(err.instance).__name__} {err.instance!r}"))
        elif err.validator == "required":
            errors.append(SpecError(doc.file, doc.line(path), "SA012", f"{where}: {err.message}"))
        elif err.validator == "enum":
            choices = ", ".join(map(str, err.validator_value))
            errors.append(SpecError(doc.file, doc.line(path), "SA013",
                                    f"{where}: {err.instance!r} is not one of: {choices}"))
        elif err.validator == "pattern":
            errors.append(SpecError(doc.file, doc.line(path), "SA013",
                                    f"{where}: {err.instance!r} is not a valid name (lower-case letters, digits, _)"))
        elif err.validator == "propertyNames":
            errors.append(SpecError(doc.file, doc.line(path), "SA013",
                                    f"{where}: key {err.instance!r} is not a valid name (lower-case letters, digits, _)"))
        else:
            errors.append(SpecError(doc.file, doc.line(path), "SA013", f"{where}: {err.message}"))
    return errors
