"""The physical schema: which tables and columns the model needs in the database.

One place derives columns from fields; the table template, the migration emitter and
the migration diff all read it, so they cannot disagree.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from specadmin.specs.model import App, Entity, Field

# Columns piccolo's BaseUser brings; an auth_user entity inherits them instead of declaring them.
BASE_USER_COLUMNS = (
    ("username", "Varchar", {"length": 100, "unique": True}),
    ("password", "Secret", {"length": 255}),
    ("first_name", "Varchar", {"length": 255, "null": True}),
    ("last_name", "Varchar", {"length": 255, "null": True}),
    ("email", "Varchar", {"length": 255, "unique": True}),
    ("active", "Boolean", {"default": False}),
    ("admin", "Boolean", {"default": False}),
    ("superuser", "Boolean", {"default": False}),
    ("last_login", "Timestamp", {"null": True, "default": None}),
)
BASE_USER_NAMES = {c[0] for c in BASE_USER_COLUMNS}

# The row version of every writable (not append-only) table: 1 when inserted, raised by one in the
# statement of every write (EntityService.update and custom actions, imports), so an update can be
# compare-and-set (`... WHERE id = :id AND version = :read`) and a stale edit is refused.
PRIMARY_KEY = "id"  # every table's serial key (Piccolo's default)
ROW_VERSION = "version"


def versioned(entity: Entity) -> bool:
    """True when the entity's table has the row-version column (every entity but append-only logs)."""
    return not entity.append_only


@dataclass(frozen=True)
class Column:
    name: str
    kind: str  # piccolo column class name
    params: tuple[tuple[str, object], ...] = ()
    references: str | None = None  # class name of the referenced table, for ForeignKey
    label: str = ""
    inherited: bool = False  # comes from BaseUser, not declared in the table class

    @property
    def param_dict(self) -> dict:
        return dict(self.params)


@dataclass(frozen=True)
class PhysicalTable:
    class_name: str
    tablename: str
    label: str
    entity: str | None
    columns: tuple[Column, ...]
    auth_user: bool = False
    join_of: tuple[str, str] | None = None  # (entity, field) for multi_ref join tables
    indexes: tuple[tuple[str, ...], ...] = ()  # multi-column indexes
    unique: tuple[tuple[str, ...], ...] = ()  # unique indexes (column-level `unique` covers plain one-field sets)


def class_name(name: str) -> str:
    return "".join(part.capitalize() for part in name.split("_"))


def blind_index_column(name: str) -> str:
    return f"{name}_bidx"


def unique_sets(entity: Entity) -> tuple[tuple[str, ...], ...]:
    """The field sets whose values no two rows share: each `unique: true` field, then `unique:` of the entity."""
    return tuple((f.name,) for f in entity.fields if f.unique and f.stored) + tuple(entity.unique)


def unique_columns(entity: Entity, names: tuple[str, ...]) -> tuple[str, ...]:
    """The columns that hold a unique set: a sensitive field by its blind index (the SM4 token is
    randomised, the index is not), a geo field by both coordinates."""
    out: list[str] = []
    for name in names:
        f = entity.field(name)
        if f.sensitive:
            out.append(blind_index_column(name))
        elif f.type == "geo":
            out += [f"{name}_lng", f"{name}_lat"]
        else:
            out.append(name)
    return tuple(out)


def unique_indexes(entity: Entity) -> tuple[tuple[str, ...], ...]:
    """The unique indexes a migration creates: every set but a plain one-field one, which is its column's own
    `unique` (so tables made before unique indexes existed keep their schema)."""
    return tuple(unique_columns(entity, names) for names in unique_sets(entity)
                 if len(names) > 1 or entity.field(names[0]).sensitive or entity.field(names[0]).type == "geo")


def _params(**kw) -> tuple[tuple[str, object], ...]:
    return tuple(sorted(kw.items()))


def columns_for(field: Field, entity: Entity, app: App, indexed: set[str]) -> list[Column]:
    f = field
    null = not f.required
    base: dict = {"null": null}
    if f.unique:
        base["unique"] = True
    if f.index or f.name in indexed:
        base["index"] = True
    if f.default is not None and f.type not in ("date", "datetime"):
        base["default"] = f.default
    elif null:
        base["default"] = None
    t = f.type
    if f.sensitive:
        base.pop("default", None)
        base.pop("unique", None)
        return [
            Column(f.name, "Text", _params(null=True, default=None), label=f.label),
            Column(blind_index_column(f.name), "Varchar", _params(length=64, null=True, default=None, index=True),
                   label=f"{f.label}（检索索引）"),
        ]
    if t == "string":
        return [Column(f.name, "Varchar", _params(length=f.max_length or 255, **base), label=f.label)]
    if t == "dict" and f.multi:  # the keys between commas, `,a,b,` (specs/multi_keys.py)
        return [Column(f.name, "Text", _params(**{**base, "default": None}), label=f.label)]
    if t in ("dict",):
        return [Column(f.name, "Varchar", _params(length=32, **base), label=f.label)]
    if t == "file":  # the names of the row's files (joined with 、), kept by runtime/attachments
        return [Column(f.name, "Text", _params(null=True, default=None), label=f.label)]
    if t == "text":
        return [Column(f.name, "Text", _params(**base), label=f.label)]
    if t == "integer":
        return [Column(f.name, "BigInt" if (f.max or 0) > 2**31 else "Integer", _params(**base), label=f.label)]
    if t == "decimal":
        return [Column(f.name, "Numeric", _params(digits=(f.digits or 18, f.places if f.places is not None else 2), **base),
                       label=f.label)]
    if t == "boolean":
        return [Column(f.name, "Boolean", _params(default=bool(f.default), null=False), label=f.label)]
    if t == "date":
        return [Column(f.name, "Date", _params(**{**base, "default": None}), label=f.label)]
    if t == "datetime":
        return [Column(f.name, "Timestamp", _params(**{**base, "default": None}), label=f.label)]
    if t == "geo":
        return [Column(f"{f.name}_lng", "DoublePrecision", _params(null=True, default=None), label=f"{f.label}（经度）"),
                Column(f"{f.name}_lat", "DoublePrecision", _params(null=True, default=None), label=f"{f.label}（纬度）")]
    if t == "ref":
        target = app.entity(f.to)
        if f.key:  # soft reference by business key: a plain column, no constraint
            key = target.field(f.key)
            length = key.max_length or 255
            return [Column(f.name, "Varchar", _params(length=length, null=null, default=None if null else "", index=True),
                           label=f.label)]
        on_delete = {"restrict": "restrict", "set_null": "set_null", "cascade": "cascade"}[f.on_delete or "restrict"]
        return [Column(f.name, "ForeignKey", _params(null=null, index=True, on_delete=on_delete, default=None),
                       references=class_name(target.name), label=f.label)]
    return []  # lookup and multi_ref have no column of their own


def indexed_fields(app: App, entity: Entity) -> set[str]:
    """Fields screens filter or scope on get an index, so scoped lists stay fast."""
    names: set[str] = set()
    for screen in app.screens_of(entity.name):
        names.update(screen.filters)
        if screen.scope.field:
            names.add(screen.scope.field.split(".")[0])
    for role in app.roles:
        for grant in role.grants:
            for scope in grant.declared_scopes:
                if scope.field and app.screen(grant.screen).entity == entity.name:
                    names.add(scope.field.split(".")[0])
    return {n for n in names if entity.has_field(n) and not entity.field(n).multi and entity.field(n).type in ("string", "dict", "integer", "date",
                                                                                 "datetime", "boolean", "decimal")}


def composite_indexes(app: App, entity: Entity, columns: tuple[Column, ...] = ()) -> tuple[tuple[str, ...], ...]:
    """What each list screen reads in order (screen_list_indexes), (scope field, filter field)
    pairs, and each import key; an index that another one starts with is left out (the longer one
    serves both).

    (scope, filter): a scoped, filtered list reads one narrow index range. Measured on 100,000
    places: a supervising unit's list filtered by street went from ~12 ms (street index, then
    filter and sort ~6,700 rows) to well under 1 ms.
    """
    found = (screen_list_indexes(app, entity, columns) + _scope_filter_pairs(app, entity)
             + import_key_indexes(app, entity, columns) + aggregate_indexes(app, entity, columns)
             + rule_indexes(app, entity, columns))
    return tuple(ix for ix in dict.fromkeys(found) if not any(_serves(other, ix) for other in found))


def _serves(other: tuple[str, ...], ix: tuple[str, ...]) -> bool:
    """True when index `other` makes `ix` redundant: `ix` is a prefix of it, or `ix` is (…, sort, id)
    and `other` starts with (…, sort): it reads the same range in sort order, only rows that tie on
    the sort value come in another order (SQLite sorts just those, PostgreSQL an incremental sort),
    and one index fewer costs every write less. (scope, id) is kept: a prefix there loses the order."""
    if len(other) > len(ix) and other[:len(ix)] == ix:
        return True
    return len(ix) >= 3 and ix[-1] == "id" and len(other) >= len(ix) and other[:len(ix) - 1] == ix[:-1] \
        and other != ix


# Field types whose column is the field's own name and orders usefully in a B-tree.
_ORDERABLE = ("string", "dict", "integer", "date", "datetime", "boolean", "decimal", "ref")


def _plain_column(entity: Entity, name: str, names: set[str]) -> bool:
    if name in ("id", "created_by") and name in names | {"id"}:
        return True
    if not entity.has_field(name):
        return False
    f = entity.field(name)
    return f.stored and not f.sensitive and not f.multi and f.type in _ORDERABLE and name in names


def _screen_scope_leads(app: App, screen) -> list[str]:
    """The first column of each data scope a screen's lists run under (its own, its grants')."""
    scopes = [screen.scope] + [s for role in app.roles for g in role.grants
                               if g.screen == screen.name for s in g.declared_scopes]
    fields = {s.field or ("created_by" if s.mode == "own_records" else None) for s in scopes if s.mode != "all"}
    return sorted(f.split(".")[0] for f in fields if f)


def _tab_equalities(where) -> tuple[str, ...] | None:
    """The fields a tab's condition pins to one value (`status: sent`, `site: null`), or None when
    it holds anything else (ranges, `not`, `in`, `or`)."""
    if not where or not hasattr(where, "items"):
        return None
    names = []
    for k, v in where.items():
        if k in ("or", "and", "not") or hasattr(v, "items") or isinstance(v, (list, tuple)):
            return None
        if isinstance(v, str) and v.startswith("$"):  # a relative date: a moment, read as a range
            return None
        names.append(k)
    return tuple(sorted(names))


def screen_list_indexes(app: App, entity: Entity, columns: tuple[Column, ...] = ()) -> list[tuple[str, ...]]:
    """For each list screen run under a data scope: (scope column, default sort column, id), and the
    same with each equality filter and each equality tab between scope and sort, so a scoped page
    (optionally filtered, or on a tab) is one index range read in the order the page shows; no sort
    of every matching row. `id` comes last because lists break sort ties by id (both databases scan
    an index backwards for a descending sort). Screens without a scope (all rows) and statistics
    are left out: their sort field's own index serves them, and each index costs every write.

    Measured on 1,000,000 places (SQLite): a supervising unit's list filtered by street, sorted by
    place_code, 10.6 ms with (supervisor, street) to 0.21 ms with (supervisor, street, place_code, id)."""
    names = {c.name for c in columns} if columns else {f.name for f in entity.fields} | {"created_by"}
    found: list[tuple[str, ...]] = []
    for screen in app.screens_of(entity.name):
        if screen.stat is not None:
            continue
        leads = [lead for lead in _screen_scope_leads(app, screen) if _plain_column(entity, lead, names)]
        if not leads:
            continue
        spec = screen.sort or entity.order_by or "-id"
        sort = spec.lstrip("-")
        if sort != "id" and not _plain_column(entity, sort, names):
            continue
        tail = (sort, "id") if sort != "id" else ("id",)
        middles: list[tuple[str, ...]] = [()]
        for name in screen.filters:
            if _plain_column(entity, name, names) and entity.field(name).type not in ("date", "datetime"):
                middles.append((name,))  # exact match; date filters are ranges
        for tab in screen.tabs:
            eq = _tab_equalities(tab.where)
            if eq and all(_plain_column(entity, n, names) for n in eq):
                middles.append(eq)
        for lead in leads:
            for middle in middles:
                cols = tuple(dict.fromkeys((lead, *middle, *tail)))
                if cols not in found:
                    found.append(cols)
    return found


def import_key_indexes(app: App, entity: Entity, columns: tuple[Column, ...] = ()) -> list[tuple[str, ...]]:
    """The columns of each import key (a sensitive field's blind index), so the import's duplicate
    probe finds a key with one index seek whatever else is indexed (runtime/imports/probe.py).

    Blind-index columns go last: their values are random, and a B-tree led by them takes every
    insert at a random page. A single column already indexed (or unique) needs nothing more."""
    indexed = {c.name for c in columns if c.param_dict.get("index") or c.param_dict.get("unique")}
    names = {c.name for c in columns}
    found: list[tuple[str, ...]] = []
    for screen in app.screens_of(entity.name):
        key = screen.import_spec.key if screen.import_spec is not None else ()
        fields = [entity.field(n) for n in key]
        cols = tuple([f.name for f in fields if not f.sensitive] +
                     [blind_index_column(f.name) for f in fields if f.sensitive])
        if cols and names.issuperset(cols) and not (len(cols) == 1 and cols[0] in indexed) and cols not in found:
            found.append(cols)
    return found


def aggregate_indexes(app: App, entity: Entity, columns: tuple[Column, ...] = ()) -> list[tuple[str, ...]]:
    """(via, field) for each max/min aggregate over this entity's rows (specs/aggregates.py), so a
    parent's latest child value is one index seek, not a read of all its children; count and exists
    need only the via column's own index, which every ref has. Kaiping's scan_record has
    (place_code, scanned_at, …) already, which serves 最新扫码时间."""
    names = {c.name for c in columns}
    found: list[tuple[str, ...]] = []
    for parent in app.entities:
        for f in parent.fields:
            spec = f.aggregate if f.type == "computed" else None
            if not spec or spec["of"] != entity.name or spec["agg"] not in ("max", "min"):
                continue
            via = spec.get("via") or next((r.name for r in entity.fields if r.type == "ref" and r.to == parent.name), None)
            cols = (via, spec["field"])
            if via and names.issuperset(cols) and cols not in found:
                found.append(cols)
    return found


def rule_indexes(app: App, entity: Entity, columns: tuple[Column, ...] = ()) -> list[tuple[str, ...]]:
    """(key, date) for each `consecutive_days` or `threshold` rule reading this entity (runtime/rules),
    so a rule's grouped read of a span is one index range per key, in (key, day) order, without a
    visit of the table: SQLite groups the rows as the index yields them (no sort), and on a backfill
    reads the span 500 keys at a time through it (consecutive.daily_measures). Kaiping's
    scan_record is served by (place_code, scanned_at, …), which its screens and aggregates build."""
    names = {c.name for c in columns} if columns else {f.name for f in entity.fields}
    found: list[tuple[str, ...]] = []
    for rule in app.rules:
        source = rule.source if rule.kind in ("consecutive_days", "threshold") else None
        if not source or source.get("entity") != entity.name:
            continue
        cols = (source.get("key"), source.get("date"))
        if all(cols) and names.issuperset(cols) and not any(entity.field(n).sensitive for n in cols) \
                and cols not in found:
            found.append(cols)
    return found


def _scope_filter_pairs(app: App, entity: Entity) -> list[tuple[str, ...]]:
    found: list[tuple[str, ...]] = []
    for screen in app.screens_of(entity.name):
        scope_fields = {screen.scope.field} if screen.scope.field else set()
        for role in app.roles:
            for grant in role.grants:
                if grant.screen == screen.name:
                    scope_fields |= {s.field for s in grant.declared_scopes if s.field}
        leads = sorted({f.split(".")[0] for f in scope_fields})
        for lead in leads:
            for name in screen.filters:
                f = entity.field(name)
                if name != lead and f.stored and not f.sensitive and f.type not in ("text", "geo"):
                    pair = (lead, name)
                    if pair not in found:
                        found.append(pair)
    return found


def physical_tables(app: App) -> tuple[PhysicalTable, ...]:
    tables: list[PhysicalTable] = []
    for entity in app.entities:
        cols: list[Column] = []
        if entity.auth_user:
            cols += [Column(n, k, _params(**p), inherited=True) for n, k, p in BASE_USER_COLUMNS]
        indexed = indexed_fields(app, entity)
        for f in entity.fields:
            if entity.auth_user and f.name in BASE_USER_NAMES:
                continue
            cols += columns_for(f, entity, app, indexed)
        cols += [
            Column("created_by", "Integer", _params(null=True, default=None, index=True), label="创建人"),
            Column("created_at", "Timestamp", _params(null=True, default=None), label="创建时间"),
            Column("updated_at", "Timestamp", _params(null=True, default=None), label="更新时间"),
        ] if not entity.has_field("created_by") else []
        if versioned(entity):
            cols.append(Column(ROW_VERSION, "Integer", _params(null=False, default=1), label="版本号"))
        tables.append(PhysicalTable(class_name(entity.name), entity.table, entity.label, entity.name, tuple(cols),
                                    auth_user=entity.auth_user, indexes=composite_indexes(app, entity, tuple(cols)),
                                    unique=unique_indexes(entity)))
        for f in entity.fields:
            if f.type == "multi_ref":
                owner, target = class_name(entity.name), class_name(f.to)
                tables.append(PhysicalTable(
                    class_name(f"{entity.name}_{f.name}"), f"{entity.table}_{f.name}", f"{entity.label}-{f.label}",
                    None,
                    (Column("owner", "ForeignKey", _params(null=False, index=True, on_delete="cascade", default=None),
                            references=owner, label=entity.label),
                     Column("target", "ForeignKey", _params(null=False, index=True, on_delete="cascade", default=None),
                            references=target, label=f.label)),
                    join_of=(entity.name, f.name)))
    return tuple(_topological(tables))


def _topological(tables: list[PhysicalTable]) -> list[PhysicalTable]:
    """Referenced tables first, so generated classes need no forward references."""
    by_name = {t.class_name: t for t in tables}
    done: list[PhysicalTable] = []
    seen: set[str] = set()

    def visit(t: PhysicalTable, stack: tuple[str, ...]) -> None:
        if t.class_name in seen:
            return
        for c in t.columns:
            if c.references and c.references != t.class_name and c.references not in stack:
                visit(by_name[c.references], stack + (t.class_name,))
        seen.add(t.class_name)
        done.append(t)

    for t in tables:
        visit(t, ())
    return done


@dataclass(frozen=True)
class Renames:
    """What `renamed_from` hints ask of the next migration (migrations/diff.py): a table now called
    `tablename` was the table of class `old class name`; a column `(tablename, name)` was `old name`.
    A hint whose old table or column no longer exists in the snapshot is simply done already."""

    tables: dict[str, str] = dataclasses.field(default_factory=dict)  # new tablename -> old class name
    columns: dict[tuple[str, str], str] = dataclasses.field(default_factory=dict)  # (tablename, new column) -> old column


def renames(app: App) -> Renames:
    out = Renames()
    for entity in app.entities:
        old_entity = entity.renamed_from
        if old_entity:
            out.tables[entity.table] = class_name(old_entity)
        indexed = indexed_fields(app, entity)
        for f in entity.fields:
            if f.type == "multi_ref" and (old_entity or f.renamed_from):
                out.tables[f"{entity.table}_{f.name}"] = class_name(f"{old_entity or entity.name}_{f.renamed_from or f.name}")
            if f.renamed_from and f.type != "multi_ref":
                new = columns_for(f, entity, app, indexed)
                old = columns_for(dataclasses.replace(f, name=f.renamed_from), entity, app, indexed)
                for before, after in zip(old, new):
                    out.columns[(entity.table, after.name)] = before.name
    return out
