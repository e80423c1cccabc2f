"""The one resolver of dotted spec paths through refs (`supervisor.head_name`, `place.street.name`).

A path starts at an entity; every part but the last must be a ref field, whose target entity the
next part belongs to; the last part is any field (or `id`). `resolve` returns the chain of hops and
the final field, or raises `PathError` naming the bad part. It reads fields through a `Catalog`: the
immutable model (`App`, used by the emitter and the runtime) or, in the generator's semantic check,
the raw validated YAML (whose fields are plain dicts); the generator turns a `PathError` into its
`file:line: [CODE] message`.

With `lookups=True` a lookup field on the way (or at the end) is replaced by the path it stands for,
so `site_street` (lookup `site.street`) resolves like `site.street` itself.

Runtime helpers that turn a `ResolvedPath` into Piccolo columns live in runtime/data/paths.py.
"""
from __future__ import annotations

from collections.abc import Callable, Container, Mapping
from dataclasses import dataclass
from typing import Any

from specadmin.specs.model import App, Entity, Field

ID_FIELD = Field(name="id", type="integer", label="ID")
# Columns specs/physical.py gives every table that declares no `created_by` of its own.
AUDIT_FIELDS = {f.name: f for f in (Field(name="created_by", type="integer", label="创建人"),
                                    Field(name="created_at", type="datetime", label="创建时间"),
                                    Field(name="updated_at", type="datetime", label="更新时间"))}


class PathError(KeyError, ValueError):
    """A path that does not resolve; `part` is the offending part, `entity` the entity it was looked up on.

    A KeyError (as the model's `entity.field` raises) and a ValueError, for callers catching either."""

    def __init__(self, message: str, part: str = "", entity: str = ""):
        super().__init__(message)
        self.message, self.part, self.entity = message, part, entity

    def __str__(self) -> str:
        return self.message


def prop(f: Any, key: str) -> Any:
    """A property of a field: the model's `Field` attribute or the raw spec's dict key."""
    return f.get(key) if isinstance(f, Mapping) else getattr(f, key, None)


class Catalog:
    """What the resolver needs of a spec: an entity's field by name, and whether an entity exists."""

    def has_entity(self, entity: str) -> bool:
        raise NotImplementedError

    def field(self, entity: str, name: str) -> Any | None:
        """The field (with `type`, `to`, `key`, `path`), `id` included; None when there is none."""
        raise NotImplementedError


class ModelCatalog(Catalog):
    """The immutable model. Besides the declared fields: `id`, the primary key, and the audit columns
    every table has (created_by, created_at, updated_at) unless the entity declares `created_by`."""

    def __init__(self, app: App):
        self.app = app

    def has_entity(self, entity: str) -> bool:
        return any(e.name == entity for e in self.app.entities)

    def field(self, entity: str, name: str) -> Field | None:
        for e in self.app.entities:
            if e.name == entity:
                for f in e.fields:
                    if f.name == name:
                        return f
                if name == "id":
                    return ID_FIELD
                return None if e.has_field("created_by") else AUDIT_FIELDS.get(name)
        return None


class RawCatalog(Catalog):
    """The validated raw specs (the generator's semantic check): fields are the YAML dicts, `id` included."""

    def __init__(self, fields_of: Callable[[str], Mapping[str, Any]], entities: Container[str]):
        self.fields_of, self.entities = fields_of, entities

    def has_entity(self, entity: str) -> bool:
        return entity in self.entities

    def field(self, entity: str, name: str) -> Any | None:
        return self.fields_of(entity).get(name)


@dataclass(frozen=True)
class Hop:
    """One step through a ref: field `name` of `entity` points at `target`."""
    entity: str
    name: str
    field: Any
    target: str


@dataclass(frozen=True)
class ResolvedPath:
    entity: str  # where the path starts
    path: str  # as written
    hops: tuple[Hop, ...]  # the refs followed, in order
    name: str  # the final field's name
    field: Any  # the final field (a Field of the model, a dict of the raw spec)
    owner: str  # the entity the final field belongs to

    @property
    def names(self) -> tuple[str, ...]:
        """The parts walked, ending in the final field (lookups expanded when resolved with lookups=True)."""
        return tuple(h.name for h in self.hops) + (self.name,)

    @property
    def first(self) -> Any:
        """The field of the start entity the path begins with."""
        return self.hops[0].field if self.hops else self.field

    @property
    def target(self) -> str | None:
        """The entity the final field refers to (org, user, …), if it is a ref."""
        return prop(self.field, "to")

    def rest(self) -> str:
        """The path after its first part, relative to the first hop's target ('' for a single field)."""
        return ".".join(self.names[1:])


def _catalog(source: App | Catalog) -> Catalog:
    return source if isinstance(source, Catalog) else ModelCatalog(source)


def resolve(source: App | Catalog, entity: str | Entity, path: str, *, lookups: bool = False) -> ResolvedPath:
    """Follow `a.b.c` from `entity` through refs; raises PathError with the message the checks print."""
    catalog = _catalog(source)
    start = entity if isinstance(entity, str) else entity.name
    hops: list[Hop] = []
    current = start
    parts = path.split(".")
    for i, part in enumerate(parts):
        f = catalog.field(current, part)
        if f is None:
            raise PathError(f"'{part}' is not a field of entity '{current}'", part, current)
        if lookups and prop(f, "type") == "lookup":
            inner = resolve(catalog, current, prop(f, "path"), lookups=True)
            hops += inner.hops
            current, f, part = inner.owner, inner.field, inner.name
        if i == len(parts) - 1:
            return ResolvedPath(start, path, tuple(hops), part, f, current)
        if prop(f, "type") != "ref" or not catalog.has_entity(prop(f, "to")):
            rest = ".".join(parts[i + 1:])
            raise PathError(f"'{part}' of '{current}' is not a ref, so '{rest}' cannot follow it", part, current)
        hops.append(Hop(current, part, f, prop(f, "to")))
        current = prop(f, "to")
    raise PathError("empty path")  # pragma: no cover - str.split always gives a part
