"""The workflow's pages: its panel on the detail page of a flow's row, 我的待办 (`/workflow/todo`) in the
menu with its badge (the open tasks of the actor's org).

The panel (`Plugin.detail_panels`) shows the row's state, the actions the actor may take now (buttons that
open the same parameter dialogs as every custom action, static/dialogs.js, posting to the screen's action
route), the handling tree (处置情况: the tasks by parent, with an org-name filter and collapse/expand), the
timeline (处置过程, split into 处理日志 / 市级日志 when a city log exists) and the summary (处置汇总: orgs done
and in progress with their level, a briefing text copied with one click). The reads are the API's
(routes.py), on a row the page has just read through the screen's grant and scope.
"""
from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlencode

from litestar import Request, get
from litestar.response import Template

from specadmin.plugins.workflow.engine import flow_for, state_label
from specadmin.plugins.workflow.model import flows
from specadmin.plugins.workflow.recommend import recommended
from specadmin.plugins.workflow.routes import available
from specadmin.plugins.workflow.runs import version_of
from specadmin.plugins.workflow.views import box_of, labels, light_of, log_rows, summary, task_tree
from specadmin.runtime.data.where import now as clock_now
from specadmin.runtime.errors import Denied
from specadmin.runtime.pages.common import PAGE_ERRORS

TODO_ENTRY = "workflow_todo"
TODO_URL = "/workflow/todo"
LIGHTS = (("red", "超期"), ("yellow", "临期"), ("green", "正常"))
PAGE_SIZE = 50
PAGE_SIZES = (20, 50, 100)


def _text(value: Any) -> str:
    if isinstance(value, str) and len(value) >= 16 and value[4:5] == "-" and "T" in value:
        return value.replace("T", " ")[:16]
    if isinstance(value, dt.datetime):
        return value.strftime("%Y-%m-%d %H:%M")
    return "" if value is None else str(value)


def _flat(tree: list[dict]) -> list[dict]:
    out, stack = [], list(reversed(tree))
    while stack:
        node = stack.pop()
        out.append(node)
        stack.extend(reversed(node["children"]))
    return out


async def _org_levels(ctx: Any, ids: set) -> dict[int, str]:
    ids = {i for i in ids if isinstance(i, int)}
    if not ids:
        return {}
    org = ctx.table("org")
    rows = await org.select(org.id, org.level).where(org.id.is_in(sorted(ids)))
    return {r["id"]: ctx.dict_label("org_level", r["level"]) or "" for r in rows}


def _briefing(title: str, state: str, summary: dict, levels: dict) -> str:
    def named(rows):
        return "、".join(f"{r['org_name']}（{levels.get(r['org']) or '—'}）" for r in rows) or "无"
    return (f"【事件处置汇总】{title}：当前状态{state}。已完成单位：{named(summary['done_orgs'])}；"
            f"办理中单位：{named(summary['going_orgs'])}。")


async def workflow_panels(ctx: Any, request: Any, screen: str, row: dict) -> list[tuple[str, dict]]:
    """The flow panel of a row of a flow's entity (none for other screens)."""
    entity = ctx.screens[screen]["entity"]
    flow = flow_for(ctx.app, entity)
    if flow is None:
        return []
    service = request.app.state.services[entity]
    raw = service._plain((await service.table.select().where(service.table._meta.primary_key == row["id"]))[0])
    declared = {a["name"] for a in ctx.screens[screen].get("custom_actions", [])}
    actions = [a for a in await available(request, service, flow, raw)
               if a["name"] in declared and request.user.can(screen, a["name"])]
    tree = await task_tree(ctx, flow, row["id"])
    flat = _flat(tree)
    t = flow.tasks
    users = await labels(ctx, "user", {n.get("handler") for n in flat}) if t and flat and "handler" in flat[0] else {}
    for node in flat:
        node["created_text"] = _text(node.get("created_at"))
        node["due_text"] = _text(node.get("due_at"))
        node["handler_name"] = users.get(node.get("handler")) or ""
    log = await log_rows(ctx, flow, row["id"])
    channel = flow.log.fields.get("channel") if flow.log else None
    for entry in log:
        for what in ("at", "operator_name", "opinion"):
            field = flow.log.fields.get(what)
            entry[f"_{what}"] = _text(entry.get(field)) if field else ""
        entry["_label"] = entry.get(flow.log.fields.get("label", "")) or entry.get(flow.log.fields.get("action", ""))
        entry["_channel"] = entry.get(channel) or "local"
    channels = [("local", "处理日志")] + ([("city", "市级日志")] if any(e["_channel"] == "city" for e in log) else [])
    by_org = await summary(flow, tree, ctx)
    levels = await _org_levels(ctx, {o["org"] for o in by_org["orgs"]})
    done_orgs, going_orgs, seen = [], [], set()
    for o in by_org["orgs"]:
        if t and o["state"] in t.open and ("go", o["org"]) not in seen:
            seen.add(("go", o["org"]))
            going_orgs.append(o)
    for o in by_org["orgs"]:
        if t and o["state"] in t.done and ("done", o["org"]) not in seen and ("go", o["org"]) not in seen:
            seen.add(("done", o["org"]))
            done_orgs.append(o)
    summary_view = {"done_orgs": done_orgs, "going_orgs": going_orgs}
    state = state_label(ctx, flow, raw.get(flow.state))
    title = row.get(ctx.app.entity(entity).display) or f"#{row['id']}"
    version = await version_of(ctx, flow, row["id"])
    pickers = await _pickers(ctx, flow, flow.actions(version), {a["name"] for a in actions}, request.user, raw)
    return [("workflow/_panel.html", {"pickers": pickers,
        "flow": flow.label, "state": raw.get(flow.state), "state_label": state, "screen": screen, "row_id": row["id"],
        "actions": actions, "tree": tree, "log": log, "channels": channels, "summary": summary_view, "levels": levels,
        "briefing": _briefing(str(title), state, summary_view, levels)})]


def _picked_params(flow: Any, actions: dict, names: set) -> dict[str, dict]:
    """action -> {param, roles, requirement}: the actions whose tasks are made from a list parameter of
    `{org[, role][, requirement]}` items (`create_tasks: {each: $params.x, org: $item.org[, role: $item.role]}`);
    `roles` is empty when the action gives every org the same role."""
    out = {}
    for name, spec in actions.items():
        if name not in names:
            continue
        for effect in spec.get("effects") or ():
            body = effect.get("create_tasks") if isinstance(effect, Mapping) else None
            each = (body or {}).get("each")
            if isinstance(each, str) and each.startswith("$params.") and body.get("org") == "$item.org":
                chosen = body.get("role") == "$item.role"  # else one role for every org (申请协助: assist)
                out[name] = {"param": each[len("$params."):], "roles": list(body.get("roles") or ()) if chosen else [],
                             "requirement": "$item.requirement" in (body.get("set") or {}).values()}
    return out


async def picker_orgs(ctx: Any, principal: Any, keyword: str = "", below: bool = False) -> list[list]:
    """The picker's orgs as `[id, indented name, initials, below]` (active, in tree order, the actor's own org left
    out): `keyword` matches the name or the pinyin initials (`name_initials`, when the org entity has it), `below`
    keeps only the orgs under the actor's org (仅下级)."""
    org = ctx.table("org")
    has_initials = ctx.app.entity("org").has_field("name_initials")
    columns = [org.id, org.name, org.path] + ([org.name_initials] if has_initials else [])
    rows = await org.select(*columns).where(org.active == True).order_by(org.path)  # noqa: E712
    own = next((r["path"] for r in rows if r["id"] == principal.org_id), None) or ""
    wanted = keyword.strip().lower()
    out = []
    for r in rows:
        path, initials = r["path"] or "", (r.get("name_initials") or "")
        under = bool(own) and path.startswith(own) and r["id"] != principal.org_id
        if r["id"] == principal.org_id or (below and not under):
            continue
        if wanted and wanted not in r["name"].lower() and wanted not in initials.lower():
            continue
        out.append([r["id"], "　" * max(0, path.count("/") - 2) + r["name"], initials, under])
    return out


async def _pickers(ctx: Any, flow: Any, actions: dict, names: set, principal: Any, raw: dict) -> str:
    """JSON for static/workflow/workflow.js: an org-and-role picker in the dialogs of those actions,
    writing the list parameter as a person picks (the text stays editable), with a keyword and 仅下级 filter
    on its org list, the flow's 推荐单位 (recommend.py) as one-click rows and the person's 常用单位组."""
    picked = _picked_params(flow, actions, names)
    if not picked or flow.tasks is None:
        return ""
    task_entity = ctx.app.entity(flow.tasks.entity)
    role_dict = task_entity.field(flow.tasks.role).dict
    orgs = await picker_orgs(ctx, principal)
    for spec in picked.values():
        spec["roles"] = [[k, ctx.dict_label(role_dict, k) if role_dict else k] for k in spec["roles"]]
    return json.dumps({"orgs": orgs, "actions": picked, "recommended": await recommended(ctx, flow, raw),
                       "groups": bool(principal.user_id)}, ensure_ascii=False)


@get("/api/workflow/picker-orgs")
async def picker_orgs_api(request: Request, q: str | None = None, below: bool = False) -> dict:
    """The org list of the 交办 picker, filtered as the dialog's keyword box and 仅下级 switch ask."""
    ctx = request.app.state.ctx
    if not any(f.tasks for f in flows(ctx.app)) or not any(
            _may_see(ctx, request.user, f) for f in flows(ctx.app) if f.tasks):
        raise Denied()
    return {"items": [{"id": i, "name": n.strip("　"), "initials": ini, "below": b}
                      for i, n, ini, b in await picker_orgs(ctx, request.user, (q or "")[:50], below)]}


def panel_actions(ctx: Any, screen: str) -> set[str]:
    """The flow's actions declared on the screen: the panel offers those the row's state and the reader allow."""
    flow = flow_for(ctx.app, ctx.screens[screen]["entity"]) if screen in ctx.screens else None
    return flow.all_action_names() if flow is not None else set()


# -- 我的待办 -------------------------------------------------------------------------
def _task_flow(ctx: Any) -> Any:
    return next((f for f in flows(ctx.app) if f.tasks), None)


def _may_see(ctx: Any, principal: Any, flow: Any) -> bool:
    return any(principal.can(name, "list") for name, s in ctx.screens.items() if s["entity"] == flow.entity)


def todo_entries(ctx: Any, principal: Any) -> list[dict]:
    flow = _task_flow(ctx)
    if flow is None or principal.org_id is None or not _may_see(ctx, principal, flow):
        return []
    near = [m["name"] for m in ctx.menus if any(ctx.screens.get(s, {}).get("entity") in (flow.entity, flow.tasks.entity)
                                                for s in m["screens"])]
    return [{"menu": near[0] if near else "流程办理", "name": TODO_ENTRY, "label": "我的待办", "url": TODO_URL}]


async def todo_badges(ctx: Any, principal: Any) -> dict[str, int]:
    """The badge: the open tasks of the actor's org that fall in one of the flow's boxes."""
    flow = _task_flow(ctx)
    if flow is None or principal.org_id is None or not _may_see(ctx, principal, flow):
        return {}
    t = flow.tasks
    tt = ctx.table(t.entity)
    rows = await tt.select(getattr(tt, t.role).as_alias("r"), getattr(tt, t.state).as_alias("s")).where(
        getattr(tt, t.org) == principal.org_id, getattr(tt, t.state).is_in(list(t.open)))
    return {TODO_ENTRY: sum(1 for r in rows if box_of(flow, r["r"], r["s"]))}


def detail_screen(ctx: Any, principal: Any, flow: Any) -> str | None:
    """The screen a todo row opens: of the flow's entity, readable, declaring the most flow actions."""
    names = flow.all_action_names()
    best = [(sum(1 for a in s.get("custom_actions", []) if a["name"] in names), -i, name)
            for i, (name, s) in enumerate(ctx.screens.items())
            if s["entity"] == flow.entity and principal.can(name, "read")]
    return max(best)[2] if best else None


async def _todo_rows(ctx: Any, flow: Any, principal: Any, dispatched: bool) -> list[dict]:
    t = flow.tasks
    tt = ctx.table(t.entity)
    column = t.dispatcher if dispatched else t.org
    if not column:
        return []
    rows = await tt.select().where(getattr(tt, column) == principal.org_id,
                                   getattr(tt, t.state).is_in(list(t.open))).order_by(tt._meta.primary_key)
    titles = await labels(ctx, flow.entity, {r[t.ref] for r in rows})
    orgs = await labels(ctx, "org", {r[t.org] for r in rows})
    due = next((f.name for f in ctx.app.entity(t.entity).fields if getattr(f, "lights", None)), None)
    at = clock_now()
    ent = ctx.app.entity(t.entity)
    out = []
    for r in rows:
        box = "dispatched" if dispatched else box_of(flow, r[t.role], r[t.state])
        if box is None:
            continue
        out.append({"task": r["id"], "id": r[t.ref], "title": titles.get(r[t.ref]) or f"#{r[t.ref]}", "box": box,
                    "org_name": orgs.get(r[t.org]) or "",
                    "role_label": ctx.dict_label(ent.field(t.role).dict, r[t.role]) if ent.field(t.role).dict else r[t.role],
                    "state_label": ctx.dict_label(ent.field(t.state).dict, r[t.state]) if ent.field(t.state).dict else r[t.state],
                    "requirement": r.get("requirement") or "",
                    "due_text": _text(r.get(due)) if due else "", "light": light_of(r, due, at)})
    return out


@get(TODO_URL, name="workflow_todo_page", exception_handlers=PAGE_ERRORS)
async def todo_page(request: Request, box: str | None = None, light: str | None = None, q: str | None = None,
                    view: str | None = None, page: int = 1, page_size: int = PAGE_SIZE) -> Template:
    """我的待办: boxes 待办 / 待审核 / 待结案 (the flow's `boxes`), lights with their legend and counts,
    a search on the title, and 交办后任务 (`view=dispatched`: the open tasks my org dispatched)."""
    from specadmin.runtime.pages.support import layout

    ctx, principal = request.app.state.ctx, request.user
    flow = _task_flow(ctx)
    if flow is None or not _may_see(ctx, principal, flow):
        raise Denied()
    dispatched = view == "dispatched"
    own = await _todo_rows(ctx, flow, principal, False) if principal.org_id is not None else []
    rows = (await _todo_rows(ctx, flow, principal, True) if principal.org_id is not None else []) if dispatched else own
    boxes = flow.boxes or {"todo": {"label": "待办", "roles": []}}
    counts = {b: sum(1 for r in own if r["box"] == b) for b in boxes}
    shown = [r for r in rows if dispatched or not box or r["box"] == box]
    keyword = (q or "").strip()[:100]
    if keyword:
        shown = [r for r in shown if keyword in r["title"] or keyword in r["requirement"]]
    lights = [{"name": n, "label": label, "count": sum(1 for r in shown if r["light"] == n)} for n, label in LIGHTS]
    if light in {n for n, _ in LIGHTS}:
        shown = [r for r in shown if r["light"] == light]
    screen = detail_screen(ctx, principal, flow)
    for r in shown:
        r["url"] = f"/s/{screen}/{r['id']}" if screen else None

    size = page_size if page_size in PAGE_SIZES else PAGE_SIZE
    pages = max(1, -(-len(shown) // size))
    page = min(max(page, 1), pages)

    def link(**kw) -> str:
        params = {"view": "dispatched" if dispatched else None, "box": box, "light": light, "q": keyword or None,
                  "page_size": size if size != PAGE_SIZE else None} | kw
        return TODO_URL + ("?" + urlencode({k: v for k, v in params.items() if v}) if any(params.values()) else "")

    kept = {"view": "dispatched" if dispatched else None, "box": box, "light": light, "q": keyword or None}
    pager_info = {"page": page, "pages": pages, "total": len(shown), "page_size": size, "page_sizes": PAGE_SIZES,
                  "prev_url": link(page=page - 1) if page > 1 else None,
                  "next_url": link(page=page + 1) if page < pages else None,
                  "action": TODO_URL, "hidden": [(k, v) for k, v in kept.items() if v]}

    tabs = [{"name": b, "label": spec.get("label", b), "count": counts[b], "active": not dispatched and box == b,
             "url": link(view=None, box=b, light=None)} for b, spec in boxes.items()]
    context = layout(request, TODO_ENTRY, title="我的待办", crumbs=[{"label": "我的待办"}], items=shown[(page - 1) * size:page * size],
                     total=len(shown), pager_info=pager_info, tabs=tabs, all_url=link(view=None, box=None, light=None),
                     all_active=not dispatched and not box, all_count=sum(counts.values()),
                     dispatched=dispatched, dispatched_url=link(view="dispatched", box=None, light=None),
                     lights=lights, light=light, light_url={n: link(light=n) for n, _ in LIGHTS},
                     clear_light_url=link(light=None), q=keyword, box=box or "", view="dispatched" if dispatched else "")
    return Template(template_name="workflow/todo.html", context=context)


PAGE_HANDLERS = [todo_page, picker_orgs_api]
