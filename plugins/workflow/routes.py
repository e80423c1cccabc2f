"""The workflow HTTP API.

- `POST /api/workflow/<entity>/<id>/<action>` `{"params": {...}}`: run an action (the screen's custom
  action `handler: workflow.act`: grant, data scope, parameters, operation log) → the new state.
- `POST /api/workflow/<entity>` `{"data": {...}, "action": "launch", "params": {...}}`: create a row and
  run its first action in one transaction (nothing stays behind when the action is refused).
- `GET /api/workflow/<entity>/<id>`: state and label, version, the actor's available actions with their
  parameters, the tasks as a tree, the log (timeline with channel) and a summary by org.
- `GET /api/workflow/todo?flow=<name>`: the open tasks of the actor's org with their lights, counts per
  box and per light colour (the badge).
"""
from __future__ import annotations

import datetime as dt
from typing import Any

from litestar import Request, get, post

from specadmin.plugins.workflow.engine import Run, action_spec, flow_for, state_label
from specadmin.plugins.workflow.model import flows
from specadmin.plugins.workflow.runs import version_of
from specadmin.runtime.data.db import write_transaction
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


async def _labels(ctx: Any, entity: str, ids: set) -> dict[int, str]:
    ids = {i for i in ids if isinstance(i, int)}
    if not ids:
        return {}
    e = ctx.app.entity(entity)
    t = ctx.table(entity)
    rows = await t.select(t._meta.primary_key.as_alias("k"), getattr(t, e.display).as_alias("v")).where(
        t._meta.primary_key.is_in(sorted(ids)))
    return {r["k"]: r["v"] for r in rows}


def _dict_label(ctx: Any, entity: str, field: str, key: Any) -> Any:
    f = ctx.app.entity(entity).field(field)
    return ctx.dict_label(f.dict, key) if f.type == "dict" and f.dict else key


def _light(row: dict, due_field: str | None, at: dt.datetime) -> str | None:
    if not due_field or row.get(due_field) is None:
        return None
    if row[due_field] < at:
        return "red"
    warn = row.get(f"{due_field}_warn_at")
    return "yellow" if warn is not None and warn <= at else "green"


def _due_field(ctx: Any, entity: str) -> str | None:
    e = ctx.app.entity(entity)
    return next((f.name for f in e.fields if getattr(f, "lights", None)), None)


async def _tasks(ctx: Any, flow: Any, row_id: int) -> list[dict]:
    t = flow.tasks
    if t is None:
        return []
    tt = ctx.table(t.entity)
    rows = await tt.select().where(getattr(tt, t.ref) == row_id).order_by(tt._meta.primary_key)
    orgs = await _labels(ctx, "org", {r[t.org] for r in rows})
    due = _due_field(ctx, t.entity)
    at = clock_now()
    items = []
    for r in rows:
        item = {k: (v.isoformat() if isinstance(v, (dt.date, dt.datetime)) else v) for k, v in r.items()}
        item |= {"org_name": orgs.get(r[t.org]), "role_label": _dict_label(ctx, t.entity, t.role, r[t.role]),
                 "state_label": _dict_label(ctx, t.entity, t.state, r[t.state]), "light": _light(r, due, at),
                 "children": []}
        items.append(item)
    by_id = {i["id"]: i for i in items}
    roots = []
    for i in items:
        parent = by_id.get(i.get(t.parent)) if t.parent else None
        (parent["children"] if parent else roots).append(i)
    return roots


async def _log(ctx: Any, flow: Any, row_id: int) -> list[dict]:
    log = flow.log
    if log is None:
        return []
    lt = ctx.table(log.entity)
    rows = await lt.select().where(getattr(lt, log.ref) == row_id).order_by(lt._meta.primary_key)
    org_field = log.fields.get("org")
    orgs = await _labels(ctx, "org", {r.get(org_field) for r in rows}) if org_field else {}
    out = []
    for r in rows:
        item = {k: (v.isoformat() if isinstance(v, (dt.date, dt.datetime)) else v) for k, v in r.items()}
        if org_field:
            item["org_name"] = orgs.get(r.get(org_field))
        channel = log.fields.get("channel")
        if channel:
            item["channel_label"] = _dict_label(ctx, log.entity, channel, r.get(channel))
        out.append(item)
    return out


async def _summary(flow: Any, tree: list[dict], ctx: Any) -> dict:
    """Orgs done and in progress (names, for a one-click copy) and each task's org with its level (级别)."""
    t = flow.tasks
    if t is None:
        return {"done": [], "in_progress": [], "orgs": []}
    flat: list[dict] = []
    stack = list(tree)
    while stack:
        i = stack.pop()
        flat.append(i)
        stack.extend(i["children"])
    org = ctx.table("org")
    ids = sorted({i[t.org] for i in flat if isinstance(i[t.org], int)})
    levels = {r["id"]: r["level"] for r in await org.select(org.id, org.level).where(org.id.is_in(ids))} if ids else {}
    done = sorted({i["org_name"] or "" for i in flat if i[t.state] in t.done})
    going = sorted({i["org_name"] or "" for i in flat if i[t.state] in t.open})
    return {"done": done, "in_progress": going,
            "orgs": [{"org": i[t.org], "org_name": i["org_name"], "role": i[t.role], "state": i[t.state],
                      "level": levels.get(i[t.org]), "level_label": _dict_label(ctx, "org", "level", levels.get(i[t.org]))}
                     for i in sorted(flat, key=lambda x: x["id"])]}


@get("/api/workflow/{entity:str}/{row_id:int}")
async def detail(request: Request, entity: str, row_id: int) -> dict:
    service, flow = _service(request, entity)
    ctx = request.app.state.ctx
    row = await service.get(request, row_id)  # the read grant and data scope
    raw = service._plain((await service.table.select().where(service.table._meta.primary_key == row_id))[0])
    version = await version_of(ctx, flow, row_id)
    tree = await _tasks(ctx, flow, row_id)
    return {"id": row_id, "flow": flow.name, "state": raw.get(flow.state),
            "state_label": state_label(ctx, flow, raw.get(flow.state)),
            "version": version or flow.published, "started": version is not None, "row": row,
            "actions": await available(request, service, flow, raw), "tasks": tree,
            "log": await _log(ctx, flow, row_id), "summary": await _summary(flow, tree, ctx)}


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
    names = await _labels(ctx, f.entity, {r[t.ref] for r in rows})
    due = _due_field(ctx, t.entity)
    at = clock_now()
    boxes = f.boxes or {"todo": {"label": "待办", "roles": []}}
    items, counts, lights = [], {b: 0 for b in boxes}, {"green": 0, "yellow": 0, "red": 0}
    for r in rows:
        box = next((b for b, spec in boxes.items() if (not spec.get("roles") or r[t.role] in spec["roles"])
                    and (not spec.get("states") or r[t.state] in spec["states"])), None)
        if box is None:
            continue
        light = _light(r, due, at)
        counts[box] += 1
        if light:
            lights[light] += 1
        items.append({"task": r["id"], "id": r[t.ref], "title": names.get(r[t.ref]), "box": box,
                      "role": r[t.role], "role_label": _dict_label(ctx, t.entity, t.role, r[t.role]),
                      "state": r[t.state], "state_label": _dict_label(ctx, t.entity, t.state, r[t.state]),
                      "due_at": r.get(due).isoformat() if due and r.get(due) else None, "light": light})
    return {"flow": f.name, "items": items, "boxes": {b: {"label": spec.get("label", b), "count": counts[b]}
                                                       for b, spec in boxes.items()},
            "lights": lights, "badge": len(items)}


HANDLERS = [todo, run_action, create_and_act, detail]
