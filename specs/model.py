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
ACTIONS = ("list", "read", "create", "update", "delete", "export", "import")
# Types a custom action's parameter may have (`custom_actions.<name>.params`): the field types that
# make sense in a form of their own, plus `password` (never logged) and `file` (uploaded first, then
# attached by the action's `set` to a file field of the row: runtime/attachments).
PARAM_TYPES = ("string", "text", "password", "integer", "decimal", "boolean", "date", "datetime", "dict", "ref",
               "multi_ref", "file")
# Names a parameter cannot take: the action form's own fields (runtime/pages) and the API body's keys.
RESERVED_PARAMS = ("ids", "params", "r", "detail", "params_form")

UNMASK = "unmask"  # the grant action of clear view, offered by screens that show sensitive values (specs/unmask.py)


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
    by: str | None = None  # ref stored by id, named in imports and inbound feeds by this unique field of the target
    on_delete: str | None = None
    path: str | None = None  # lookup path through refs, e.g. "supervisor.head_name"
    empty_label: str | None = None
    sensitive: str | None = None
    system: str | None = None
    help: str | None = None
    initials_of: str | None = None  # kept equal to the pinyin initials of that field (开平市 → kps)
    stamp_on: tuple[str, ...] = ()  # system current_user/now set when a user writes one of these fields
    check: str | None = None  # "id_number": 15/18-digit 身份证号 with the GB 11643 checksum
    codes: str | None = None  # a string of names: a code list (specs/codes.py) or a dictionary gives the labels
    multi: bool = False  # several keys of a dict (a list; stored: specs/multi_keys.py) or of an action param's code list; several files (a file field)
    accept: tuple[str, ...] = ()  # file fields: allowed extensions (pdf, jpg, ...), checked against the content
    max_mb: float | None = None  # file fields: the largest file
    max_files: int | None = None  # file fields with multi: how many files a row keeps
    ref_scope: str | None = None  # action params only: `plugin.name` of the rows a ref may point at
    choices: tuple[str, ...] = ()  # a string field's usual values (健康码状态): drop-downs in filters and forms
    renamed_from: str | None = None  # the former field name: migrate renames its columns (specs/physical.renames)
    expr: str | None = None  # type computed: the expression (specs/computed.py), evaluated in SQL on every read
    labels: tuple[str, ...] = ()  # type computed with a top-level band(): the band labels (else generated)
    aggregate: Any = None  # type computed over child rows: {of, via, agg, field, where} (specs/aggregates.py)
    result: str | None = None  # type computed: the value's type (integer, decimal, string, date, datetime, boolean)
    deadline: Any = None  # datetime: {from, working_days|working_hours|days|hours: N or path} (specs/lights.py)
    lights: Any = None  # datetime with deadline: {yellow: {unit: N} | {ratio: r}, done: {field: values}}
    options: Any = None  # ref fields: {from, where, values, otherwise}: the targets offered to the user (runtime/security/ref_options.py)

    @property
    def stored(self) -> bool:
        """True when the field is a column of its own table."""
        return self.type in STORED_TYPES

    @property
    def value_type(self) -> str:
        """The type its values have: a computed field's result type, else its own type."""
        return self.result or self.type if self.type == "computed" else self.type

    @property
    def editable(self) -> bool:
        return (self.stored and not self.readonly and self.system is None and self.initials_of is None
                and self.deadline is None  # a deadline is computed when the row is written
                and self.type != "file")  # files are uploaded to their own route (runtime/attachments)


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
    unique: tuple[tuple[str, ...], ...] = ()  # field sets no two rows share (`unique: [[event, org]]`)
    renamed_from: str | None = None  # the former entity name: migrate renames the table (specs/physical.renames)

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


TREE_SCOPES = ("own_and_sub",)  # scope modes a `level` switch narrows (本级 / 下级 / 本级及下级)


@dataclass(frozen=True)
class Through:
    """`participated` scope: rows for which a row of `entity` exists whose ref `ref` points at the
    row and whose `field` (a path to an org) is the user's org (or below it with `and_sub`)."""
    entity: str
    ref: str
    field: str = "org"


@dataclass(frozen=True)
class Scope:
    mode: str = "all"
    field: str | None = None
    user_attr: str | None = None
    through: Through | None = None  # `participated` only
    and_sub: bool = False  # `participated` only: an act by an org below the user's counts too


@dataclass(frozen=True)
class Tab:
    name: str
    label: str
    where: Any


@dataclass(frozen=True)
class CustomAction:
    name: str
    label: str
    set: Any = None
    when: Any = None
    batch: bool = False
    confirm: str | None = None
    handler: str | None = None  # dotted path of an async function for changes `set` cannot express
    params: tuple[Field, ...] = ()  # what the actor fills in (a form on the page, `params` in the API)
    result: Any = None  # key of a handler's result -> label: shown once to the actor (e.g. a new password)

    def param(self, name: str) -> Field:
        for p in self.params:
            if p.name == name:
                return p
        raise KeyError(f"{self.name}.{name}")


@dataclass(frozen=True)
class Measure:
    name: str
    agg: str
    label: str
    field: str | None = None
    expr: str | None = None  # derived: arithmetic over earlier measures (agg "expr"), specs/measure_expr.py
    coalesce: tuple[str, ...] = ()  # aggregate the first non-null of these fields (street-edited else original)
    source: str | None = None  # aggregate another entity, matched on this stat's group keys
    match: tuple[tuple[str, str], ...] = ()  # (field of source, group key of this stat)
    where: Any = None  # count/sum only the rows matching this where clause (COUNT(CASE WHEN ...))
    ratio: tuple[str, ...] = ()  # (numerator, denominator): earlier measures, NULL when the denominator is 0
    percent: bool = False  # a ratio shown times 100
    places: int | None = None  # a ratio's decimal places (default 2)


@dataclass(frozen=True)
class ChartLine:
    """A reference line on a related chart: the parent row's `field` (e.g. a threshold), drawn when
    the parent row matches `when` (a where clause on its own fields; always when None)."""
    field: str
    label: str
    when: Any = None


@dataclass(frozen=True)
class Chart:
    type: str = "bar"  # bar | line
    x: str | None = None  # a group key; default the first
    series: tuple[str, ...] = ()  # measures; default the first
    top: int | None = None  # stat charts: categories drawn before the rest become 其他 (default 30)
    lines: tuple[ChartLine, ...] = ()  # related charts: reference lines from the parent row


@dataclass(frozen=True)
class Stat:
    group_by: tuple[str, ...]
    measures: tuple[Measure, ...]
    columns: tuple[str, ...] = ()
    period: str | None = None
    default_days: int = 7
    sort: str | None = None  # a group key or measure, "-" for descending
    chart: Chart | None = None
    api: bool = False  # also served as a big-screen feed: /api/bigscreen/<screen>, /ext/api/bigscreen/<screen>
    compare: tuple[str, ...] = ()  # mom (环比) / yoy (同比) of the first key's period bucket (specs/stat_names.py)
    compare_measures: tuple[str, ...] = ()  # the measures compared; empty: all
    drill: str | None = None  # a list screen of the same entity each count/sum cell links to


@dataclass(frozen=True)
class ImportSpec:
    """Spreadsheet import of a screen; enabled=False also switches off delete (a live feed owns the data)."""
    enabled: bool = True
    columns: tuple[str, ...] = ()  # template/import columns: stored fields, in order
    key: tuple[str, ...] = ()  # duplicate detection inside a file, and the upsert key
    mode: str = "all_or_nothing"  # all_or_nothing | skip_bad_rows | upsert: the default, preselected on the page
    modes: tuple[str, ...] = ()  # what the importer may choose; empty: every mode that applies
    ref_keys: Any = None  # {ref column: unique field of the target the cells name}; default: the field's `by`

    @property
    def choices(self) -> tuple[str, ...]:
        """The modes an import of this screen may use (page and API): the declared `modes`, else
        all_or_nothing and skip_bad_rows, and upsert when a key is declared."""
        if self.modes:
            return self.modes
        return ("all_or_nothing", "skip_bad_rows") + (("upsert",) if self.key else ())


@dataclass(frozen=True)
class Related:
    """Child rows on a detail page: rows of `entity` whose ref `via` points at the shown row."""
    name: str
    label: str
    entity: str
    via: str
    columns: tuple[str, ...]
    sort: str | None = None
    chart: Chart | None = None


@dataclass(frozen=True)
class BulkQuery:
    """Batch look-up (runtime/bulk_query): upload keys into `items`, copy the newest matching `source` row."""
    items: str
    batch_field: str  # the items' ref to the batch entity
    key: str
    source: str
    source_key: str
    newest: str
    items_screen: str | None = None
    upload: tuple[str, ...] = ()
    copy: Any = None  # item field -> source field
    inherit: tuple[str, ...] = ()  # item fields copied from the batch row at upload
    recent_days: int = 3
    recent_count: str | None = None


@dataclass(frozen=True)
class MapView:
    """A screen's map page (`map:`; runtime/maps): the geo field its rows are placed by, the label of a point."""
    field: str
    label: str


@dataclass(frozen=True)
class Lookup:
    """Exact look-ups by a sensitive key that reach beyond the screen's list scope (`lookup:`)."""
    keys: tuple[str, ...]
    scope: Scope = Scope()  # how far a look-up reaches; `all` unless the spec narrows it


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
    import_spec: ImportSpec | None = None
    export_columns: tuple[str, ...] = ()  # empty: the list columns
    delete_by_range: tuple[str, ...] = ()  # date/datetime fields a range delete may use
    bulk_query: BulkQuery | None = None
    map: MapView | None = None
    related: tuple["Related", ...] = ()
    lookup: Lookup | None = None
    unmaskable: bool = False  # the entity shows a sensitive value: grants may name `unmask` (specs/unmask.py)
    levels: bool | None = None  # 本级 / 下级 / 本级及下级 switch (`level` parameter); None: on for a tree scope
    where: Any = None  # a fixed condition on every read through the screen (a request cannot remove it)

    @property
    def level_switch(self) -> bool:
        """Whether the screen offers the 本级 / 下级 / 本级及下级 switch: by default when its scope is
        the tree mode own_and_sub (`levels: false` turns it off)."""
        return self.scope.mode in TREE_SCOPES if self.levels is None else self.levels

    @property
    def offered_actions(self) -> tuple[str, ...]:
        """Every action a grant on this screen may name."""
        base = ("list", "read") + self.actions
        return base + tuple(a.name for a in self.custom_actions) + ((UNMASK,) if self.unmaskable else ())


@dataclass(frozen=True)
class Grant:
    screen: str
    actions: tuple[str, ...]
    fields: tuple[str, ...] | None = None  # None: every form field of the screen
    scope: Scope | None = None  # None: the screen's default scope
    clear_view: bool = False  # as written in the spec; `unmask` is then among the actions
    scopes: tuple[Scope, ...] = ()  # `scope:` given as a list: the union (OR) of these; `scope` is the first

    @property
    def declared_scopes(self) -> tuple[Scope, ...]:
        """The scopes the grant declares (several: a row in any of them is visible); () for the screen's."""
        return self.scopes or ((self.scope,) if self.scope else ())


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
class Rule:
    """A declarative rule (runtime/rules): consecutive_days, threshold, missing_reference or custom.

    Sub-mappings stay frozen mappings as written in the spec: source {entity, key, date, value,
    newest}, bounds {entity, key, where, min, max} (min/max: a field name or a literal number),
    target {entity, key}, reasons {no_data, below, above}, creates {entity, fields, days: {entity,
    fields}}, closes {field, value, at}."""
    name: str
    kind: str
    label: str
    module: str
    source: Any = None
    days: int = 7
    measure: str = "count"  # count | sum
    measure_field: str | None = None
    any_day: bool = False  # False: every day of the window breaches; True: at least one day
    bounds: Any = None
    target: Any = None
    reasons: Any = None
    creates: Any = None
    function: str | None = None  # custom: dotted path of an async function (ctx, rule, day) -> dict
    closes: Any = None  # {field, value, at}: alerts whose condition no longer holds are closed


@dataclass(frozen=True)
class Job:
    """A scheduled job (runtime/jobs): runs a rule or a plugin function on a cron schedule."""
    name: str
    label: str
    module: str
    schedule: str
    rule: str | None = None
    function: str | None = None
    enabled: bool = True
    notification: str | None = None
    args: Any = field(default_factory=lambda: MappingProxyType({}))  # given to a `function` job as `call.job.args`


@dataclass(frozen=True)
class Notification:
    """A message sent per group (e.g. supervising unit) while rows match `where` (runtime/notify), by a job;
    or, with `trigger`, sent when a row is written (runtime/notify/events.py)."""
    name: str
    label: str
    module: str
    channel: str
    entity: str
    where: Any
    group_by: str | None  # path from the entity to a ref, e.g. place.supervisor (digests only)
    to: str | None  # sms: path to the recipient, e.g. place.supervisor.head_phone (decrypted when sensitive)
    text: str
    once_per: str = "day"
    # inapp: users of the org (or the user) at the end of `to_users`, optionally only holders of `roles`;
    # title/text/link may use {count}, {group}, {group_id}, {day}.
    to_users: str | None = None
    roles: tuple[str, ...] = ()
    title: str | None = None
    link: str | None = None
    # event-driven: "create", "update", "change" (of `fields`) or "action" (named `action`); None: a digest job.
    trigger: str | None = None
    fields: tuple[str, ...] = ()
    action: str | None = None


@dataclass(frozen=True)
class Feed:
    """A data feed (runtime/feeds): inbound push API (/ext/feeds/<name>) or outbound push after commit."""
    name: str
    kind: str  # inbound | outbound
    label: str
    module: str
    entity: str
    fields: tuple[str, ...] = ()
    key: tuple[str, ...] = ()  # inbound: the external key (one unique field, or several together)
    ops: tuple[str, ...] = ()  # inbound: create, update, delete, upsert
    screen: str | None = None  # inbound: the caller needs the op's grant on this screen…
    caller_role: str | None = None  # …or this role (scope all)
    ref_keys: Any = None  # inbound: {ref field: field of the target matched against the sent value}
    batch: str = "all_or_nothing"  # inbound: | per_record
    events: tuple[str, ...] = ()  # outbound: create, update, delete
    targets: tuple[str, ...] = ()  # outbound: names in app.yaml feed_targets
    where: Any = None  # outbound: only rows matching this clause
    message_type: str | None = None  # outbound: `$type` of the target's envelope (runtime/feeds/formats.py)
    map: Any = None  # outbound: {key sent: field path} the data of an envelope (instead of `fields`)
    action: str | None = None  # inbound: a custom action of the entity run on each created record, in its transaction


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
    rules: tuple[Rule, ...] = ()
    jobs: tuple[Job, ...] = ()
    notifications: tuple[Notification, ...] = ()
    feeds: tuple[Feed, ...] = ()
    feed_targets: Any = field(default_factory=lambda: MappingProxyType({}))  # app.yaml `feed_targets:`
    sms: Any = field(default_factory=lambda: MappingProxyType({}))  # app.yaml `sms:` gateway settings
    imports: Any = field(default_factory=lambda: MappingProxyType({}))  # app.yaml `imports:` file limits
    files: Any = field(default_factory=lambda: MappingProxyType({}))  # app.yaml `files:` retention under var/
    plugins: tuple[str, ...] = ()  # app.yaml `plugins:` (built-in plugins are always on)
    sections: Any = field(default_factory=lambda: MappingProxyType({}))  # plugin key → module → value

    def section(self, key: str) -> dict[str, Any]:
        """A plugin's module-file key, by module (empty when no module writes it); a plugin's app.yaml
        key is there under "app"."""
        return dict(self.sections.get(key, {}))

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

    def rule(self, name: str) -> Rule:
        for r in self.rules:
            if r.name == name:
                return r
        raise KeyError(name)

    def notification(self, name: str) -> Notification:
        for n in self.notifications:
            if n.name == name:
                return n
        raise KeyError(name)

    def job(self, name: str) -> Job:
        for j in self.jobs:
            if j.name == name:
                return j
        raise KeyError(name)

    def screens_of(self, entity: str) -> tuple[Screen, ...]:
        return tuple(s for s in self.screens if s.entity == entity)

    def to_dict(self) -> dict:
        return _to_plain(self)

    @classmethod
    def from_dict(cls, data: dict) -> "App":
        return _from_plain(cls, data)


def _default_of(f: dataclasses.Field) -> Any:
    if f.default is not dataclasses.MISSING:
        return f.default
    if f.default_factory is not dataclasses.MISSING:
        return f.default_factory()
    return dataclasses.MISSING


def _to_plain(value: Any) -> Any:
    """Plain JSON data; a field left at its default is omitted (it comes back from the default)."""
    if dataclasses.is_dataclass(value):
        return {f.name: _to_plain(getattr(value, f.name)) for f in dataclasses.fields(value)
                if _default_of(f) is dataclasses.MISSING or getattr(value, f.name) != _default_of(f)}
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


# The parts of an app made of named items; an app's own items follow those of the built-in modules.
MERGED_PARTS = ("entities", "screens", "roles", "dictionaries", "rules", "jobs", "notifications", "feeds")


def without(app: App, base: App) -> dict:
    """`app` as plain data, less the items it has from `base` (the built-in modules' model)."""
    data = app.to_dict()
    for part in MERGED_PARTS:
        known = {item.name for item in getattr(base, part)}
        data[part] = [item for item in data.get(part, []) if item["name"] not in known]
    return data


def load_model(path, base: App | None = None) -> App:
    """Read a committed `app_model.json` back into the model; with `base`, its items come first."""
    import json
    from pathlib import Path

    app = App.from_dict(json.loads(Path(path).read_text(encoding="utf-8")))
    if base is None:
        return app
    return dataclasses.replace(app, **{part: getattr(base, part) + getattr(app, part) for part in MERGED_PARTS})
