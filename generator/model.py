"""The immutable app model. Everything after validation reads this, never raw YAML.

The model round-trips through plain dicts (`to_dict`/`from_dict`) so the generator can
commit it as `generated/app_model.json` and the runtime can load it without the specs.
"""
from __future__ import annotations

import dataclasses
import types
import typing
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

STORED_TYPES = ("string", "text", "integer", "decimal", "boolean", "date", "datetime", "dict", "ref", "file", "geo")
ACTIONS = ("list", "read", "create", "update", "delete", "export")


@dataclass(frozen=True)
class Field:
    name: str
    type: str
    label: str
    required: bool = False
    unique: bool = False
    index: bool = False
    readonly: bool = False
    default: Any = None
    min: float | None = None
    max: float | None = None
    min_length: int | None = None
    max_length: int | None = None
    pattern: str | None = None
    digits: int | None = None
    places: int | None = None
    dict: str | None = None
    to: str | None = None
    key: str | None = None  # ref stored by the target's unique business key instead of its id
    on_delete: str | None = None
    path: str | None = None  # lookup path through refs, e.g. "supervisor.head_name"
    empty_label: str | None = None
    sensitive: str | None = None
    system: str | None = None
    help: str | None = None

    @property
    def stored(self) -> bool:
        """True when the field is a column of its own table."""
        return self.type in STORED_TYPES

    @property
    def editable(self) -> bool:
        return self.stored and not self.readonly and self.system is None


@dataclass(frozen=True)
class Check:
    expr: str
    message: str


@dataclass(frozen=True)
class Entity:
    name: str
    label: str
    table: str
    fields: tuple[Field, ...]
    display: str
    module: str
    tree: str | None = None
    order_by: str = "-id"
    auth_user: bool = False
    append_only: bool = False
    checks: tuple[Check, ...] = ()

    def field(self, name: str) -> Field:
        for f in self.fields:
            if f.name == name:
                return f
        raise KeyError(f"{self.name}.{name}")

    def has_field(self, name: str) -> bool:
        return any(f.name == name for f in self.fields)

    @property
    def stored_fields(self) -> tuple[Field, ...]:
        return tuple(f for f in self.fields if f.stored)


@dataclass(frozen=True)
class Scope:
    mode: str = "all"
    field: str | None = None
    user_attr: str | None = None


@dataclass(frozen=True)
class Tab:
    name: str
    label: str
    where: Any


@dataclass(frozen=True)
class CustomAction:
    name: str
    label: str
    set: Any
    when: Any = None
    batch: bool = False
    confirm: str | None = None


@dataclass(frozen=True)
class Measure:
    name: str
    agg: str
    label: str
    field: str | None = None


@dataclass(frozen=True)
class Stat:
    group_by: tuple[str, ...]
    measures: tuple[Measure, ...]
    columns: tuple[str, ...] = ()
    period: str | None = None
    default_days: int = 7


@dataclass(frozen=True)
class Screen:
    name: str
    entity: str
    label: str
    module: str
    menu: str | None = None
    order: int = 0
    tabs: tuple[Tab, ...] = ()
    list: tuple[str, ...] = ()
    detail: tuple[str, ...] = ()
    form: tuple[str, ...] = ()
    filters: tuple[str, ...] = ()
    search: tuple[str, ...] = ()
    sort: str | None = None
    page_size: int = 20
    actions: tuple[str, ...] = ()
    custom_actions: tuple[CustomAction, ...] = ()
    scope: Scope = Scope()
    stat: Stat | None = None

    @property
    def offered_actions(self) -> tuple[str, ...]:
        """Every action a grant on this screen may name."""
        base = ("list", "read") + self.actions
        return base + tuple(a.name for a in self.custom_actions)


@dataclass(frozen=True)
class Grant:
    screen: str
    actions: tuple[str, ...]
    fields: tuple[str, ...] | None = None  # None: every form field of the screen
    scope: Scope | None = None  # None: the screen's default scope
    clear_view: bool = False


@dataclass(frozen=True)
class Role:
    name: str
    label: str
    module: str
    superuser: bool = False
    grants: tuple[Grant, ...] = ()


@dataclass(frozen=True)
class Dictionary:
    name: str
    label: str
    items: tuple[tuple[str, str], ...]  # (key, label) in declared order


@dataclass(frozen=True)
class MenuGroup:
    name: str
    label: str


@dataclass(frozen=True)
class App:
    name: str
    label: str
    short_label: str
    theme: str
    org_levels: tuple[str, ...]
    menus: tuple[MenuGroup, ...]
    entities: tuple[Entity, ...]
    screens: tuple[Screen, ...]
    roles: tuple[Role, ...]
    dictionaries: tuple[Dictionary, ...]
    security: Any = field(default_factory=lambda: MappingProxyType({}))

    def entity(self, name: str) -> Entity:
        for e in self.entities:
            if e.name == name:
                return e
        raise KeyError(name)

    def screen(self, name: str) -> Screen:
        for s in self.screens:
            if s.name == name:
                return s
        raise KeyError(name)

    def role(self, name: str) -> Role:
        for r in self.roles:
            if r.name == name:
                return r
        raise KeyError(name)

    def dictionary(self, name: str) -> Dictionary:
        for d in self.dictionaries:
            if d.name == name:
                return d
        raise KeyError(name)

    def screens_of(self, entity: str) -> tuple[Screen, ...]:
        return tuple(s for s in self.screens if s.entity == entity)

    def to_dict(self) -> dict:
        return _to_plain(self)

    @classmethod
    def from_dict(cls, data: dict) -> "App":
        return _from_plain(cls, data)


def _to_plain(value: Any) -> Any:
    if dataclasses.is_dataclass(value):
        return {f.name: _to_plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, (tuple, list)):
        return [_to_plain(v) for v in value]
    if isinstance(value, (dict, MappingProxyType)):
        return {k: _to_plain(v) for k, v in value.items()}
    return value


def _from_plain(tp: Any, data: Any) -> Any:
    origin = typing.get_origin(tp)
    if dataclasses.is_dataclass(tp):
        hints = typing.get_type_hints(tp)
        return tp(**{k: _from_plain(hints[k], v) for k, v in data.items()})
    if origin is tuple:
        args = typing.get_args(tp)
        if data is None:
            return None
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_from_plain(args[0], v) for v in data)
        return tuple(_from_plain(a, v) for a, v in zip(args, data))
    if origin in (typing.Union, types.UnionType):
        if data is None:
            return None
        for arg in typing.get_args(tp):
            if arg is type(None):
                continue
            return _from_plain(arg, data)
    if tp is Any and isinstance(data, dict):
        return MappingProxyType({k: _freeze(v) for k, v in data.items()})
    return _freeze(data)


def _freeze(value: Any) -> Any:
    if isinstance(value, dict):
        return MappingProxyType({k: _freeze(v) for k, v in value.items()})
    if isinstance(value, list):
        return tuple(_freeze(v) for v in value)
    return value


def load_model(path) -> App:
    """Read a committed `app_model.json` back into the model."""
    import json
    from pathlib import Path

    return App.from_dict(json.loads(Path(path).read_text(encoding="utf-8")))
