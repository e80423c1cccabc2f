"""The workflow HTTP API.

- `POST /api/workflow/<entity>/<id>/<action>` `{"params": {...}}`: run an action (the screen's custom
  action `handler: workflow.act`: grant, data scope, parameters, operation log) → the new state.
- `POST /api/workflow/<entity>` `{"data": {...}, "action": "launch", "params": {...}}`: create a row and
  run its first action in one transaction (nothing stays behind when the action is refused).
- `GET /api/workflow/<entity>/<id>`: state and label, version, the actor's available actions with their
  parameters, the tasks as a tree, the log (timeline with channel), a summary by org and `recommended`
  (推荐单位 of the flow's `recommend:`, recommend.py).
- `GET /api/workflow/<entity>/<id>/log/<log id>/files/<file id>`: a file of one handling step, for whoever
  may read the row (its grant and data scope; 404 outside, as the row's own files); `?download=1` saves it.
- `GET /api/workflow/todo?flow=<name>`: the open tasks of the actor's org with their lights, counts per
  box and per light colour (the badge).
"""
from __future__ import annotations

from typing import Any

from litestar import Request, Response, get, post

from specadmin.plugins.workflow.engine import Run, action_spec, flow_for, state_label
from specadmin.plugins.workflow.model import flows
from specadmin.plugins.workflow.recommend import recommended
from specadmin.plugins.workflow.runs import version_of
from specadmin.plugins.workflow.views import box_of, dict_label, due_field, labels, light_of, log_rows, summary, task_tree
from specadmin.runtime.attachments import store
from specadmin.runtime.attachments.routes import disposition
from specadmin.runtime.data.db import write_transaction
from specadmin.runtime.data.values import fits_column
from specadmin.specs import attachments as file_types
from specadmin.runtime.data.where import now as clock_now
from specadmin.runtime.errors import BadRequest, Conflict, Denied, NotFound


def _service(request: Request, entity: str) -> tuple[Any, Any]:
    ctx = request.app.state.ctx
    flow = flow_for(ctx.app, entity)
    service = request.app.state.services.get(entity)
    if flow is None or service is None:
        raise NotFound(f"没有名为 {entity} 的流程实体")
    return service, flow


def _body(data: Any) -> dict:
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise BadRequest("请求体应为 JSON 对象")
    return data


async def _act(request: Request, service: Any, flow: Any, row_id: int, action: str, params: Any) -> dict:
    if params is not None and not isinstance(params, dict):
        raise BadRequest("params 应为 JSON 对象")
    out = await service.run_action(request, action, [row_id], params=params or {})
    if row_id not in out["done"]:
        raise NotFound((out.get("reasons") or {}).get(row_id) or "记录不存在或不在数据权限范围内")
    result = (out.get("results") or {}).get(row_id) or {}
    return {"id": row_id, "action": action, **result}


@post("/api/workflow/{entity:str}/{row_id:int}/{action:str}", status_code=200)
async def run_action(request: Request, entity: str, row_id: int, action: str, data: Any = None) -> dict:
    service, flow = _service(request, entity)
    body = _body(data)
    return await _act(request, service, flow, row_id, action, body.get("params"))


@post("/api/workflow/{entity:str}", status_code=201)
async def create_and_act(request: Request, entity: str, data: Any = None) -> dict:
    service, flow = _service(request, entity)
    if not any(request.user.can(s.name, "create") for s in service.screens.values()):
        raise Denied()  # before the body is read: nothing to learn about it without the grant
    body = _body(data)
    if not isinstance(body.get("data"), dict):
        raise BadRequest("data 应为 JSON 对象（新记录的字段）")
    action = body.get("action")
    async with write_transaction(service.table._meta.db):
        row = await service.create(request, body["data"])
        if not action:
            return {"id": row["id"], "row": row}
        return await _act(request, service, flow, row["id"], action, body.get("params"))


def _params_of(custom: Any) -> list[dict]:
    out = []
    for p in custom.params if custom else ():
        out.append({k: v for k, v in {"name": p.name, "type": p.type, "label": p.label, "required": p.required,
                                      "to": getattr(p, "to", None), "dict": getattr(p, "dict", None),
                                      "multi": getattr(p, "multi", None)}.items() if v not in (None, False)})
    return out


async def available(request: Request, service: Any, flow: Any, raw: dict) -> list[dict]:
    """The actions the actor may take on the row now: granted, from its state, in relation, guard met."""
    ctx, principal = request.app.state.ctx, request.user
    version = await version_of(ctx, flow, raw["id"])
    out = []
    for name in flow.actions(version):
        custom = action_spec(service, name)
        if custom is None or not any(principal.can(s.name, name) for s in service.screens.values()
                                     if any(a.name == name for a in s.custom_actions)):
            continue
        run = Run(ctx, flow, service, principal, name, {})
        try:
            await run.judge(raw)
        except (Conflict, Denied):
            continue
        out.append({"name": name, "label": run.label, "params": _params_of(custom),
                    "confirm": getattr(custom, "confirm", None)})
    return out


@get("/api/workflow/{entity:str}/{row_id:int}")
async def detail(request: Request, entity: str, row_id: int) -> dict:
    service, flow = _service(request, entity)
    ctx = request.app.state.ctx
    row = await service.get(request, row_id)  # the read grant and data scope
    raw = service._plain((await service.table.select().where(service.table._meta.primary_key == row_id))[0])
    version = await version_of(ctx, flow, row_id)
    tree = await task_tree(ctx, flow, row_id)
    return {"id": row_id, "flow": flow.name, "state": raw.get(flow.state),
            "state_label": state_label(ctx, flow, raw.get(flow.state)),
            "version": version or flow.published, "started": version is not None, "row": row,
            "actions": await available(request, service, flow, raw), "tasks": tree,
            "log": await log_rows(ctx, flow, row_id), "summary": await summary(flow, tree, ctx),
            "recommended": await recommended(ctx, flow, raw)}


@get("/api/workflow/{entity:str}/{row_id:int}/log/{log_id:int}/files/{file_id:int}")
async def log_file(request: Request, entity: str, row_id: int, log_id: int, file_id: int) -> Response:
    service, flow = _service(request, entity)
    ctx = request.app.state.ctx
    await service.get(request, row_id)  # the read grant and data scope of the row the log belongs to
    log = flow.log
    field = log.fields.get("files") if log else None
    if field is None or ctx.app.entity(log.entity).field(field).type != "file":
        raise NotFound("该流程的处置过程没有附件")
    lt = ctx.table(log.entity)
    if not fits_column(lt._meta.primary_key, log_id) or not await lt.exists().where(lt._meta.primary_key == log_id,
                                                               getattr(lt, log.ref) == row_id):
        raise NotFound("没有这条处置过程")
    record = await store.record_of(ctx, log.entity, log_id, field, file_id)
    data = await store.content(ctx, record)
    ext = file_types.extension(record["name"])
    inline = file_types.previewable(ext) and request.query_params.get("download") in (None, "", "0")
    return Response(data, media_type=file_types.content_type(ext) if inline else "application/octet-stream",
                    headers={"content-disposition": disposition(record["name"], inline),
                             "x-content-type-options": "nosniff", "cache-control": "private, no-store"})


@get("/api/workflow/todo")
async def todo(request: Request, flow: str | None = None) -> dict:
    ctx, principal = request.app.state.ctx, request.user
    every = [f for f in flows(ctx.app) if f.tasks]
    chosen = [f for f in every if flow in (None, f.name)]
    if not chosen:
        raise NotFound(f"没有名为 {flow} 的流程")
    f = chosen[0]
    service = request.app.state.services[f.entity]
    if not any(principal.can(s.name, "list") for s in service.screens.values()):
        raise Denied()
    t = f.tasks
    tt = ctx.table(t.entity)
    if principal.org_id is None:
        rows = []
    else:
        rows = await tt.select().where(getattr(tt, t.org) == principal.org_id,
                                       getattr(tt, t.state).is_in(list(t.open))).order_by(tt._meta.primary_key)
    names = await labels(ctx, f.entity, {r[t.ref] for r in rows})
    due = due_field(ctx, t.entity)
    at = clock_now()
    boxes = f.boxes or {"todo": {"label": "待办", "roles": []}}
    items, counts, lights = [], {b: 0 for b in boxes}, {"green": 0, "yellow": 0, "red": 0}
    for r in rows:
        box = box_of(f, r[t.role], r[t.state])
        if box is None:
            continue
        light = light_of(r, due, at)
        counts[box] += 1
        if light:
            lights[light] += 1
        items.append({"task": r["id"], "id": r[t.ref], "title": names.get(r[t.ref]), "box": box,
                      "role": r[t.role], "role_label": dict_label(ctx, t.entity, t.role, r[t.role]),
                      "state": r[t.state], "state_label": dict_label(ctx, t.entity, t.state, r[t.state]),
                      "due_at": r.get(due).isoformat() if due and r.get(due) else None, "light": light})
    return {"flow": f.name, "items": items, "boxes": {b: {"label": spec.get("label", b), "count": counts[b]}
                                                       for b, spec in boxes.items()},
            "lights": lights, "badge": len(items)}


HANDLERS = [todo, run_action, create_and_act, detail, log_file]
