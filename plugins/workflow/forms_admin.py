"""Versioned JSON-Schema forms (module key `form_versions:`): an entity whose rows are versions of a form.

    form_versions:
      event_form: {schema: form_schema, version: form_version, group: [event_type], status: status,
                   published_at: published_at}

- Every save checks the `schema` text field: JSON, a JSON Schema (Draft 2020-12), an object (422 on the
  field with the reason).
- Handler `workflow.new_version` (复制 / 新版本): a new draft row copying the row's editable fields; a
  parameter named like a field (e.g. `event_type`, `name`) replaces its value; the copy takes version
  max+1 within its group, through the service's create (grant, scope, checks, operation log).
- Handler `workflow.publish_version` (发布): this row becomes `published` (and `published_at` now); the
  group's published row goes `offline` in the same transaction, so each group has one published version.
  The group's rows are locked first, so two publishes at once leave one published (PostgreSQL).
- 预览: `/workflow/forms/<screen>/<id>/preview` renders the stored schema as a form (titles, required marks,
  enum drop-downs, nested objects as groups); posting it checks the filled values (json_forms.validate_json).
"""
from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any, Iterator

from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError
from litestar import Request, get, post
from litestar.response import Template

from specadmin.plugins.workflow.json_forms import validate_json
from specadmin.runtime.data.values import Invalid
from specadmin.runtime.data.where import combine_and, now as clock_now
from specadmin.runtime.errors import Conflict, Denied, NotFound
from specadmin.runtime.pages.common import PAGE_ERRORS
from specadmin.runtime.plugin import Check
from specadmin.specs.physical import ROW_VERSION, versioned

KEY = "form_versions"
NAME = {"type": "string", "pattern": "^[A-Za-z_][A-Za-z0-9_]*$"}
SCHEMA = {"type": "object", "additionalProperties": {
    "type": "object", "additionalProperties": False, "required": ["schema", "version", "status"],
    "properties": {"schema": NAME, "version": NAME, "status": NAME, "published_at": NAME,
                   "group": {"type": "array", "items": NAME},
                   "draft": {"type": "string"}, "published": {"type": "string"}, "offline": {"type": "string"}}}}
PREVIEW_URL = "/workflow/forms/{screen}/{row_id}/preview"


@dataclass(frozen=True)
class FormVersions:
    entity: str
    schema: str
    version: str
    status: str
    group: tuple[str, ...] = ()
    published_at: str | None = None
    draft: str = "draft"
    published: str = "published"
    offline: str = "offline"


_DECLARED: dict[int, tuple[Any, dict[str, FormVersions]]] = {}


def declared(app: Any) -> dict[str, FormVersions]:
    """entity -> its `form_versions:` declaration (parsed once per app model: the save hook asks on every write)."""
    cached = _DECLARED.get(id(app))
    if cached is None or cached[0] is not app:
        out = {}
        for _, section in app.section(KEY).items():
            for entity, body in (section or {}).items():
                out[entity] = FormVersions(entity=entity, **{k: tuple(v) if k == "group" else v for k, v in body.items()})
        cached = _DECLARED[id(app)] = (app, out)
    return cached[1]


def _of(service: Any) -> FormVersions:
    decl = declared(service.ctx.app).get(service.entity.name)
    if decl is None:
        raise Conflict(f"“{service.entity.label}”没有声明表单版本（form_versions）")
    return decl


# -- the schema field, checked on every save ----------------------------------
def schema_problem(text: Any) -> str | None:
    """Why `text` is not a usable form definition, or None."""
    try:
        schema = json.loads(text) if isinstance(text, str) else text
    except ValueError as exc:
        return f"不是有效的 JSON（第 {exc.lineno} 行第 {exc.colno} 列）"
    if not isinstance(schema, Mapping):
        return "应为 JSON 对象（{\"type\": \"object\", \"properties\": {...}}）"
    try:
        Draft202012Validator.check_schema(schema)
    except SchemaError as exc:
        where = "/".join(str(p) for p in exc.absolute_path) or "根"
        return f"不是有效的 JSON Schema（{where}：{exc.message}）"
    return None


async def check_schema_field(event: Any) -> None:
    decl = declared(event.ctx.app).get(event.entity.name)
    if decl is None:
        return
    _refuse_changing_a_used_version(event, decl)
    if decl.schema not in (event.clean or {}):
        return
    value = event.clean[decl.schema]
    if value in (None, ""):
        return
    problem = schema_problem(value)
    if problem:
        raise Invalid({decl.schema: f"{event.entity.field(decl.schema).label}{problem}"})


def _refuse_changing_a_used_version(event: Any, decl: FormVersions) -> None:
    """A version once published is what events were launched and checked on: its definition, number
    and group stay as they were (status and dates still change); a change is a new version."""
    before = event.before
    if event.kind != "update" or not before or before.get(decl.status) == decl.draft:
        return
    changed = [n for n in (decl.schema, decl.version, *decl.group)
               if n in (event.clean or {}) and event.clean[n] != before.get(n)]
    if changed:
        raise Invalid({n: f"“{event.entity.field(n).label}”在已发布或已下线的版本中不能修改，请使用“新版本”"
                       for n in changed})


# -- handlers -------------------------------------------------------------------
def _group_condition(table: Any, decl: FormVersions, values: Mapping) -> Any:
    parts = []
    for name in decl.group:
        column = getattr(table, name)
        parts.append(column.is_null() if values.get(name) is None else column == values[name])
    return combine_and(parts)


async def _next_version(table: Any, decl: FormVersions, values: Mapping) -> int:
    column = getattr(table, decl.version)
    query = table.select(column.as_alias("v")).order_by(column, ascending=False).limit(1)
    where = _group_condition(table, decl, values)
    rows = await (query.where(where) if where is not None else query)
    return int(rows[0]["v"] or 0) + 1 if rows else 1


async def new_version(call: Any) -> dict[str, Any]:
    """Handler `workflow.new_version`: a new draft copying the row, version max+1 of its group."""
    service, decl = call.service, _of(call.service)
    entity = service.entity
    fresh = {decl.version, decl.status, decl.published_at}
    data = {f.name: call.row.get(f.name) for f in entity.fields
            if f.editable and f.type != "multi_ref" and f.name not in fresh and call.row.get(f.name) is not None}
    for name, value in (call.params or {}).items():
        if entity.has_field(name) and value not in (None, "", []):
            data[name] = value
    data[decl.version] = await _next_version(service.table, decl, data)
    screen = call.grants[0][0].name if call.grants else None
    try:
        row = await service.create(SimpleNamespace(user=call.principal), data, screen=screen)
    except Denied:
        row = await service.create(SimpleNamespace(user=call.principal), data)
    return {"changed": {}, "result": {"id": row["id"], decl.version: data[decl.version]}}


async def publish_version(call: Any) -> dict[str, Any]:
    """Handler `workflow.publish_version`: this row published, the group's published row offline."""
    service, decl = call.service, _of(call.service)
    table = service.table
    pk = table._meta.primary_key
    status, version = getattr(table, decl.status), getattr(table, decl.version)
    group = _group_condition(table, decl, call.row)
    bump = {getattr(table, ROW_VERSION): getattr(table, ROW_VERSION) + 1} if versioned(service.entity) else {}
    # Lock the group's rows first: a concurrent publish of the same group waits here, then sees this one.
    await table.update({version: version + 0}, force=True).where(group if group is not None else pk == pk)
    retire = combine_and([group, status == decl.published, pk != call.row["id"]])
    await table.update({status: decl.offline, **bump}).where(retire)
    changed: dict[str, Any] = {decl.status: decl.published}
    if decl.published_at:
        changed[decl.published_at] = clock_now().replace(microsecond=0)
    await table.update({getattr(table, k): v for k, v in changed.items()}).where(pk == call.row["id"])
    return {"changed": changed}


# -- preview ----------------------------------------------------------------------
def _kind(prop: Mapping) -> str:
    kind = prop.get("type")
    kind = next((k for k in kind if k != "null"), "string") if isinstance(kind, list) else kind
    if "enum" in prop:
        return "select"
    if kind == "boolean":
        return "boolean"
    if kind in ("integer", "number"):
        return kind
    if kind == "string" and (prop.get("maxLength") or 0) > 200:
        return "textarea"
    return "string"


def form_groups(schema: Mapping, values: Mapping | None = None) -> list[dict]:
    """The schema's fields for the preview: top-level fields first (group without title), then each
    nested object as a group of its own; each field with title, required mark, kind, options."""
    values = values or {}

    def fields(node: Mapping, prefix: str) -> Iterator[tuple[str, Mapping, bool]]:
        required = set(node.get("required") or ())
        for name, prop in (node.get("properties") or {}).items():
            yield f"{prefix}{name}", prop if isinstance(prop, Mapping) else {}, name in required

    top = {"title": "", "fields": []}
    groups = [top]
    for path, prop, required in fields(schema, ""):
        if prop.get("type") == "object" and prop.get("properties"):
            group = {"title": prop.get("title") or path, "fields": []}
            for sub, sprop, sreq in fields(prop, f"{path}."):
                group["fields"].append(_field(sub, sprop, sreq, values))
            groups.append(group)
        else:
            top["fields"].append(_field(path, prop, required, values))
    return [g for g in groups if g["fields"]]


def _field(path: str, prop: Mapping, required: bool, values: Mapping) -> dict:
    return {"name": path, "title": prop.get("title") or path.rsplit(".", 1)[-1], "required": required,
            "kind": _kind(prop), "help": prop.get("description") or "",
            "options": [(str(v), str(v)) for v in prop.get("enum") or ()], "value": values.get(path, "")}


def _typed(prop: Mapping, text: str) -> Any:
    kind = _kind(prop) if "enum" not in prop else (prop.get("type") or "string")
    kind = next((k for k in kind if k != "null"), "string") if isinstance(kind, list) else kind
    try:
        if kind == "integer":
            return int(text)
        if kind == "number":
            return float(text)
    except ValueError:
        return text  # left as typed: the check names it (应为整数)
    if kind == "boolean":
        return text in ("1", "true", "on", "是")
    return text


def filled(schema: Mapping, form: Mapping) -> dict:
    """The preview's posted values as the JSON the schema describes (empty inputs left out)."""
    out: dict[str, Any] = {}
    for name, prop in (schema.get("properties") or {}).items():
        prop = prop if isinstance(prop, Mapping) else {}
        if prop.get("type") == "object" and prop.get("properties"):
            inner = filled(prop, {k[len(name) + 1:]: v for k, v in form.items() if k.startswith(f"{name}.")})
            if inner:
                out[name] = inner
        elif form.get(name) not in (None, ""):
            out[name] = _typed(prop, form[name])
    return out


async def _preview_row(request: Request, screen: str, row_id: int) -> tuple[dict, FormVersions, dict]:
    ctx = request.app.state.ctx
    spec = ctx.screens.get(screen)
    if spec is None:
        raise NotFound("没有这个页面")
    decl = declared(ctx.app).get(spec["entity"])
    grant = request.user.grant(screen)
    if decl is None:
        raise NotFound("该页面的记录不是版本化表单")
    if grant is None or "read" not in grant.actions:
        raise Denied()
    row = await request.app.state.services[spec["entity"]].get(request, row_id, screen=screen)
    return spec, decl, row


async def _render(request: Request, screen: str, row_id: int, values: Mapping, outcome: dict | None) -> Template:
    from specadmin.runtime.pages.support import layout

    spec, decl, row = await _preview_row(request, screen, row_id)
    text = row.get(decl.schema)
    problem = schema_problem(text) if text not in (None, "") else "尚未填写表单定义"
    schema = json.loads(text) if problem is None else {}
    entity = request.app.state.ctx.app.entity(spec["entity"])
    record = str(row.get(entity.display) or f"#{row_id}")
    context = layout(request, screen, record=record, record_url=f"/s/{screen}/{row_id}", step="预览",
                     screen_url=f"/s/{screen}", title=f"{record} · 预览",
                     form_title=schema.get("title") or record, version=row.get(decl.version),
                     problem=problem, groups=form_groups(schema, values) if schema else [], outcome=outcome,
                     action=PREVIEW_URL.format(screen=screen, row_id=row_id))
    return Template(template_name="workflow/form_preview.html", context=context)


@get(PREVIEW_URL.replace("{row_id}", "{row_id:int}").replace("{screen}", "{screen:str}"),
     name="workflow_form_preview", exception_handlers=PAGE_ERRORS)
async def preview_page(request: Request, screen: str, row_id: int) -> Template:
    """预览: the stored schema as a fillable form."""
    return await _render(request, screen, row_id, {}, None)


@post(PREVIEW_URL.replace("{row_id}", "{row_id:int}").replace("{screen}", "{screen:str}"),
      name="workflow_form_preview_check", exception_handlers=PAGE_ERRORS, status_code=200)
async def preview_check(request: Request, screen: str, row_id: int) -> Template:
    """The filled preview checked against the schema: the problems by field, or that it passes."""
    _, decl, row = await _preview_row(request, screen, row_id)
    form = {k: v for k, v in (await request.form()).items() if k != "_csrf_token" and isinstance(v, str)}
    outcome = {"ok": True, "text": "填写内容符合表单定义"}
    if schema_problem(row.get(decl.schema) or "") is None:
        schema = json.loads(row[decl.schema])
        try:
            validate_json(decl.schema, "预览", json.dumps(filled(schema, form), ensure_ascii=False), schema)
        except Invalid as exc:
            outcome = {"ok": False, "text": next(iter(exc.errors.values()))}
    return await _render(request, screen, row_id, form, outcome)


async def preview_panels(ctx: Any, request: Any, screen: str, row: dict) -> list[tuple[str, dict]]:
    """A 预览 link on the detail page of a versioned form."""
    decl = declared(ctx.app).get(ctx.screens[screen]["entity"])
    if decl is None:
        return []
    return [("workflow/_form_preview_link.html",
             {"url": PREVIEW_URL.format(screen=screen, row_id=row["id"]), "version": row.get(decl.version)})]


PREVIEW_HANDLERS = [preview_page, preview_check]
HANDLERS = {"new_version": new_version, "publish_version": publish_version}


# -- checks (WF011–WF013) ---------------------------------------------------------
def _declarations(spec: Any) -> Iterator[tuple[Any, str, dict]]:
    for section in spec.sections(KEY):
        for entity, body in (section.value or {}).items():
            if isinstance(body, Mapping):
                yield section, entity, body


def bad_fields(spec: Any) -> Iterator[Any]:
    """WF011: an unknown entity, or a field that is missing or of the wrong type."""
    app = spec.app
    names = {e.name for e in app.entities}
    wanted = {"schema": ("text", "string"), "version": ("integer",), "status": ("dict", "string"),
              "published_at": ("datetime",)}
    for section, entity, body in _declarations(spec):
        if entity not in names:
            yield spec.error(section, (entity,), f"表单版本：没有名为 {entity} 的实体")
            continue
        e = app.entity(entity)
        for key, types in wanted.items():
            if key in body and (not e.has_field(body[key]) or e.field(body[key]).type not in types):
                yield spec.error(section, (entity, key), f"表单版本 {entity}：{key} 应为 {'/'.join(types)} 字段，"
                                                         f"实体没有字段 {body[key]} 或类型不符")
        for i, name in enumerate(body.get("group") or ()):
            if not e.has_field(name) or not e.field(name).stored:
                yield spec.error(section, (entity, "group", i), f"表单版本 {entity}：group 中的 {name} 不是实体的字段")


def bad_states(spec: Any) -> Iterator[Any]:
    """WF012: draft/published/offline values not in the status field's dictionary."""
    app = spec.app
    for section, entity, body in _declarations(spec):
        if entity not in {e.name for e in app.entities} or not app.entity(entity).has_field(body.get("status", "")):
            continue
        field = app.entity(entity).field(body["status"])
        d = next((d for d in app.dictionaries if d.name == field.dict), None) if field.dict else None
        if d is None:
            continue
        keys = {str(k) for k, _ in d.items}
        for key in ("draft", "published", "offline"):
            value = body.get(key, key)
            if str(value) not in keys:
                yield spec.error(section, (entity, key) if key in body else (entity, "status"),
                                 f"表单版本 {entity}：状态 {value} 不在字典 {d.name} 中")


def bad_group(spec: Any) -> Iterator[Any]:
    """WF013: a group naming the version or status field, or one field twice."""
    for section, entity, body in _declarations(spec):
        seen = set()
        for i, name in enumerate(body.get("group") or ()):
            if name in (body.get("version"), body.get("status")) or name in seen:
                yield spec.error(section, (entity, "group", i), f"表单版本 {entity}：group 中的 {name} "
                                                                 f"不能是版本号或状态字段，也不能重复")
            seen.add(name)


CHECKS = (Check("WF011", bad_fields, "表单版本字段"), Check("WF012", bad_states, "表单版本状态"),
          Check("WF013", bad_group, "表单版本分组"))
