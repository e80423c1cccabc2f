"""What the workflow shows of a row, read once for the API (routes.py) and the pages (pages.py): the
tasks as a tree with their lights, the handling log (each step with its own files, `file_items`, downloaded
through the row), the summary by org, and the labels they need."""
from __future__ import annotations

import datetime as dt
from typing import Any

from specadmin.plugins.workflow.engine import flow_for
from specadmin.runtime.attachments.table import TABLE as ATTACHMENTS
from specadmin.runtime.data.where import now as clock_now


async def labels(ctx: Any, entity: str, ids: set) -> dict[int, str]:
    ids = {i for i in ids if isinstance(i, int)}
    if not ids:
        return {}
    e = ctx.app.entity(entity)
    t = ctx.table(entity)
    rows = await t.select(t._meta.primary_key.as_alias("k"), getattr(t, e.display).as_alias("v")).where(
        t._meta.primary_key.is_in(sorted(ids)))
    return {r["k"]: r["v"] for r in rows}


def dict_label(ctx: Any, entity: str, field: str, key: Any) -> Any:
    f = ctx.app.entity(entity).field(field)
    return ctx.dict_label(f.dict, key) if f.type == "dict" and f.dict else key


def light_of(row: dict, due_field: str | None, at: dt.datetime) -> str | None:
    if not due_field or row.get(due_field) is None:
        return None
    if row[due_field] < at:
        return "red"
    warn = row.get(f"{due_field}_warn_at")
    return "yellow" if warn is not None and warn <= at else "green"


def due_field(ctx: Any, entity: str) -> str | None:
    e = ctx.app.entity(entity)
    return next((f.name for f in e.fields if getattr(f, "lights", None)), None)


async def task_tree(ctx: Any, flow: Any, row_id: int) -> list[dict]:
    t = flow.tasks
    if t is None:
        return []
    tt = ctx.table(t.entity)
    rows = await tt.select().where(getattr(tt, t.ref) == row_id).order_by(tt._meta.primary_key)
    orgs = await labels(ctx, "org", {r[t.org] for r in rows})
    due = due_field(ctx, t.entity)
    at = clock_now()
    items = []
    for r in rows:
        item = {k: (v.isoformat() if isinstance(v, (dt.date, dt.datetime)) else v) for k, v in r.items()}
        item |= {"org_name": orgs.get(r[t.org]), "role_label": dict_label(ctx, t.entity, t.role, r[t.role]),
                 "state_label": dict_label(ctx, t.entity, t.state, r[t.state]), "light": light_of(r, due, at),
                 "children": []}
        items.append(item)
    by_id = {i["id"]: i for i in items}
    roots = []
    for i in items:
        parent = by_id.get(i.get(t.parent)) if t.parent else None
        (parent["children"] if parent else roots).append(i)
    return roots


async def log_rows(ctx: Any, flow: Any, row_id: int) -> list[dict]:
    log = flow.log
    if log is None:
        return []
    lt = ctx.table(log.entity)
    rows = await lt.select().where(getattr(lt, log.ref) == row_id).order_by(lt._meta.primary_key)
    org_field = log.fields.get("org")
    orgs = await labels(ctx, "org", {r.get(org_field) for r in rows}) if org_field else {}
    files_field = log.fields.get("files")
    kept: dict[int, list[dict]] = {}
    if files_field and rows and ctx.app.entity(log.entity).field(files_field).type == "file":
        t = ctx.runtime_table(ATTACHMENTS)
        for rec in await t.select(t.id, t.row_id, t.name, t.size, t.content_type).where(
                t.entity == log.entity, t.field == files_field, t.row_id.is_in([r["id"] for r in rows])).order_by(t.id):
            kept.setdefault(rec["row_id"], []).append(
                {"id": rec["id"], "name": rec["name"], "size": rec["size"], "type": rec["content_type"],
                 "url": f"/api/workflow/{flow.entity}/{row_id}/log/{rec['row_id']}/files/{rec['id']}"})
    out = []
    for r in rows:
        item = {k: (v.isoformat() if isinstance(v, (dt.date, dt.datetime)) else v) for k, v in r.items()}
        item["file_items"] = kept.get(r["id"], [])
        if org_field:
            item["org_name"] = orgs.get(r.get(org_field))
        channel = log.fields.get("channel")
        if channel:
            item["channel_label"] = dict_label(ctx, log.entity, channel, r.get(channel))
        out.append(item)
    return out


async def summary(flow: Any, tree: list[dict], ctx: Any) -> dict:
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
                      "level": levels.get(i[t.org]), "level_label": dict_label(ctx, "org", "level", levels.get(i[t.org]))}
                     for i in sorted(flat, key=lambda x: x["id"])]}


def box_of(flow: Any, role: Any, state: Any) -> str | None:
    """The first of the flow's todo boxes whose roles and states (each optional) the task has (None: in no box)."""
    boxes = flow.boxes or {"todo": {"label": "待办", "roles": []}}
    return next((b for b, spec in boxes.items() if (not spec.get("roles") or role in spec["roles"])
                 and (not spec.get("states") or state in spec["states"])), None)


def row_condition(ctx: Any, screen: str, action: str) -> dict | None:
    """When a flow action shows as a row's button on a list page: the row's state is one the action starts
    from in some version of the flow (`Plugin.action_conditions`). None for other actions, for an action
    any state allows, and where the screen does not show the state (the action judges the row itself)."""
    try:
        spec = ctx.app.screen(screen)
    except KeyError:
        return None
    flow = flow_for(ctx.app, spec.entity)
    custom = next((a for a in spec.custom_actions if a.name == action), None)
    if flow is None or custom is None or custom.handler != "workflow.act":
        return None
    if flow.state not in {p.split(".")[0] for p in (*spec.list, *spec.detail, *spec.form)}:
        return None
    states: list = []
    for version in flow.versions.values():
        body = version.get(action)
        if body is None:
            continue
        if body.get("from") is None:
            return None
        states += [s for s in body["from"] if s not in states]
    return {flow.state: {"in": states}}
