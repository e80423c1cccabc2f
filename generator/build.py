"""Load an app directory into the immutable model, or raise SpecInvalid with every error."""
from __future__ import annotations

import difflib
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from specadmin.specs import aggregates, computed, model as m
from specadmin.specs import lights as lights_spec
from specadmin.specs.paths import RawCatalog
from specadmin.specs.unmask import UNMASK, offers_unmask
from specadmin.generator.errors import SpecError, SpecInvalid
from specadmin.generator.loader import Document, load_yaml
from specadmin.generator.schema_check import validate_shape
from specadmin.generator.semantics import check_semantics
from specadmin.runtime.plugin import PluginSet, Section, SpecView, installed

PACKAGE_ROOT = Path(__file__).resolve().parent.parent  # the specadmin package (repository root)

@dataclass
class Located:
    """A raw spec element and where it was written."""

    module: str
    name: str
    raw: Any
    doc: Document
    path: tuple

    def line(self, *sub) -> int:
        return self.doc.line(self.path + tuple(sub))


APP_SECTION = "app.yaml"  # the "module" of a plugin's app.yaml key in `App.sections`


@dataclass
class Registry:
    app: Located
    entities: dict[str, Located] = field(default_factory=dict)
    screens: dict[str, Located] = field(default_factory=dict)
    roles: dict[str, Located] = field(default_factory=dict)
    dictionaries: dict[str, Located] = field(default_factory=dict)
    rules: dict[str, Located] = field(default_factory=dict)
    jobs: dict[str, Located] = field(default_factory=dict)
    notifications: dict[str, Located] = field(default_factory=dict)
    feeds: dict[str, Located] = field(default_factory=dict)
    plugins: PluginSet | None = None
    sections: dict[str, list[Located]] = field(default_factory=dict)  # plugin keys of module files


_SECTIONS = (("entities", "SA020", "entity"), ("screens", "SA021", "screen"),
             ("roles", "SA022", "role"), ("dictionaries", "SA023", "dictionary"),
             ("rules", "SA024", "rule"), ("jobs", "SA025", "job"), ("notifications", "SA026", "notification"),
             ("feeds", "SA027", "feed"))


def _register(reg: Registry, module: str, doc: Document, errors: list[SpecError]) -> None:
    for section, code, noun in _SECTIONS:
        table: dict[str, Located] = getattr(reg, section)
        for name, raw in (doc.data.get(section) or {}).items():
            here = Located(module, name, raw, doc, (section, name))
            if name in table:
                first = table[name]
                errors.append(SpecError(doc.file, here.line(), code,
                                        f"{noun} '{name}' is already defined in {first.doc.file}:{first.line()}"))
                continue
            table[name] = here


def _display_name(path: Path, root: Path) -> str:
    try:
        return str(path.relative_to(root.parent))
    except ValueError:
        return str(path)


def _plugins(app_doc: Document, errors: list[SpecError]) -> PluginSet | None:
    """Built-in plugins plus the ones app.yaml lists; an unknown name is an error at its line."""
    listed = app_doc.data.get("plugins") or []
    if not isinstance(listed, list):
        return None  # the shape check reports it
    available = installed()
    known = []
    for i, name in enumerate(listed):
        if name in available:
            known.append(name)
            continue
        hint = difflib.get_close_matches(str(name), list(available), n=1)
        usable = ", ".join(sorted(n for n, p in available.items() if not p.builtin)) or "none"
        errors.append(SpecError(app_doc.file, app_doc.line(("plugins", i)), "SA004",
                                f"plugin '{name}' is not installed" + (f"; did you mean '{hint[0]}'?" if hint
                                                                        else f" (installed: {usable})")))
    return PluginSet.of(known)


def _plugin_modules(plugins: PluginSet) -> list[tuple[str, Path, str]]:
    """(module name, file, name shown in errors) of every YAML module the plugins ship, in plugin order."""
    out = []
    for plugin in plugins:
        for path in plugin.modules:
            path = Path(path).resolve()
            shown = _display_name(path, PACKAGE_ROOT / "x") if path.is_relative_to(PACKAGE_ROOT) else str(path)
            out.append((path.stem, path, shown))
    return out


def load_registry(app_dir: Path) -> tuple[Registry | None, list[SpecError]]:
    app_dir = Path(app_dir).resolve()
    errors: list[SpecError] = []
    app_doc, errs = load_yaml(app_dir / "app.yaml", _display_name(app_dir / "app.yaml", app_dir))
    errors += errs
    if app_doc is None:
        return None, errors
    before = len(errors)
    plugins = _plugins(app_doc, errors) if isinstance(app_doc.data, dict) else None
    shape = validate_shape(app_doc, "app.schema.json", plugins.app_keys() if plugins else None)
    errors += shape
    if shape or plugins is None or len(errors) > before:  # module keys depend on the plugins in use
        return None, errors
    reg = Registry(app=Located("app", app_doc.data["app"], app_doc.data, app_doc, ()), plugins=plugins)
    for key in plugins.app_keys():  # a plugin's app.yaml key: `app.section(key)["app.yaml"]`
        if key in app_doc.data:
            reg.sections.setdefault(key, []).append(Located(APP_SECTION, key, app_doc.data[key], app_doc, ()))
    module_keys = {k: schema for k, (_, schema) in plugins.module_keys().items()}
    sources = [(name, path, shown, None) for name, path, shown in _plugin_modules(plugins)]
    for i, name in enumerate(app_doc.data["modules"]):
        path = app_dir / "modules" / f"{name}.yaml"
        sources.append((name, path, _display_name(path, app_dir), app_doc.line(("modules", i))))
    for module, path, shown, listed_at in sources:
        if listed_at and not path.exists():
            errors.append(SpecError(app_doc.file, listed_at, "SA003", f"module '{module}' has no file {shown}"))
            continue
        doc, errs = load_yaml(path, shown)
        errors += errs
        if doc is None:
            continue
        if not isinstance(doc.data, dict):
            errors.append(SpecError(shown, 1, "SA011", "a module file must be a mapping"))
            continue
        shape = validate_shape(doc, "module.schema.json", module_keys, plugins.scope_modes())
        errors += shape
        if not shape:
            _register(reg, module, doc, errors)
            for key in module_keys:
                if key in doc.data:
                    reg.sections.setdefault(key, []).append(Located(module, key, doc.data[key], doc, ()))
    return reg, errors


def _spec_view(reg: Registry, app: m.App) -> SpecView:
    sections = {key: [Section(key, loc.module, loc.doc.file, loc.raw, loc.doc.line) for loc in locs]
                for key, locs in reg.sections.items()}
    return SpecView(app, sections, reg.app.doc.file, reg.app.doc.line)


def check_plugins(reg: Registry, app: m.App) -> list[SpecError]:
    """Every plugin check, each problem reported with the check's own code."""
    view = _spec_view(reg, app)
    errors = []
    for plugin in reg.plugins:
        for check in plugin.checks:
            for problem in check.function(view) or ():
                errors.append(SpecError(problem.file, problem.line, check.code, problem.message))
    return errors


def load_app(app_dir: Path) -> m.App:
    """The validated model of the app in `app_dir`; raises SpecInvalid listing every error."""
    reg, errors = load_registry(Path(app_dir))
    if reg is not None and not errors:
        errors += check_semantics(reg)
    if errors:
        raise SpecInvalid(errors)
    app = _to_model(reg)
    errors = check_plugins(reg, app)
    if errors:
        raise SpecInvalid(errors)
    return app


def _scope(raw: dict | None) -> m.Scope | None:
    if raw is None:
        return None
    through = raw.get("through")
    return m.Scope(mode=raw["mode"], field=raw.get("field"), user_attr=raw.get("user_attr"),
                   through=m.Through(through["entity"], through["ref"], through.get("field", "org")) if through else None,
                   and_sub=raw.get("and_sub", False))


def _grant_scopes(raw: dict | list | None) -> dict:
    """A grant's `scope:`, one mapping or a list of them (their union)."""
    if isinstance(raw, list):
        scopes = tuple(_scope(r) for r in raw)
        return {"scope": scopes[0] if scopes else None, "scopes": scopes}
    return {"scope": _scope(raw)}


def _field(name: str, raw: dict) -> m.Field:
    if raw.get("sensitive") is True:  # a file field's `sensitive: true`: files encrypted, names masked as other
        raw = {**raw, "sensitive": "other"}
    return m.Field(name=name, **{k: m._freeze(v) for k, v in raw.items()})


def _entity(loc: Located) -> m.Entity:
    raw = loc.raw
    fields = tuple(_field(n, f) for n, f in raw["fields"].items())
    fields += tuple(m.Field(name=lights_spec.warn_field(f.name), type="datetime", label=f"{f.label}预警时间",
                            readonly=True) for f in fields if f.lights)  # stored beside the deadline
    display = raw.get("display") or next((f.name for f in fields if f.type == "string"), "id")
    return m.Entity(
        name=loc.name, label=raw["label"], table=raw.get("table", loc.name), fields=fields,
        display=display, module=loc.module, tree=raw.get("tree"), order_by=raw.get("order_by", "-id"),
        auth_user=raw.get("auth_user", False), append_only=raw.get("append_only", False),
        checks=tuple(m.Check(c["expr"], c["message"]) for c in raw.get("checks", [])),
        unique=tuple(tuple(names) for names in raw.get("unique", [])), renamed_from=raw.get("renamed_from"),
    )


def _screen(loc: Located, entity: m.Entity, unmaskable: bool = False) -> m.Screen:
    raw = loc.raw
    list_cols = tuple(raw.get("list") or [f.name for f in entity.fields if f.type != "text"][:8])
    detail = tuple(raw.get("detail") or [f.name for f in entity.fields])
    actions = tuple(raw.get("actions", []))
    if "form" in raw:
        form = tuple(raw["form"])
    elif {"create", "update"} & set(actions):
        form = tuple(n for n in detail if "." not in n and entity.has_field(n) and entity.field(n).editable)
    else:
        form = ()
    stat = None
    if "stat" in raw:
        s = raw["stat"]
        stat = m.Stat(
            group_by=tuple(s["group_by"]),
            measures=tuple(m.Measure(name=n, agg="expr" if "expr" in v else "ratio" if "ratio" in v else v["agg"],
                                     label=v["label"],
                                     field=v.get("field"), expr=v.get("expr"), coalesce=tuple(v.get("coalesce", [])),
                                     source=v.get("from"), match=tuple((v.get("match") or {}).items()),
                                     where=m._freeze(v.get("where")) if v.get("from") else _where(entity, v.get("where")),
                                     ratio=tuple(v.get("ratio", [])), percent=v.get("percent", False),
                                     places=v.get("places"))
                           for n, v in s["measures"].items()),
            columns=tuple(s.get("columns", [])), period=s.get("period"), default_days=s.get("default_days", 7),
            sort=s.get("sort"), api=s.get("api", False),
            chart=_chart(s["chart"]) if "chart" in s else None,
            compare=tuple(s.get("compare", [])), compare_measures=tuple(s.get("compare_measures", [])),
            drill=s.get("drill"),
        )
    return m.Screen(
        name=loc.name, entity=raw["entity"], label=raw["label"], module=loc.module, menu=raw.get("menu"),
        order=raw.get("order", 0),
        tabs=tuple(m.Tab(n, t["label"], _where(entity, t["where"])) for n, t in (raw.get("tabs") or {}).items()),
        list=list_cols, detail=detail, form=form, filters=tuple(raw.get("filters", [])),
        search=tuple(raw.get("search", [])), sort=raw.get("sort"), page_size=raw.get("page_size", 20),
        actions=actions,
        custom_actions=tuple(
            m.CustomAction(name=n, label=a["label"], set=m._freeze(a.get("set", {})), when=_where(entity, a.get("when")),
                           batch=a.get("batch", False), confirm=a.get("confirm"), handler=a.get("handler"),
                           params=tuple(_field(p, f) for p, f in (a.get("params") or {}).items()),
                           result=m._freeze(a["result"]) if a.get("result") else None)
            for n, a in (raw.get("custom_actions") or {}).items()
        ),
        scope=_scope(raw.get("scope")) or m.Scope(), stat=stat,
        import_spec=_import_spec(raw, entity, list_cols), export_columns=tuple(raw.get("export_columns", [])),
        delete_by_range=tuple(raw.get("delete_by_range", [])), bulk_query=_bulk_query(raw.get("bulk_query")),
        map=m.MapView(field=raw["map"]["field"], label=raw["map"]["label"]) if raw.get("map") else None,
        related=tuple(_related(n, r) for n, r in (raw.get("related") or {}).items()),
        lookup=m.Lookup(keys=tuple(raw["lookup"]["keys"]), scope=_scope(raw["lookup"].get("scope")) or m.Scope())
        if "lookup" in raw else None,
        unmaskable=unmaskable, levels=raw.get("levels"), where=_where(entity, raw.get("where")),
    )


def _where(entity: m.Entity, clause: Any) -> Any:
    """A where clause of the entity, its `<field>_light` keys in terms of stored columns (specs/lights.py)."""
    return m._freeze(lights_spec.expand(clause, {f.name: f.lights for f in entity.fields if f.lights}))


def _related(name: str, spec: dict) -> m.Related:
    chart = spec.get("chart")
    return m.Related(name=name, label=spec["label"], entity=spec["entity"], via=spec["via"],
                     columns=tuple(spec["columns"]), sort=spec.get("sort"),
                     chart=_chart(chart) if chart is not None else None)


def _chart(spec: dict) -> m.Chart:
    """`chart:` of a statistic or a related list; a line given as a bare string is its label."""
    lines = tuple(m.ChartLine(field=f, label=v if isinstance(v, str) else v["label"],
                              when=None if isinstance(v, str) else m._freeze(v.get("when")))
                  for f, v in (spec.get("lines") or {}).items())
    return m.Chart(type=spec.get("type", "bar"), x=spec.get("x"), series=tuple(spec.get("series", [])),
                   top=spec.get("top"), lines=lines)


def _bulk_query(spec: dict | None) -> m.BulkQuery | None:
    """Defaults: the items' ref `batch`, the same key name in the source, upload columns = [key]."""
    if spec is None:
        return None
    return m.BulkQuery(
        items=spec["items"], batch_field=spec.get("batch_field", "batch"), key=spec["key"], source=spec["source"],
        source_key=spec.get("source_key", spec["key"]), newest=spec["newest"], items_screen=spec.get("items_screen"),
        upload=tuple(spec.get("upload") or [spec["key"]]), copy=m._freeze(dict(spec.get("copy") or {})),
        inherit=tuple(spec.get("inherit", [])), recent_days=spec.get("recent_days", 3),
        recent_count=spec.get("recent_count"))


def _import_spec(raw: dict, entity: m.Entity, list_cols: tuple[str, ...]) -> m.ImportSpec | None:
    """Defaults: the list columns a user can type (stored, not system-set, not computed)."""
    spec = raw.get("import")
    if spec is None and "import" not in raw.get("actions", []):
        return None
    spec = spec or {}
    columns = spec.get("columns") or [n for n in list_cols if "." not in n and entity.has_field(n)
                                      and entity.field(n).editable]
    modes = tuple(spec.get("modes", ()))
    return m.ImportSpec(enabled=spec.get("enabled", True), columns=tuple(columns), key=tuple(spec.get("key", [])),
                        mode=spec.get("mode") or (modes[0] if modes else "all_or_nothing"), modes=modes,
                        ref_keys=m._freeze(spec.get("ref_keys")))


def _role(loc: Located, screens: dict[str, m.Screen]) -> m.Role:
    grants = []
    for screen_name, g in (loc.raw.get("grants") or {}).items():
        screen = screens[screen_name]
        if g == "all":  # every offered action but clear view, which is always granted by name
            grants.append(m.Grant(screen=screen_name, actions=tuple(a for a in screen.offered_actions if a != UNMASK)))
        else:
            actions = tuple(g.get("actions", ("list", "read")))
            if g.get("clear_view") and screen.unmaskable and UNMASK not in actions:
                actions += (UNMASK,)  # clear_view: true is the synonym of `unmask` in actions
            grants.append(m.Grant(
                screen=screen_name, actions=actions,
                fields=tuple(g["fields"]) if "fields" in g else None, clear_view=g.get("clear_view", False),
                **_grant_scopes(g.get("scope")),
            ))
    return m.Role(name=loc.name, label=loc.raw["label"], module=loc.module,
                  superuser=loc.raw.get("superuser", False), grants=tuple(grants))


def _with_results(reg: Registry, entity: m.Entity) -> m.Entity:
    """A computed field's result type, from its checked expression (specs/computed.py)."""
    if not any(f.type == "computed" for f in entity.fields):
        return entity
    catalog = RawCatalog(lambda e: {**reg.entities[e].raw["fields"], "id": {"type": "integer", "label": "ID"}},
                         reg.entities)
    typed = computed.field_typer(catalog, entity.name)
    fields = []
    for f in entity.fields:
        if f.type == "computed" and f.aggregate is not None:
            agg = f.aggregate
            child = reg.entities[agg["of"]].raw["fields"]
            f = replace(f, result=aggregates.result_type(agg["agg"], child.get(agg.get("field"), {}).get("type")))
        elif f.type == "computed":
            tree = computed.parse(f.expr)  # a band's labels are its filter's drop-down
            f = replace(f, result=computed.type_of(tree, typed), choices=computed.labels_of(tree, f.labels))
        fields.append(f)
    fields = tuple(fields)
    return replace(entity, fields=fields)


def _to_model(reg: Registry) -> m.App:
    raw = reg.app.raw
    entities = {n: _with_results(reg, _entity(loc)) for n, loc in reg.entities.items()}
    screens = {n: _screen(loc, entities[loc.raw["entity"]], _unmaskable(reg, loc.raw)) for n, loc in reg.screens.items()}
    return m.App(
        name=raw["app"], label=raw["label"], short_label=raw.get("short_label", raw["label"]),
        theme=raw.get("theme", "default"),
        org_levels=tuple(raw.get("org_levels", ["city", "district", "street", "community", "grid"])),
        menus=tuple(m.MenuGroup(g["name"], g["label"]) for g in raw.get("menus", [])),
        entities=tuple(entities.values()),
        screens=tuple(screens.values()),
        roles=tuple(_role(loc, screens) for loc in reg.roles.values()),
        dictionaries=tuple(m.Dictionary(n, loc.raw["label"], tuple(loc.raw["items"].items()))
                           for n, loc in reg.dictionaries.items()),
        security=m._freeze(dict(raw.get("security", {}))),
        rules=tuple(_rule(loc) for loc in reg.rules.values()),
        jobs=tuple(m.Job(name=loc.name, label=loc.raw["label"], module=loc.module, schedule=loc.raw["schedule"],
                         rule=loc.raw.get("rule"), function=loc.raw.get("function"),
                         enabled=loc.raw.get("enabled", True), notification=loc.raw.get("notification"),
                         args=m._freeze(dict(loc.raw.get("args") or {})))
                     for loc in reg.jobs.values()),
        notifications=tuple(m.Notification(
            name=loc.name, label=loc.raw.get("label", loc.name), module=loc.module, channel=loc.raw["channel"],
            entity=loc.raw["when"]["entity"], where=_where(entities[loc.raw["when"]["entity"]], loc.raw["when"].get("where")),
            group_by=loc.raw.get("group_by"), to=loc.raw.get("to"), text=loc.raw["text"],
            once_per=loc.raw.get("once_per", "day"), to_users=loc.raw.get("to_users"),
            roles=tuple(loc.raw.get("roles", ())), title=loc.raw.get("title"), link=loc.raw.get("link"),
            **_trigger(loc.raw.get("trigger")))
            for loc in reg.notifications.values()),
        feeds=tuple(_feed(loc, entities) for loc in reg.feeds.values()),
        feed_targets=m._freeze(dict(raw.get("feed_targets", {}))),
        sms=m._freeze(dict(raw.get("sms", {}))),
        imports=m._freeze(dict(raw.get("imports", {}))),
        files=m._freeze(dict(raw.get("files", {}))),
        plugins=tuple(raw.get("plugins", ())),
        sections=m._freeze({key: {loc.module: loc.raw for loc in locs} for key, locs in reg.sections.items()}),
    )


def _unmaskable(reg: Registry, screen: dict) -> bool:
    """Row screens of an entity that shows a sensitive value offer `unmask` (specs/unmask.py)."""
    def fields_of(name: str) -> dict[str, Any]:
        loc = reg.entities.get(name)
        return dict(loc.raw["fields"]) if loc else {}

    return offers_unmask(RawCatalog(fields_of, reg.entities), screen, fields_of(screen["entity"]))


def _feed(loc: Located, entities: dict[str, m.Entity]) -> m.Feed:
    """Inbound fields default to the entity's editable fields but files (named to be carried); outbound
    to every stored field."""
    raw, entity = loc.raw, entities[loc.raw["entity"]]
    key = raw.get("key") or ()
    key = (key,) if isinstance(key, str) else tuple(key)
    if raw["kind"] == "inbound":
        default = [f.name for f in entity.fields if f.editable and f.type not in ("multi_ref", "file")]
    else:
        default = [f.name for f in entity.fields if f.stored]
    return m.Feed(name=loc.name, kind=raw["kind"], label=raw.get("label", loc.name), module=loc.module,
                  entity=entity.name, fields=tuple(raw.get("fields") or default), key=key,
                  ops=tuple(raw.get("ops", ())), screen=raw.get("screen"), caller_role=raw.get("caller_role"),
                  ref_keys=m._freeze(raw.get("ref_keys")), batch=raw.get("batch", "all_or_nothing"),
                  events=tuple(raw.get("events", ())), targets=tuple(raw.get("targets", ())),
                  where=m._freeze(raw.get("where")), message_type=raw.get("message_type"),
                  map=m._freeze(raw.get("map")), action=raw.get("action"))


def _trigger(on) -> dict:
    """A notification's `trigger:` as model fields: create/update, {change: FIELD(S)} or {action: NAME}."""
    if on is None or isinstance(on, str):
        return {"trigger": on}
    if "change" in on:
        change = on["change"]
        return {"trigger": "change", "fields": tuple([change] if isinstance(change, str) else change)}
    return {"trigger": "action", "action": on["action"]}


def _rule(loc: Located) -> m.Rule:
    raw = loc.raw
    measure = raw.get("measure", "count")
    return m.Rule(
        name=loc.name, kind=raw["kind"], label=raw.get("label", loc.name), module=loc.module,
        source=m._freeze(raw.get("source")), days=raw.get("days", 7),
        measure="count" if measure == "count" else "sum",
        measure_field=None if measure == "count" else measure["sum"], any_day=raw.get("any_day", False),
        bounds=m._freeze(raw.get("bounds")), target=m._freeze(raw.get("target")),
        reasons=m._freeze(raw.get("reasons")), creates=m._freeze(raw.get("creates")),
        function=raw.get("function"), closes=m._freeze(raw.get("closes")),
    )
