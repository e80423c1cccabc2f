"""Render the app model into the files of `generated/` (deterministic: same model, same bytes)."""
from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import jinja2

from specadmin.migrations.diff import plan_migration, snapshot_of
from specadmin.runtime.data.list_query import filter_params

from specadmin.specs import paths
from specadmin.specs.model import App, Entity, Field, Screen, without
from specadmin.specs.physical import ROW_VERSION, Column, PhysicalTable, class_name, physical_tables, renames

TEMPLATES = Path(__file__).resolve().parent / "templates"
HEADER_JSON_INDENT = 1


def _env() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(TEMPLATES)), keep_trailing_newline=True,
        extensions=["jinja2.ext.do"], undefined=jinja2.StrictUndefined, autoescape=False,
    )
    env.filters["py"] = _py_literal
    return env


def _py_literal(v: Any) -> str:
    """A one-line Python literal; dicts keep their key order."""
    if isinstance(v, dict):
        return "{" + ", ".join(f"{_py_literal(k)}: {_py_literal(x)}" for k, x in v.items()) + "}"
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(_py_literal(x) for x in v) + "]"
    if isinstance(v, str):
        return json.dumps(v, ensure_ascii=False)
    return repr(v)


# -- tables ---------------------------------------------------------------

def _literal(v: Any) -> str:
    if isinstance(v, str):
        return json.dumps(v, ensure_ascii=False)
    return repr(v)


def column_code(c: Column, table: PhysicalTable, emitted: list[str]) -> str:
    args = []
    if c.kind == "ForeignKey":
        if c.references == table.class_name:
            args.append('references="self"')
        elif c.references in emitted:
            args.append(f"references={c.references}")
        else:
            args.append(f'references=LazyTableReference("{c.references}", module_path=__name__)')
    for k, v in c.params:
        if k == "on_delete":
            args.append(f"on_delete=OnDelete.{v}")
        elif k == "digits":
            args.append(f"digits={tuple(v)!r}")
        else:
            args.append(f"{k}={_literal(v)}")
    if c.label:
        args.append(f"verbose_name={_literal(c.label)}")
    return f"{c.kind}({', '.join(args)})"


def _needs_lazy(tables, imported=()) -> bool:
    """True when some foreign key points at a table emitted later (a reference cycle)."""
    seen: set[str] = set(imported)
    for t in tables:
        for c in t.columns:
            if c.references and c.references != t.class_name and c.references not in seen:
                return True
        seen.add(t.class_name)
    return False


def _column_imports(tables) -> list[str]:
    kinds = {c.kind for t in tables for c in t.columns if not c.inherited}
    return sorted(kinds)


# -- api ------------------------------------------------------------------

# Field type -> the Python type of its create/update body field (a ref by business key is a str).
BODY_TYPES = {"string": "str", "text": "str", "file": "str", "dict": "str", "integer": "int", "decimal": "Decimal",
              "boolean": "bool", "date": "datetime.date", "datetime": "datetime.datetime", "ref": "int",
              "multi_ref": "list[int]", "geo": "GeoPoint"}


def body_fields(entity: Entity) -> list[dict]:
    """The fields a create or update may write, with their body types (sensitive ones are text)."""
    out = []
    for f in entity.fields:
        if not (f.editable or f.type == "multi_ref"):
            continue
        ftype = "str" if f.sensitive or (f.type == "ref" and f.key) else BODY_TYPES[f.type]
        if f.multi:  # several dictionary keys: a list, or text with commas (specs/multi_keys.py)
            ftype = "list[str] | str"
        out.append({"name": f.name, "type": ftype, "label": f.label})
    return out


def param_type(p: Field) -> str:
    """The body type of a custom action's parameter (several choices: a list, or text with commas;
    files: the ids of files uploaded for it, runtime/attachments)."""
    if p.type == "file":
        return "list[int] | int"
    if p.multi:
        return "list[str] | str"
    if p.type in ("password",) or p.sensitive:
        return "str"
    return BODY_TYPES[p.type]


def action_params(app: App, entity: Entity) -> list[dict]:
    """The custom actions of the entity's screens that declare parameters, with their typed fields.
    An action name that two screens declare with different parameters keeps the generic body."""
    found: dict[str, Any] = {}
    for screen in app.screens_of(entity.name):
        for a in screen.custom_actions:
            if a.params:
                found.setdefault(a.name, []).append(a)
    out = []
    for name, declared in found.items():
        if any(d.params != declared[0].params for d in declared[1:]):
            continue
        a = declared[0]
        fields = []
        for p in a.params:
            text = p.label + ("（必填）" if p.required else "") + (f"：{p.help}" if p.help else "")
            if p.type == "dict" and any(d.name == p.dict for d in app.dictionaries):
                items = "，".join(f"{k}={v}" for k, v in app.dictionary(p.dict).items)
                text += f"；可选 {items}"
            if p.default not in (None, ()):
                text += "；默认 " + (",".join(map(str, p.default)) if isinstance(p.default, tuple) else str(p.default))
            fields.append({"name": p.name, "type": param_type(p), "label": text})
        out.append({"name": name, "label": a.label, "class_name": f"{class_name(entity.name)}{class_name(name)}Params",
                    "fields": fields})
    return out


def api_context(app: App) -> dict:
    entities = []
    for e in app.entities:
        body = [] if e.append_only else body_fields(e)
        extra = [{"name": "password", "type": "str", "label": "密码"}] if e.auth_user and not e.append_only else []
        entities.append({"name": e.name, "label": e.label, "class_name": class_name(e.name),
                         "filter_params": filter_params(e, app.screens_of(e.name)), "writable": not e.append_only,
                         "body": body, "create_extra": extra, "actions": [] if e.append_only else action_params(app, e)})
    types = ({f["type"] for e in entities for f in e["body"]} | {p.type_name for e in entities for p in e["filter_params"]}
             | {f["type"] for e in entities for a in e["actions"] for f in a["fields"]})
    return {"entities": entities, "uses_dates": any(t.startswith("datetime.") for t in types),
            "uses_decimal": "Decimal" in types, "uses_geo": "GeoPoint" in types,
            "uses_actions": any(e["actions"] for e in entities)}


# -- screens --------------------------------------------------------------

def resolve_path(app: App, entity: Entity, path: str, lookups: bool = False) -> Field:
    """The field at the end of a path through refs (specs/paths.py); with lookups, what a lookup shows."""
    return paths.resolve(app, entity, path, lookups=lookups).field


def column_def(app: App, entity: Entity, path: str) -> dict:
    own = resolve_path(app, entity, path)
    final = resolve_path(app, entity, path, lookups=True)
    d = {"name": path, "label": own.label, "type": final.value_type if isinstance(final, Field) else final.type}
    if final.type == "computed":
        d["computed"] = True
    for key in ("dict", "codes", "to", "sensitive", "empty_label", "required", "min", "max", "max_length", "help",
                "pattern"):
        value = getattr(own, key, None) or getattr(final, key, None)
        if value not in (None, False):
            d[key] = value
    if own.choices or final.choices:
        d["choices"] = list(own.choices or final.choices)
    if final.type == "ref" and final.key:
        d["key"] = final.key
    if final.type == "multi_ref" or getattr(final, "multi", False):  # several records, or several dict keys
        d["multi"] = True
    return d


def screen_context(app: App, s: Screen) -> dict:
    from specadmin.specs.stat_names import DIM_LABELS, compare_columns, dim_key, dim_parts

    e = app.entity(s.entity)
    list_cols = s.list
    if s.stat:
        list_cols = tuple(dim_parts(g)[1] for g in s.stat.group_by) + s.stat.columns
    listed = [column_def(app, e, p) for p in list_cols]
    if s.stat:
        for g, col in zip(s.stat.group_by, listed):
            if dim_parts(g)[0]:
                day = dim_key(g) == "day"
                col.update({"name": dim_key(g), "label": DIM_LABELS[dim_key(g)], "type": "date" if day else "string"})
        listed += [{"name": m.name, "label": m.label, "type": "decimal" if m.agg in ("avg", "ratio") else "integer"}
                   for m in s.stat.measures]
        if s.stat.compare:
            listed += compare_columns(s.stat)
    return {
        "name": s.name, "entity": s.entity, "label": s.label, "menu": s.menu, "order": s.order,
        "kind": "stat" if s.stat else "crud", "tabs": s.tabs,
        "list": listed, "detail": [column_def(app, e, p) for p in s.detail],
        "form": [column_def(app, e, p) for p in s.form],
        "filters": [column_def(app, e, p) for p in s.filters], "search": list(s.search),
        "actions": list(s.actions),
        "custom_actions": [{"name": a.name, "label": a.label, "batch": a.batch, "confirm": a.confirm}
                           for a in s.custom_actions],
    }


def menus_context(app: App) -> list[dict]:
    groups = [{"name": g.name, "label": g.label, "screens": []} for g in app.menus]
    if not any(g["name"] == "system" for g in groups):
        groups.append({"name": "system", "label": "系统管理", "screens": []})
    by_name = {g["name"]: g for g in groups}
    for s in sorted(app.screens, key=lambda s: (s.order, s.name)):
        by_name.get(s.menu or "system", by_name["system"])["screens"].append(s.name)
    return groups


# -- admin ----------------------------------------------------------------

def admin_context(app: App, tables: tuple[PhysicalTable, ...]) -> list[dict]:
    out = []
    module_labels = {}
    for e in app.entities:
        module_labels[e.name] = "系统管理" if e.module == "system" else e.label
    for t in tables:
        if not t.entity:
            continue
        entity = app.entity(t.entity)
        visible = [c.name for c in t.columns if not c.name.endswith("_bidx") and c.kind != "Secret"
                   and c.name not in ("created_by", "created_at", "updated_at", ROW_VERSION, "first_name", "last_name",
                                      "email", "last_login")][:10]
        filters = [f.name for f in entity.fields if f.type in ("dict", "ref", "boolean") and not f.key
                   and not f.sensitive and f.name in {c.name for c in t.columns}][:6]
        out.append({"class_name": t.class_name, "menu_group": "系统管理" if entity.module == "system" else app.short_label,
                    "visible": ["id"] + visible, "filters": filters})
    return out


# -- all files ------------------------------------------------------------

SYSTEM_PACKAGE = "specadmin.runtime.system.generated"


def _shipped_by(system: App | None, table: PhysicalTable) -> bool:
    """True for a table of the built-in modules (generated once, in runtime/system/generated)."""
    if system is None:
        return False
    names = {e.name for e in system.entities}
    return table.entity in names or bool(table.join_of and table.join_of[0] in names)


def render(app: App, existing: dict[str, str], system: App | None = None) -> dict[str, str]:
    """Every file of generated/, keyed by path relative to it.

    `existing` holds the migration files already generated, which are history and
    are kept byte for byte; a new migration is added when the schema changed. With `system`
    (the model of the built-in modules), their tables, controllers, screens and admin pages are
    imported from the system package instead of being generated again.
    """
    env = _env()
    everything = physical_tables(app)
    tables = tuple(t for t in everything if not _shipped_by(system, t))
    own_entities = {t.entity for t in tables if t.entity}
    own = dataclasses.replace(app, entities=tuple(e for e in app.entities if e.name in own_entities),
                              screens=tuple(s for s in app.screens if s.entity in own_entities))
    referenced = sorted({c.references for t in tables for c in t.columns if c.references}
                        - {t.class_name for t in tables})
    files: dict[str, str] = {}
    files["__init__.py"] = env.get_template("init.py.jinja").render(app=app, system=SYSTEM_PACKAGE if system else None)
    model = without(app, system) if system else app.to_dict()
    files["app_model.json"] = json.dumps(model, ensure_ascii=False, indent=HEADER_JSON_INDENT, sort_keys=False) + "\n"
    files["tables.py"] = env.get_template("tables.py.jinja").render(
        app=app, tables=tables, column_imports=_column_imports(tables), column_code=column_code,
        emitted=list(referenced), system=SYSTEM_PACKAGE if system else None, system_classes=referenced,
        needs_base_user=any(t.auth_user for t in tables), needs_lazy=_needs_lazy(tables, referenced),
        needs_on_delete=any(c.kind == "ForeignKey" for t in tables for c in t.columns))
    files["api.py"] = env.get_template("api.py.jinja").render(
        app=app, system=SYSTEM_PACKAGE if system else None, **api_context(own))
    # The app's own screens, also those over a built-in entity (Chongzhou's 组织机构信息接口 over org): the
    # system package ships only the built-in modules' screens, whose controllers serve both.
    shipped_screens = {s.name for s in system.screens} if system else set()
    screens = [s for s in app.screens if s.entity in own_entities or s.name not in shipped_screens]
    files["screens.py"] = env.get_template("screens.py.jinja").render(
        app=app, system=SYSTEM_PACKAGE if system else None, screens=[screen_context(app, s) for s in screens],
        menus=menus_context(app))
    files["admin.py"] = env.get_template("admin.py.jinja").render(
        app=app, system=SYSTEM_PACKAGE if system else None, tables=admin_context(app, tables))
    files["migrations/__init__.py"] = '"""Piccolo migrations of this app, generated by specadmin."""\n'
    external = {t.class_name: t.tablename for t in everything if t not in tables}
    files.update(_migrations(app, tables, _history(existing, system), env, external))
    return files


def _history(existing: dict[str, str], system: App | None) -> dict[str, str]:
    """The migration history to continue. One made before the built-in modules were generated on
    their own also created their tables: it starts anew (`specadmin migrate` adopts the tables)."""
    snapshot = existing.get("migrations/schema.json")
    if system is None or snapshot is None:
        return existing
    shipped = {t.tablename for t in physical_tables(system)}
    if not shipped & set(json.loads(snapshot)["tables"]):
        return existing
    return {k: v for k, v in existing.items() if not k.startswith("migrations/")}


def _migrations(app: App, tables, existing: dict[str, str], env, external: dict[str, str]) -> dict[str, str]:
    out = {k: v for k, v in existing.items() if k.startswith("migrations/m") and k.endswith(".py")}
    snapshot_key = "migrations/schema.json"
    old = json.loads(existing[snapshot_key]) if snapshot_key in existing else None
    new = snapshot_of(tables)
    plan = plan_migration(old, new, external, renames(app))
    if not plan.empty:
        number = len([k for k in out]) + 1
        migration_id = f"{number:04d}"
        description = "initial schema" if old is None else plan.description()
        name = "initial" if old is None else "auto"
        out[f"migrations/m{migration_id}_{name}.py"] = env.get_template("migration.py.jinja").render(
            app_name=app.name, migration_id=migration_id, description=description.replace('"', "'"),
            destructive=plan.destructive, ops=plan.ops, needs_on_delete=any("OnDelete." in op for op in plan.ops), new_indexes=plan.new_indexes,
            dropped_indexes=plan.dropped_indexes,
            new_unique=plan.new_unique, dropped_unique=plan.dropped_unique, checked_unique=plan.checked_unique,
            unique_imports=[name for name, used in (("create_unique_index", plan.new_unique),
                                                    ("drop_unique_index", plan.dropped_unique),
                                                    ("refuse_duplicates", plan.checked_unique)) if used],
            column_imports=sorted(plan.column_kinds | ({"Serial"} if plan.stubs else set())),
            stubs=[{"class_name": k, "tablename": v} for k, v in sorted(plan.stubs.items())])
    out[snapshot_key] = json.dumps(new, ensure_ascii=False, indent=1, sort_keys=True) + "\n"
    return out
