"""Which columns a read selects, and how stored rows become JSON for the API and pages.

Keys are stored, labels shown: every dict and ref value is returned with a `<name>_label`
companion; sensitive values are decrypted and masked unless the grant allows clear view.
A deadline field with `lights:` (specs/lights.py) comes with `<name>_light` (green, yellow, red, or
None when done or without a deadline) and `<name>_light_label` (正常, 临期, 超期), read against the
same clock as where clauses, from the same stored columns the light's where clause compares.
With `with_version` a writable entity's row also carries its row `version` (what an edit sends
back as `If-Match` or `version`, runtime/entities/service.py).
"""
from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from specadmin.specs import lights
from specadmin.specs.model import Entity, Field
from specadmin.specs.paths import ResolvedPath, resolve
from specadmin.specs.physical import BASE_USER_NAMES, ROW_VERSION, versioned
from specadmin.specs.multi_keys import SEPARATOR, decode as decode_keys, is_multi_dict

from specadmin.runtime.data import where
from specadmin.runtime.data.computed import field_sql
from specadmin.runtime.data.paths import joined_column

if TYPE_CHECKING:
    from specadmin.runtime.app.context import AppContext

HIDDEN_USER_COLUMNS = BASE_USER_NAMES - {"username", "active", "superuser"}
_AS_IS = (str, int, float, bool, type(None))  # values JSON takes as they are (json_value leaves them)
_GEO, _MULTI_DICT, _TRUTH, _PLAIN = "geo", "multi_dict", "truth", "plain"  # how `convert` reads a field
_ROW_LABEL, _EMPTY_LABEL = object(), object()  # a label read from the row; only the empty label


def json_value(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S")
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    return value


ShapeKey = tuple  # (frozenset of visible fields or None, with_version)


def shape_key(visible: set[str] | None, with_version: bool) -> ShapeKey:
    """What a RowShape of one entity depends on, besides the spec."""
    return (None if visible is None else frozenset(visible), with_version)


class RowShape:
    """The select list and output conversion for one entity and a set of visible fields. It depends on
    the spec and `key` alone, and is not changed once built: EntityService keeps one per key."""

    def __init__(self, ctx: "AppContext", entity: Entity, visible: set[str] | None, with_version: bool = False):
        self.key = shape_key(visible, with_version)
        self.ctx = ctx
        self.entity = entity
        self.table = ctx.table(entity.name)
        self.visible = visible
        self._columns: list = [self.table._meta.primary_key]
        self.computed: list[str] = []  # computed fields: their SQL is built for each query (the clock moves)
        self.version = with_version and versioned(entity)
        if self.version:
            self._columns.append(getattr(self.table, ROW_VERSION))
        self.fields: list[Field] = []
        self.post_lookups: list[tuple[Field, Field, ResolvedPath]] = []  # (lookup field, key-ref hop, rest of path)
        self._finals: dict[str, Field] = {}  # lookup field name -> the field it shows
        self.multi: list[Field] = []
        self.soft: list[Field] = []  # refs stored by business key: labels read after the rows (no foreign key)
        self.lit: list[Field] = []  # deadline fields with lights
        self._conversions: list[tuple] | None = None  # what convert does per field (_plan), worked out once
        for f in entity.fields:
            if visible is not None and f.name not in visible:
                continue
            if entity.auth_user and f.name in HIDDEN_USER_COLUMNS:
                continue
            self._add(f)

    @property
    def columns(self) -> list:
        """What a read selects: the stored columns and joins, and each computed field's SQL as of now."""
        if not self.computed:
            return self._columns
        return self._columns + [field_sql(self.ctx, self.entity, n, self.table).as_alias(n) for n in self.computed]

    def _display_column(self, target_entity: str, base) -> Any:
        target = self.ctx.app.entity(target_entity)
        return getattr(base, target.display)

    def _add(self, f: Field) -> None:
        t = self.table
        if f.type == "geo":
            self._columns += [getattr(t, f"{f.name}_lng"), getattr(t, f"{f.name}_lat")]
        elif f.type == "multi_ref":
            self.multi.append(f)
        elif f.type == "lookup":
            self._add_lookup(f)
            return
        elif f.type == "computed":
            self.computed.append(f.name)
        elif f.stored:
            self._columns.append(getattr(t, f.name))
            if f.lights:
                self.lit.append(f)
                self._columns += [getattr(t, n).as_alias(f"_light_{n}")
                                 for n in (lights.warn_field(f.name), *lights.done_values(f.lights))]
            if f.type == "ref" and not f.key:
                self._columns.append(self._display_column(f.to, getattr(t, f.name)).as_alias(f"{f.name}_label"))
            elif f.type == "ref":
                self.soft.append(f)
        self.fields.append(f)

    def _add_lookup(self, f: Field) -> None:
        path = resolve(self.ctx.app, self.entity, f.path)
        for i, hop in enumerate(path.hops):
            if hop.field.key:  # a ref by business key is no foreign key: the rest is looked up after the read
                rest = resolve(self.ctx.app, hop.target, ".".join(path.names[i + 1:]))
                self.post_lookups.append((f, hop.field, rest))
                self.fields.append(f)
                return
        column = joined_column(self.table, path)
        final = path.field
        self._columns.append(column.as_alias(f.name))
        if final.type == "ref" and not final.key:
            self._columns.append(self._display_column(final.to, column).as_alias(f"{f.name}_label"))
        self.fields.append(f)

    def final_field(self, f: Field) -> Field:
        if f.type != "lookup":
            return f
        final = self._finals.get(f.name)
        if final is None:
            final = self._finals[f.name] = resolve(self.ctx.app, self.entity, f.path).field
        return final

    def sensitive_names(self) -> list[str]:
        """The fields of this shape whose values are sensitive (masked unless clear view)."""
        return [f.name for f in self.fields if self.final_field(f).sensitive and f.type != "multi_ref"]

    def _plan(self) -> list[tuple]:
        """Per field, what `convert` does with its value, worked out once from the spec:
        (field, name, kind, sensitive kind or None, label source, empty label, whether it has keys)."""
        if self._conversions is None:
            plan = []
            for f in self.fields:
                final = self.final_field(f)
                if f.type == "geo":
                    kind = _GEO
                elif is_multi_dict(final):
                    kind = _MULTI_DICT
                elif f.type == "computed" and f.value_type == "boolean":
                    kind = _TRUTH
                else:
                    kind = _PLAIN
                sensitive = final.sensitive if final.sensitive and f.type != "multi_ref" else None
                if final.type == "dict":
                    label = final.dict
                elif final.codes:  # a name the spec declares (specs/codes.py): shown by its label
                    label = final.codes
                elif final.type == "ref" or f.type == "multi_ref":
                    label = _ROW_LABEL
                elif f.type == "lookup" and f.empty_label:
                    label = _EMPTY_LABEL
                else:
                    label = None
                plan.append((f, f.name, kind, sensitive, label, f.empty_label, f"{f.name}_label", f"{f.name}_keys"))
            self._conversions = plan
        return self._conversions

    async def convert(self, rows: list[dict], clear_view: bool) -> list[dict]:
        await self._fill_post_lookups(rows)
        await self._fill_multi(rows)
        await self._fill_soft_labels(rows)
        plan = self._plan()
        sensitive = self.sensitive_names()
        plain = self.ctx.sensitive.decode_many(r.get(n) for r in rows for n in sensitive) if sensitive else {}
        dict_label, masked = self.ctx.dict_label, self.ctx.sensitive.masked
        out = []
        for row in rows:
            item: dict[str, Any] = {"id": row["id"]}
            if self.version:
                item[ROW_VERSION] = row[ROW_VERSION]
            for f, name, kind, secret, label, empty, label_key, keys_key in plan:
                if kind is _GEO:
                    lng, lat = row.get(f"{name}_lng"), row.get(f"{name}_lat")
                    item[name] = None if lng is None else {"lng": lng, "lat": lat}
                    continue
                value = row.get(name)
                if kind is _TRUTH and value is not None:
                    value = bool(value)  # SQLite gives a condition's truth as 0 or 1
                if secret is not None:
                    value = plain.get(value) if value is not None else None
                    if not clear_view:
                        value = masked(value, secret)
                if kind is _MULTI_DICT:  # stored `,a,b,`: the keys, and their labels joined with 、
                    keys = decode_keys(value)
                    item[name] = keys
                    item[label_key] = SEPARATOR.join(str(dict_label(label, k)) for k in keys) or None
                    continue
                item[name] = value if type(value) in _AS_IS else json_value(value)
                if label is None:
                    continue
                if label is _ROW_LABEL:
                    shown = row.get(label_key)
                    if value is None and empty:
                        shown = empty
                    item[label_key] = shown
                    if keys_key in row:
                        item[keys_key] = row[keys_key]
                elif label is _EMPTY_LABEL:
                    if value is None:
                        item[label_key] = empty
                else:
                    item[label_key] = dict_label(label, value)
            if self.lit:
                self._add_lights(row, item)
            out.append(item)
        return out

    def _add_lights(self, row: dict, item: dict) -> None:
        now = where.now()
        for f in self.lit:
            done = {n: row.get(f"_light_{n}") for n in lights.done_values(f.lights)}
            color = None if lights.is_done(done, f.lights) else lights.light_of(
                row.get(f.name), row.get(f"_light_{lights.warn_field(f.name)}"), now)
            item[lights.light_key(f.name)] = color
            item[f"{lights.light_key(f.name)}_label"] = lights.LABELS.get(color)

    async def _fill_post_lookups(self, rows: list[dict]) -> None:
        for f, hop, rest in self.post_lookups:
            keys = sorted({r[hop.name] for r in rows if r.get(hop.name) is not None})
            target = self.ctx.table(hop.to)
            found: dict[Any, dict] = {}
            if keys:
                column = joined_column(target, rest)
                final = rest.field
                select = [getattr(target, hop.key), column.as_alias("value")]
                if final.type == "ref" and not final.key:
                    select.append(self._display_column(final.to, column).as_alias("label"))
                for r in await target.select(*select).where(getattr(target, hop.key).is_in(keys)):
                    found[r[hop.key]] = r
            for r in rows:
                hit = found.get(r.get(hop.name))
                r[f.name] = hit["value"] if hit else None
                if hit and "label" in hit:
                    r[f"{f.name}_label"] = hit["label"]

    async def _fill_soft_labels(self, rows: list[dict]) -> None:
        """`<ref>_label` of refs stored by business key: the target's display, one query per field
        and page (a key naming no row yet keeps a null label)."""
        for f in self.soft:
            keys = sorted({r[f.name] for r in rows if r.get(f.name) is not None}, key=str)
            found: dict[Any, Any] = {}
            if keys:
                target = self.ctx.table(f.to)
                key = getattr(target, f.key)
                display = self._display_column(f.to, target).as_alias("label")
                for r in await target.select(key.as_alias("key"), display).where(key.is_in(keys)):
                    found[r["key"]] = r["label"]
            for r in rows:
                r[f"{f.name}_label"] = found.get(r.get(f.name))

    async def _fill_multi(self, rows: list[dict]) -> None:
        for f in self.multi:
            join = self.ctx.join_table(self.entity.name, f.name)
            ids = [r["id"] for r in rows]
            by_owner: dict[int, list[tuple[int, str]]] = {}
            if ids:
                label_col = self._display_column(f.to, join.target).as_alias("label")
                # a multi_ref named by a business key (`by:`): the keys too, as imports take them
                select = [join.owner, join.target, label_col] + (
                    [getattr(join.target, f.by).as_alias("key")] if f.by else [])
                for r in await join.select(*select).where(join.owner.is_in(ids)).order_by(join.target):
                    by_owner.setdefault(r["owner"], []).append((r["target"], r["label"], r.get("key")))
            for r in rows:
                pairs = by_owner.get(r["id"], [])
                r[f.name] = [p[0] for p in pairs]
                r[f"{f.name}_label"] = "，".join(str(p[1]) for p in pairs)
                if f.by:
                    r[f"{f.name}_keys"] = SEPARATOR.join(str(p[2]) for p in pairs) or None
