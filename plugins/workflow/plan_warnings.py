"""Plan warnings (预案预警): a flow's `plan_warnings:` names the row's plan and which plan fields say what.

```yaml
workflow:
  event_flow:
    plan_warnings:
      plan: plan                  # the row's ref to the plan entity
      warn_days: warn_days        # plan field (integer): 任务预警, N working days before a task's due time
      due: due_at                 # task field (datetime): the task's due time
      roles: [lead, co, assist]   # optional: the task roles warned about (default every role)
      content: content_warning    # plan field (text): 内容预警, a JSON where over the row's fields
      org: applicable_org         # optional plan field (ref to org): who hears of a content warning …
      owner: owner_org            # … else this row field (ref to org)
      states: [open, in_process]  # optional: the row states in which content warnings apply (default: not final)
```
Task warnings: `run` (job handler `workflow.plan_warnings`, or on demand) writes, in one transaction, one
in-app message per active user of the task's org for each open task of a row under a plan with `warn_days`
N (a row in no final state) whose due time is at most N working days away (runtime/calendar) or past; the
message's dedupe key names the task and the user, so a re-run, a second worker or a later day writes
nothing new. Content warnings: after every write of the row (a create, an update, every flow action) in
the writer's transaction, when the row is under a plan whose condition is set and the row meets it (in
SQL: `where_of`), one message per active user of the plan's org (or the row's owner org), once per row,
plan and user. The condition is checked when the plan is saved (422 naming the problem). WF040–WF042.
"""
from __future__ import annotations

import json
import logging
from collections import defaultdict
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Iterator

from specadmin.plugins.workflow.model import flows
from specadmin.runtime.calendar.days import calendar_of
from specadmin.runtime.data.db import write_transaction
from specadmin.runtime.data.values import Invalid
from specadmin.runtime.data.where import now, where_of
from specadmin.runtime.notify.inapp import active_users
from specadmin.runtime.plugin import Check, WriteEvent
from specadmin.specs import relative_dates

if TYPE_CHECKING:
    from specadmin.runtime.app.context import AppContext

log = logging.getLogger("specadmin.workflow")
KEY = "plan_warnings"
OPERATORS = ("eq", "not", "in", "gte", "lte", "gt", "lt", "contains")
COMPARABLE = {"string": (str,), "text": (str,), "dict": (str,), "ref": (int,), "integer": (int,),
              "decimal": (int, float), "boolean": (bool,)}


_CONFIGS: dict[int, tuple[Any, list]] = {}


def configs(app: Any) -> list[tuple[Any, dict]]:
    """(flow, plan_warnings config) of every flow that declares one (read once per app model: the hooks
    run on every write)."""
    cached = _CONFIGS.get(id(app))
    if cached is None or cached[0] is not app:
        found = []
        for flow in flows(app):
            section = app.section("workflow").get(flow.module) or {}
            cfg = (section.get(flow.name) or {}).get(KEY)
            if isinstance(cfg, Mapping):
                found.append((flow, cfg))
        cached = _CONFIGS[id(app)] = (app, found)
    return cached[1]


def plan_entity(app: Any, flow: Any, cfg: dict) -> Any:
    return app.entity(app.entity(flow.entity).field(cfg["plan"]).to)


async def _message(ctx: "AppContext", user_id: int, key: str, title: str, text: str, link: str) -> bool:
    """One in-app message unless its dedupe key is there already."""
    box = ctx.table("message")
    if await box.exists().where(box.dedupe_key == key[:200]):
        return False
    at = now()
    await box.insert(box(recipient=user_id, title=title[:200], body=text, link=link, sent_at=at, read_at=None,
                         notification="", day=at.date(), dedupe_key=key[:200]))
    return True


def _shown(entity: Any, row: Mapping) -> str:
    value = row.get(entity.display) if entity.has_field(entity.display) else None
    return str(value if value is not None else row.get("id"))


# -- task warnings (job) ----------------------------------------------------------------
async def _task_warnings(ctx: "AppContext", flow: Any, cfg: dict) -> tuple[int, int]:
    app, t = ctx.app, flow.tasks
    if t is None or not cfg.get("warn_days") or not cfg.get("due"):
        return 0, 0
    entity, plans = app.entity(flow.entity), plan_entity(app, flow, cfg)
    et, pt, tt = ctx.table(entity.name), ctx.table(plans.name), ctx.table(t.entity)
    n_col = getattr(pt, cfg["warn_days"])
    by_days: dict[int, dict[int, str]] = defaultdict(dict)
    for p in await pt.select(pt.id, n_col.as_alias("n"), getattr(pt, plans.display).as_alias("name")).where(
            n_col.is_not_null()):
        by_days[int(p["n"])][p["id"]] = str(p["name"] or p["id"])
    calendar, at = await calendar_of(ctx), now()
    created = skipped = 0
    for days, names in sorted(by_days.items()):
        threshold = calendar.add_working_days(at, days)
        rows = et.select(et.id).where(getattr(et, cfg["plan"]).is_in(sorted(names)))
        if flow.final:
            rows = rows.where(getattr(et, flow.state).not_in(list(flow.final)))
        due = getattr(tt, cfg["due"])
        query = tt.select(tt.id, getattr(tt, t.ref).as_alias("row"), getattr(tt, t.org).as_alias("org"),
                          due.as_alias("due")).where(
            getattr(tt, t.ref).is_in(rows), getattr(tt, t.state).is_in(list(t.open)), due.is_not_null(),
            due <= threshold, getattr(tt, t.org).is_not_null())
        if cfg.get("roles"):
            query = query.where(getattr(tt, t.role).is_in(list(cfg["roles"])))
        tasks = await query.order_by(tt.id)
        if not tasks:
            continue
        heads = {r["id"]: r for r in await et.select(et.id, getattr(et, cfg["plan"]).as_alias("plan"),
                                                     getattr(et, entity.display).as_alias(entity.display)).where(
            et.id.is_in(sorted({x["row"] for x in tasks})))}
        for task in tasks:
            row = heads[task["row"]]
            overdue = task["due"] <= at  # due now or past: 超期
            title = f"{'超期' if overdue else '任务'}预警：{names.get(row['plan'], '')}"
            text = (f"{entity.label}“{_shown(entity, row)}”的待办" +
                    (f"已于 {task['due']:%Y-%m-%d %H:%M} 超期" if overdue else f"将于 {task['due']:%Y-%m-%d %H:%M} 到期") +
                    f"（预案“{names.get(row['plan'], '')}”：剩余 {days} 个工作日内预警），请及时办理。")
            for user_id in await active_users(ctx, "org", {task["org"]}, None):
                key = f"{KEY}:task:{t.entity}:{task['id']}:{user_id}"
                if await _message(ctx, user_id, key, title, text, f"/workflow/{entity.name}/{row['id']}"):
                    created += 1
                else:
                    skipped += 1
    return created, skipped


async def run(ctx: "AppContext") -> dict[str, Any]:
    """The task warnings of every flow that declares `plan_warnings`, in one transaction."""
    created = skipped = 0
    async with write_transaction(ctx.table("message")._meta.db):
        for flow, cfg in configs(ctx.app):
            c, s = await _task_warnings(ctx, flow, cfg)
            created, skipped = created + c, skipped + s
    log.info("plan warnings: %s in-app messages, %s already there", created, skipped)
    return {"created": created, "sent": created, "skipped": skipped}


async def job(call) -> dict[str, Any]:
    """Job handler `workflow.plan_warnings`."""
    return await run(call.ctx)


# -- content warnings (hooks) --------------------------------------------------------------
def problem(app: Any, entity: Any, text: Any) -> str | None:
    """What is wrong with a content-warning condition (JSON text of a where clause), or None."""
    if text is None or not str(text).strip():
        return None
    try:
        clause = json.loads(text)
    except ValueError as e:
        return f"不是有效的 JSON（{e.msg}，第 {e.lineno} 行第 {e.colno} 列）"
    if not isinstance(clause, dict) or not clause:
        return '应为非空 JSON 对象，如 {"level": "major"}'
    return _clause_problem(app, entity, clause)


def _clause_problem(app: Any, entity: Any, clause: dict) -> str | None:
    for key, cond in clause.items():
        if key in ("or", "and"):
            if not isinstance(cond, list) or not cond or not all(isinstance(c, dict) and c for c in cond):
                return f"{key} 应为条件对象的数组"
            for c in cond:
                if found := _clause_problem(app, entity, c):
                    return found
            continue
        if not entity.has_field(key) or not entity.field(key).stored or entity.field(key).sensitive \
                or entity.field(key).type not in COMPARABLE:
            return f"{entity.label}没有可比较的字段 {key}"
        f = entity.field(key)
        ops = cond.items() if isinstance(cond, dict) else [("eq", cond)]
        if isinstance(cond, dict) and not cond:
            return f"字段 {key}（{f.label}）的条件为空"
        for op, value in ops:
            if op not in OPERATORS:
                return f"字段 {key}（{f.label}）的运算符 {op} 不可用（可用：{'、'.join(OPERATORS)}）"
            values = value if op == "in" else [value]
            if op == "in" and not isinstance(value, list):
                return f"字段 {key}（{f.label}）的 in 应为数组"
            for v in values:
                if v is None and op in ("eq", "not"):
                    continue
                if relative_dates.is_token(v) or op == "contains" and not isinstance(v, str):
                    return f"字段 {key}（{f.label}）的值 {json.dumps(v, ensure_ascii=False)} 不可用"
                wanted = COMPARABLE[f.type]
                if not isinstance(v, wanted) or isinstance(v, bool) and bool not in wanted:
                    return f"字段 {key}（{f.label}）的值 {json.dumps(v, ensure_ascii=False)} 类型不符"
                if f.type == "dict" and op != "contains":
                    keys = next((dict(d.items) for d in app.dictionaries if d.name == f.dict), {})
                    if v not in {str(k) for k in keys}:
                        return (f"字段 {key}（{f.label}）没有选项 {v}（可用："
                                + "、".join(f"{k}（{label}）" for k, label in keys.items()) + "）")
    return None


async def check_condition(event: WriteEvent) -> None:
    """before_create/before_update on every entity: a plan's content-warning condition must be usable."""
    for flow, cfg in configs(event.ctx.app):
        if not cfg.get("content") or plan_entity(event.ctx.app, flow, cfg).name != event.entity.name:
            continue
        text = (event.clean or {}).get(cfg["content"])
        found = problem(event.ctx.app, event.ctx.app.entity(flow.entity), text)
        if found:
            raise Invalid({cfg["content"]: f"{event.entity.field(cfg['content']).label}：{found}"})


async def content_warning(event: WriteEvent) -> None:
    """after_create/after_update on every entity: a row of a flow meeting its plan's condition notifies once."""
    ctx = event.ctx
    for flow, cfg in configs(ctx.app):
        if flow.entity != event.entity.name or not cfg.get("content") or event.row_id is None:
            continue
        entity, plans = event.entity, plan_entity(ctx.app, flow, cfg)
        et, pt = ctx.table(entity.name), ctx.table(plans.name)
        row = await et.select().where(et.id == event.row_id).first()
        if not row or row.get(cfg["plan"]) is None:
            continue
        state = row.get(flow.state)
        if cfg.get("states") and state not in cfg["states"] or not cfg.get("states") and state in flow.final:
            continue
        plan = await pt.select().where(pt.id == row[cfg["plan"]]).first()
        text = (plan or {}).get(cfg["content"])
        if not plan or not text or problem(ctx.app, entity, text):
            continue
        if not await et.exists().where(et.id == row["id"], where_of(et, json.loads(text))):
            continue
        org = plan.get(cfg["org"]) if cfg.get("org") else None
        org = org if org is not None else (row.get(cfg["owner"]) if cfg.get("owner") else None)
        if org is None:
            continue
        name = str(plan.get(plans.display) or plan["id"])
        title = f"内容预警：{name}"
        body = f"{entity.label}“{_shown(entity, row)}”符合预案“{name}”的内容预警条件，请关注。"
        for user_id in await active_users(ctx, "org", {org}, None):
            await _message(ctx, user_id, f"{KEY}:content:{entity.name}:{row['id']}:{plan['id']}:{user_id}",
                           title, body, f"/workflow/{entity.name}/{row['id']}")


# -- spec checks -------------------------------------------------------------------------
def _sections(spec: Any) -> Iterator[tuple[Any, str, dict, dict]]:
    for section in spec.sections("workflow"):
        for name, value in (section.value or {}).items():
            if isinstance(value, Mapping) and isinstance(value.get(KEY), Mapping):
                yield section, name, value, value[KEY]


def _kind(app: Any, entity: Any, name: str | None, types: tuple, to: str | None = None) -> str | None:
    if not entity.has_field(name or ""):
        return f"实体 {entity.name} 没有字段 {name}"
    f = entity.field(name)
    if f.type not in types or to and f.to != to:
        return f"{entity.name}.{name} 应为{'指向 ' + to + ' 的引用' if to else '/'.join(types)}"
    return None


def bad_fields(spec: Any) -> Iterator[Any]:
    """WF040: the plan ref, a plan field or the owner field is unknown or of the wrong kind."""
    app = spec.app
    entities = {e.name for e in app.entities}
    for section, name, value, cfg in _sections(spec):
        if value.get("entity") not in entities:
            continue
        row = app.entity(value["entity"])
        found = _kind(app, row, cfg.get("plan"), ("ref",))
        if found:
            yield spec.error(section, (name, KEY, "plan"), f"流程 {name}：预案预警的 plan：{found}")
            continue
        plans = app.entity(row.field(cfg["plan"]).to)
        wanted = {"warn_days": (plans, ("integer",), None), "content": (plans, ("string", "text"), None),
                  "org": (plans, ("ref",), "org"), "owner": (row, ("ref",), "org")}
        for key, (entity, types, to) in wanted.items():
            if cfg.get(key) is not None and (found := _kind(app, entity, cfg[key], types, to)):
                yield spec.error(section, (name, KEY, key), f"流程 {name}：预案预警的 {key}：{found}")
        if cfg.get("content") and not cfg.get("org") and not cfg.get("owner"):
            yield spec.error(section, (name, KEY), f"流程 {name}：内容预警须指明 org 或 owner（通知哪个单位）")


def bad_tasks(spec: Any) -> Iterator[Any]:
    """WF041: task warnings without the flow's `tasks:` or with a `due` that is no datetime of the task entity."""
    app = spec.app
    entities = {e.name for e in app.entities}
    for section, name, value, cfg in _sections(spec):
        if not cfg.get("warn_days"):
            continue
        tasks = value.get("tasks") or {}
        if tasks.get("entity") not in entities:
            yield spec.error(section, (name, KEY, "warn_days"), f"流程 {name}：任务预警须有流程的 tasks")
            continue
        found = _kind(app, app.entity(tasks["entity"]), cfg.get("due"), ("datetime", "date"))
        if found:
            yield spec.error(section, (name, KEY, "due" if cfg.get("due") else "warn_days"),
                             f"流程 {name}：任务预警的 due：{found}")


def bad_keys(spec: Any) -> Iterator[Any]:
    """WF042: `states` that are no states of the row's state field, or `roles` no roles of the task's role field."""
    app = spec.app
    entities = {e.name for e in app.entities}
    for section, name, value, cfg in _sections(spec):
        pairs = [("states", value.get("entity"), value.get("state"))]
        tasks = value.get("tasks") or {}
        pairs.append(("roles", tasks.get("entity"), tasks.get("role") or "role"))
        for key, entity, field in pairs:
            if not cfg.get(key) or entity not in entities or not app.entity(entity).has_field(field or ""):
                continue
            d = next((d for d in app.dictionaries if d.name == app.entity(entity).field(field).dict), None)
            known = {str(k) for k, _ in d.items} if d else set()
            for bad in [k for k in cfg[key] if d is not None and str(k) not in known]:
                yield spec.error(section, (name, KEY, key), f"流程 {name}：预案预警的 {key} 中 {bad} 不是 {entity}.{field} 的选项")


CHECKS = (Check("WF040", bad_fields, "预案预警字段"), Check("WF041", bad_tasks, "任务预警的待办时限"),
          Check("WF042", bad_keys, "预案预警的状态与角色"))
