"""`specadmin check` for pulls: SA190 database, SA191 entity and fields, SA192 key, SA193 owned screens."""
from __future__ import annotations

from collections.abc import Iterator

from specadmin.runtime.plugin import Check
from specadmin.runtime.pulls.spec import APP_KEY, MODULE_KEY

WRITABLE = ("string", "text", "integer", "decimal", "boolean", "date", "datetime", "dict", "ref")


def _databases(spec) -> set[str]:
    return {name for section in spec.sections(APP_KEY) for name in section.value}


def database_named(spec) -> Iterator:
    known = _databases(spec)
    for section in spec.sections(MODULE_KEY):
        for name, pull in section.value.items():
            if pull["database"] not in known:
                yield spec.error(section, (name, "database"),
                                 f"pull '{name}': no external database '{pull['database']}' in app.yaml "
                                 f"external_databases (known: {', '.join(sorted(known)) or 'none'})")
    yield from _urls(spec)


def _urls(spec) -> Iterator:
    for section in spec.sections(APP_KEY):
        for name, db in section.value.items():
            url = db["url"].split("${", 1)[0]
            if url and not url.startswith(("sqlite:", "postgres:", "postgresql:", "mysql:", "mariadb:")):
                yield spec.error(section, (name, "url"), f"external database '{name}': the url must start with "
                                 "sqlite:///, postgresql://, mysql:// (or be ${ENV} naming one)")


def entity_fields(spec) -> Iterator:
    entities = {e.name: e for e in spec.app.entities}
    for section in spec.sections(MODULE_KEY):
        for name, pull in section.value.items():
            entity = entities.get(pull["entity"])
            if entity is None:
                yield spec.error(section, (name, "entity"), f"pull '{name}': no entity '{pull['entity']}'")
                continue
            fields = {f.name: f for f in entity.fields}
            for field in pull["fields"]:
                f = fields.get(field)
                if f is None:
                    yield spec.error(section, (name, "fields", field), f"pull '{name}': entity '{entity.name}' "
                                     f"has no field '{field}'")
                elif f.type not in WRITABLE or f.system or not f.stored:
                    yield spec.error(section, (name, "fields", field), f"pull '{name}': field '{field}' "
                                     f"({f.type}{', system' if f.system else ''}) cannot be written by a pull")
            missing = [f.name for f in entity.fields if f.required and f.stored and not f.system
                       and f.default is None and f.name not in pull["fields"]]
            if missing:
                yield spec.error(section, (name, "fields"), f"pull '{name}': required fields of "
                                 f"'{entity.name}' have no source column: {', '.join(missing)}")
            if not spec.app.screens_of(entity.name):
                yield spec.error(section, (name, "entity"), f"pull '{name}': entity '{entity.name}' has no screen "
                                 "(its batches are shown on one)")


def key_fields(spec) -> Iterator:
    for section in spec.sections(MODULE_KEY):
        for name, pull in section.value.items():
            for i, field in enumerate(pull.get("key", ())):
                if field not in pull["fields"]:
                    yield spec.error(section, (name, "key", i), f"pull '{name}': key field '{field}' is not "
                                     "among its fields")


def owned_screens(spec) -> Iterator:
    screens = {s.name: s for s in spec.app.screens}
    for section in spec.sections(MODULE_KEY):
        for name, pull in section.value.items():
            for i, screen in enumerate(pull.get("owns", ())):
                if screen not in screens:
                    yield spec.error(section, (name, "owns", i), f"pull '{name}': no screen '{screen}'")
                elif screens[screen].entity != pull["entity"]:
                    yield spec.error(section, (name, "owns", i), f"pull '{name}': screen '{screen}' shows "
                                     f"'{screens[screen].entity}', not '{pull['entity']}'")


CHECKS = (Check("SA190", database_named, "external database"), Check("SA191", entity_fields, "pull entity and fields"),
          Check("SA192", key_fields, "pull key"), Check("SA193", owned_screens, "screens a pull owns"))
