"""Running one workflow action on one row: who may, from which state, guards, effects, the new state, the log.

The action arrives as a custom action of the row's screen (`handler: workflow.act`), so the grant,
the data scope, the declared parameters (422 by parameter), the row version and the operation log
are the service's, inside its write transaction. Here the flow decides: the row's state must be one
the action starts from (409 `当前状态“已办结”不能“交办”`), the actor must stand in one of the
action's relations to the row (403), the stored row must meet its guard (409). Then the row is
claimed by compare-and-set on its state (`UPDATE … WHERE id = :id AND state = :from`): a writer
that lost the race re-reads the row and judges the action again. Effects run in order (tasks made,
tasks moved by compare-and-set on their state, rows of other entities made or changed, fields set,
deadlines recomputed, messages sent), the new state is written (given, or derived from the tasks),
the effects of entering it run, and the log entity gets one row.
"""
from __future__ import annotations

import datetime as dt
import json
import secrets
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from specadmin.plugins.workflow.json_forms import validate_json
from specadmin.plugins.workflow.model import Flow, flows
from specadmin.plugins.workflow import sms
from specadmin.plugins.workflow.runs import record_version, version_of
from specadmin.runtime.attachments.store import SEPARATOR, attach_bytes, content
from specadmin.runtime.attachments.table import TABLE as ATTACHMENTS
from specadmin.runtime.calendar import deadlines
from specadmin.runtime.data.values import Invalid, check_rules, fits_column
from specadmin.runtime.data.where import matches, now as clock_now, where_of
from specadmin.runtime.entities.service import EntityService
from specadmin.runtime.errors import Conflict, Denied, NotFound
from specadmin.runtime.plugin import WriteEvent
from specadmin.specs.physical import ROW_VERSION, versioned

if TYPE_CHECKING:
    from specadmin.runtime.app.context import AppContext
    from specadmin.runtime.entities.service import ActionCall

ATTEMPTS = 5
_SERVICES: dict[tuple[int, str], Any] = {}
CONDITIONS = ("if", "unless", "if_params", "if_found")
_FLOWS: dict[int, tuple[Any, dict[str, Flow]]] = {}


def split_tags(text: str | None) -> set[str]:
    """The tags of `sys_org.tags` (separated by commas, Chinese commas or 、)."""
    return {t.strip() for t in (text or "").replace("，", ",").replace("、", ",").split(",") if t.strip()}


def strings_in(value: Any) -> list[str]:
    """Every string inside a (read-only) YAML value."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, Mapping):
        return [s for v in value.values() for s in strings_in(v)]
    if isinstance(value, (list, tuple)):
        return [s for v in value for s in strings_in(v)]
    return []


def flow_for(app: Any, entity: str) -> Flow | None:
    """The flow of an entity (parsed once per app model)."""
    cached = _FLOWS.get(id(app))
    if cached is None or cached[0] is not app:
        cached = _FLOWS[id(app)] = (app, {f.entity: f for f in flows(app)})
    return cached[1].get(entity)


def now() -> dt.datetime:
    return clock_now().replace(microsecond=0)


def state_label(ctx: "AppContext", flow: Flow, state: Any) -> str:
    d = ctx.app.entity(flow.entity).field(flow.state).dict
    return ctx.dict_label(d, state) if d else str(state)


def action_spec(service: Any, action: str) -> Any:
    """The screen's custom action of that name (label, params)."""
    return next((a for s in service.screens.values() for a in s.custom_actions if a.name == action), None)


def action_label(service: Any, flow: Flow, action: str, spec: dict | None) -> str:
    custom = action_spec(service, action)
    return (spec or {}).get("label") or (custom.label if custom else action)


class Run:
    """One action by one actor on one row."""

    def __init__(self, ctx: "AppContext", flow: Flow, service: Any, principal: Any, action: str, params: dict):
        self.ctx, self.flow, self.service, self.principal = ctx, flow, service, principal
        self.action, self.params = action, params or {}
        self.table = service.table
        self.pk = self.table._meta.primary_key
        self.at = now()
        self.mine: dict | None = None
        self.spec: dict = {}
        self.label = action
        self.custom = action_spec(service, action)
        self.created: list[int] = []
        self.found: dict | None = None
        self.entering = False
        self.orgs: dict[str, int | None] = {}
        self.notified: set[int] = set()  # the orgs this action gave a todo (in-app message; SMS by sms.py)

    # -- values -------------------------------------------------------------
    def value(self, expr: Any, row: dict, item: Any = None) -> Any:
        if isinstance(expr, (list, tuple)):
            return [self.value(e, row, item) for e in expr]
        if isinstance(expr, Mapping) and set(expr) == {"format"}:  # e.g. an event number {format: "SJ{now:%Y%m%d}{id:06d}"}
            return str(expr["format"]).format(now=self.at, id=row.get("id"), org=self.principal.org_id or 0)
        if not isinstance(expr, str) or not expr.startswith("$"):
            return expr
        head, _, rest = expr[1:].partition(".")
        p = self.principal
        if head == "user":
            return p.org_id if rest == "org" else (p.user_id or None)  # an API caller acts as no user
        if head == "now":
            return self.at
        if head == "today":
            return self.at.date()
        if head in ("superior", "top"):
            return self.orgs.get(head)
        source = {"params": self.params, "row": row, "task": self.mine or {}, "item": item,
                  "found": self.found or {}}.get(head)
        if head == "item" and not rest:
            return item
        if isinstance(source, dict):
            return source.get(rest)
        return expr

    def values(self, mapping: dict | None, row: dict, item: Any = None) -> dict[str, Any]:
        return {k: self.value(v, row, item) for k, v in (mapping or {}).items()}

    def clause(self, where: Any, row: dict, item: Any = None) -> Any:
        """A where clause with its `$` values resolved at every depth (inside `or`, `in`, `not`, ...)."""
        if isinstance(where, Mapping):
            return {k: self.clause(v, row, item) for k, v in where.items()}
        if isinstance(where, (list, tuple)):
            return [self.clause(v, row, item) for v in where]
        return self.value(where, row, item)

    def stamped(self, entity: Any, columns: dict[str, Any]) -> dict[str, Any]:
        """A new row's system fields (`system: created_at|now|updated_at|current_user`) the effect left unset,
        and its row version: rows the flow writes directly are stamped like rows written through the API."""
        for f in entity.fields:
            if f.name in columns or not f.stored:
                continue
            if f.system in ("created_at", "now", "updated_at"):
                columns[f.name] = self.at
            elif f.system == "current_user":
                columns[f.name] = self.principal.user_id or None
        if versioned(entity):
            columns[ROW_VERSION] = 1
        return columns

    # -- judging -------------------------------------------------------------
    async def judge(self, row: dict) -> None:
        """Whether the actor may take the action on the row as read (the detail's list of actions)."""
        await self.judge_state(row)
        await self.judge_actor(row)

    async def judge_state(self, row: dict) -> None:
        version = await version_of(self.ctx, self.flow, row["id"])
        spec = self.flow.actions(version).get(self.action)
        self.label = action_label(self.service, self.flow, self.action, spec)
        if spec is None:
            raise Conflict(f"该记录按流程版本 {version or self.flow.published} 办理，没有“{self.label}”操作")
        self.spec = spec
        state = row.get(self.flow.state)
        allowed = spec.get("from")
        if allowed is not None and state not in allowed:
            raise Conflict(f"当前状态“{state_label(self.ctx, self.flow, state)}”不能“{self.label}”")

    async def judge_actor(self, row: dict) -> None:
        spec = self.spec
        await self.relation(row)
        if spec.get("where") and not matches(row, spec["where"]):
            raise Conflict(spec.get("refuse_where") or f"不符合“{self.label}”的条件")

    async def relation(self, row: dict) -> None:
        """The actor must stand in one of the action's relations to the row (`who:`), or 403."""
        who = self.spec.get("who")
        self.mine = None
        if not who:
            return
        for rel in who:
            if await self._holds(rel, row):
                return
        raise Denied(self.spec.get("refuse") or f"您不是该记录“{self.label}”的办理人")

    async def _holds(self, rel: dict, row: dict) -> bool:
        p = self.principal
        if rel.get("roles") and not set(rel["roles"]) & set(p.roles):
            return False
        if "task" in rel:
            task = await self.my_task(row["id"], rel["task"])
            if task is not None and self.mine is None:
                self.mine = task
            return task is not None
        if "user" in rel:
            return row.get(rel["user"]) is not None and row.get(rel["user"]) == p.user_id
        if "org" in rel:
            return row.get(rel["org"]) is not None and row.get(rel["org"]) == p.org_id
        if "org_above" in rel:
            target = row.get(rel["org_above"])
            path = self.ctx.org_path(target) if target is not None else None
            return bool(p.org_id and path and f"/{p.org_id}/" in path)
        if "org_tag" in rel:
            return rel["org_tag"] in await self.org_tags(p.org_id)
        return bool(rel.get("anyone"))

    async def org_tags(self, org_id: int | None) -> set[str]:
        if org_id is None:
            return set()
        org = self.ctx.table("org")
        rows = await org.select(org.tags).where(org.id == org_id)
        return split_tags(rows[0]["tags"] if rows else "")

    async def my_task(self, row_id: int, want: dict) -> dict | None:
        t = self.flow.tasks
        tt = self.ctx.table(t.entity)
        q = tt.select().where(getattr(tt, t.ref) == row_id, getattr(tt, t.org) == self.principal.org_id)
        if want.get("roles"):
            q = q.where(getattr(tt, t.role).is_in(list(want["roles"])))
        states = want.get("states") or list(t.open)
        if states:
            q = q.where(getattr(tt, t.state).is_in(list(states)))
        rows = await q.order_by(tt._meta.primary_key).limit(1)
        return rows[0] if rows else None

    # -- the transition -------------------------------------------------------
    async def read(self, row_id: int) -> dict:
        rows = await self.table.select().where(self.pk == row_id)
        if not rows:
            raise NotFound()
        return self.service._plain(rows[0])

    async def claim(self, row: dict) -> bool:
        """Compare-and-set on the row's state: written (and locked until commit) only if unchanged."""
        col = getattr(self.table, self.flow.state)
        bump = {}
        if versioned(self.service.entity):
            counter = getattr(self.table, ROW_VERSION)
            bump = {counter: counter + 1}
        else:
            bump = {col: col}
        state = row.get(self.flow.state)
        cond = col.is_null() if state is None else col == state
        done = await self.table.update(bump).where(self.pk == row["id"], cond).returning(self.pk)
        return bool(done)

    async def execute(self, row: dict) -> dict[str, Any]:
        for _ in range(ATTEMPTS):
            await self.judge_state(row)
            if await self.claim(row):
                break
            row = await self.read(row["id"])  # another action got there first: judge it again as it now is
        else:
            raise Conflict(f"{self.service.entity.label}状态已变化，请刷新后重试")
        # Claimed: the row is locked until commit and its tasks change only under that lock, so who may
        # act and the guard are judged on what is stored now.
        row = await self.read(row["id"])
        await self.judge_actor(row)
        before = row.get(self.flow.state)
        await record_version(self.ctx, self.flow, row["id"])
        await self.escalation_targets()
        changed: dict[str, Any] = {}
        for effect in self.spec.get("effects") or ():
            changed |= await self.effect(effect, row)
            row.update(changed)
        target = self.spec.get("to")
        if target == "derive" or target is None and self.flow.derive and before in self.flow.derive.states:
            target = await self.derived(row["id"], before)
        if target is not None and target != before:
            await self.set_state(row["id"], before, target)
            row[self.flow.state] = changed[self.flow.state] = target
            self.entering = True
            for effect in self.flow.enter.get(target) or ():
                changed |= await self.effect(effect, row)
                row.update(changed)
        await self.write_log(row)
        await sms.send(self, row)
        return {"changed": changed, "result": {"state": row.get(self.flow.state),
                                               "state_label": state_label(self.ctx, self.flow, row.get(self.flow.state))}}

    async def set_state(self, row_id: int, before: Any, target: Any) -> None:
        col = getattr(self.table, self.flow.state)
        cond = col.is_null() if before is None else col == before
        if not await self.table.update({col: target}).where(self.pk == row_id, cond).returning(self.pk):
            raise Conflict(f"{self.service.entity.label}状态已变化，请刷新后重试")

    async def derived(self, row_id: int, current: Any) -> Any:
        """The state the tasks say: none counted → `none`, any open → `outstanding`, all done → `all_done`."""
        d, t = self.flow.derive, self.flow.tasks
        if d is None or t is None:
            return current
        tt = self.ctx.table(t.entity)
        rows = await tt.select(getattr(tt, t.state).as_alias("s")).where(
            getattr(tt, t.ref) == row_id, getattr(tt, t.role).is_in(list(d.roles)))
        states = [r["s"] for r in rows if r["s"] in t.open or r["s"] in t.done]
        if not states:
            return d.none or current
        if any(s in t.open for s in states):
            return d.outstanding or current
        return d.all_done or current

    # -- other rows' hooks -----------------------------------------------------------
    def service_of(self, entity: str) -> Any:
        if entity == self.service.entity.name:
            return self.service
        key = (id(self.ctx), entity)
        found = _SERVICES.get(key)
        if found is None or found.ctx is not self.ctx:
            found = _SERVICES[key] = EntityService(self.ctx, entity)
        return found

    async def hooks(self, when: str, kind: str, entity: str, row_id: int, columns: dict | None = None,
                    before: dict | None = None) -> None:
        """The plugins' hooks around a row the flow writes directly (a task, a review, a log row), as around
        any write: outbound feeds, event-driven notifications, attachments follow it."""
        await self.ctx.plugins.run_hooks(f"{when}_{kind}", WriteEvent(
            kind, self.service_of(entity), self.principal, row_id, data=dict(columns or {}),
            clean=dict(columns or {}), columns=dict(columns or {}), before=before))

    # -- effects ------------------------------------------------------------------
    def applies(self, effect: dict, row: dict) -> bool:
        """An effect's conditions: `if` / `unless` (where clauses on the row, `$` values resolved) and
        `if_params` (a where clause on the action's parameters)."""
        if "if_found" in effect and bool(self.found) != bool(effect["if_found"]):
            return False  # first: `if`/`unless` may read `$found`
        if "if" in effect and not matches(row, self.clause(effect["if"], row)):
            return False
        if "unless" in effect and matches(row, self.clause(effect["unless"], row)):
            return False
        return "if_params" not in effect or matches(self.params, effect["if_params"])

    async def effect(self, effect: dict, row: dict) -> dict[str, Any]:
        if not self.applies(effect, row):
            return {}
        kind, body = next((k, v) for k, v in effect.items() if k not in CONDITIONS)
        if kind == "deadline" and isinstance(body, Mapping):
            return await self.set_deadline(body, row)
        if kind == "find":
            await self.find(body, row)
            return {}
        if kind == "refuse":  # the effect's conditions say when: 422 on a field, else 409
            if body.get("field"):
                raise Invalid({body["field"]: body["message"]})
            raise Conflict(body["message"])
        if kind == "validate_json":
            f = self.service.entity.field(body["field"])
            validate_json(f.name, f.label, row.get(f.name), self.value(body["schema"], row))
            return {}
        if kind == "set":
            values = self.values(body, row)
            entity = self.service.entity
            written = {k: v for k, v in values.items() if entity.field(k).type != "file"}
            encoded = self.ctx.sensitive.encode(entity, written)
            await self.table.update({getattr(self.table, k): v for k, v in encoded.items()}).where(self.pk == row["id"])
            return written
        if kind == "deadline":
            return await deadlines.recompute(self.ctx, self.flow.entity, row["id"])
        if kind == "create_tasks":
            await self.create_tasks(body, row)
        elif kind == "tasks":
            await self.move_tasks(body, row)
        elif kind == "create":
            await self.create_row(body, row)
        elif kind == "update":
            await self.update_rows(body, row)
        elif kind == "notify":
            orgs = body.get("orgs")
            if isinstance(orgs, Mapping):  # {tasks: {roles, states}}: the orgs holding such tasks
                want = orgs.get("tasks") or {}
                orgs = sorted({t[self.flow.tasks.org] for t in await self.tasks_of(row["id"], want.get("roles"),
                                                                                   want.get("states"))})
            else:
                orgs = self.value(orgs, row)
            await self.notify(orgs if isinstance(orgs, list) else [orgs], body, row)
        return {}

    def _items(self, expr: Any, row: dict) -> list:
        value = self.value(expr, row)
        name = expr[len("$params."):] if isinstance(expr, str) and expr.startswith("$params.") else None
        if isinstance(value, str):
            try:
                value = json.loads(value) if value.strip() else []
            except ValueError:
                raise Invalid({name or "params": f"{self._param_label(name)}：应为 JSON 列表"}) from None
        if value is None:
            return []
        return value if isinstance(value, list) else [value]

    def _param_label(self, name: str | None) -> str:
        if self.custom is not None and name:
            p = next((p for p in self.custom.params if p.name == name), None)
            if p is not None:
                return p.label
        return name or "参数"

    async def create_tasks(self, body: dict, row: dict) -> None:
        t = self.flow.tasks
        tt = self.ctx.table(t.entity)
        org = self.ctx.table("org")
        expr = body.get("each", "$item")
        name = expr[len("$params."):] if isinstance(expr, str) and expr.startswith("$params.") else "params"
        items = self._items(expr, row)
        allowed_roles = body.get("roles")
        for i, item in enumerate(items, 1):
            org_id = self.value(body.get("org", "$item"), row, item)
            role = self.value(body.get("role"), row, item)
            if isinstance(org_id, bool) or not isinstance(org_id, int) or not await org.exists().where(org.id == org_id):
                raise Invalid({name: f"{self._param_label(name)}：第 {i} 项的单位不存在"})
            known = self.ctx.dict_labels.get(self.ctx.app.entity(t.entity).field(t.role).dict or "", None)
            if (not isinstance(role, str) or allowed_roles and role not in allowed_roles
                    or known is not None and role not in known):
                raise Invalid({name: f"{self._param_label(name)}：第 {i} 项的角色不可选"})
            open_states = list(t.open) or [t.initial]
            if await tt.exists().where(getattr(tt, t.ref) == row["id"], getattr(tt, t.org) == org_id,
                                       getattr(tt, t.role) == role, getattr(tt, t.state).is_in(open_states)):
                continue  # that org already holds this open task
            columns = {t.ref: row["id"], t.org: org_id, t.role: role, t.state: body.get("state", t.initial)}
            if t.parent and self.mine and not self.entering:  # what a state's entry makes hangs from no task
                columns[t.parent] = self.mine["id"]
            if t.dispatcher:
                columns[t.dispatcher] = self.principal.org_id
            entity = self.ctx.app.entity(t.entity)
            given = self.values(body.get("set"), row, item)
            for key, expr in (body.get("set") or {}).items():  # what the actor wrote in the list: held to the field
                if isinstance(expr, str) and expr.startswith("$item.") and given[key] is not None:
                    problem = self.item_problem(entity.field(key), given[key])
                    if problem:
                        raise Invalid({name: f"{self._param_label(name)}：第 {i} 项的{entity.field(key).label}{problem}"})
            columns |= given
            columns = self.stamped(entity, columns)
            encoded = self.ctx.sensitive.encode(entity, columns)
            task_id = (await tt.insert(tt(**encoded)).returning(tt._meta.primary_key))[0]["id"]
            self.created.append(task_id)
            if deadlines.deadline_fields(entity):
                await deadlines.recompute(self.ctx, t.entity, task_id)
            await self.hooks("after", "create", t.entity, task_id, columns)
            if body.get("notify", True):
                await self.notify([org_id], body.get("message") or {}, row)

    @staticmethod
    def item_problem(field: Any, value: Any) -> str | None:
        if field.type in ("string", "text"):
            return "应为文字" if not isinstance(value, str) else check_rules(field, value) and f"：{check_rules(field, value)}"
        if field.type == "integer":
            return "应为整数" if isinstance(value, bool) or not isinstance(value, int) else (
                check_rules(field, value) and f"：{check_rules(field, value)}")
        return "不能由列表填写"

    async def move_tasks(self, body: dict, row: dict) -> None:
        """Change task states by compare-and-set: `which: mine` (the actor's task), `open` (every open
        task, `roles:` narrowing), `created` (made by this action), or `$params.<x>` (a task of this row)."""
        t = self.flow.tasks
        tt = self.ctx.table(t.entity)
        tpk = tt._meta.primary_key
        which = body.get("which", "mine")
        if which in ("mine", "parent"):
            if self.mine is None:
                raise Conflict(f"您没有可“{self.label}”的待办")
            targets = [self.mine]
            if which == "parent":
                parent = self.mine.get(t.parent) if t.parent else None
                targets = await tt.select().where(tpk == parent, getattr(tt, t.ref) == row["id"]) if parent else []
            kept = [x for x in targets if (not body.get("roles") or x[t.role] in body["roles"])
                    and (not body.get("states") or x[t.state] in body["states"])
                    and (not body.get("where") or matches(x, self.clause(body["where"], row, x)))]
            if which == "parent" and not kept:
                raise Conflict(f"所审核的待办已变化，不能“{self.label}”")
            targets = kept  # one's own task of another role or state is left as it is
        else:
            q = tt.select().where(getattr(tt, t.ref) == row["id"])
            if which == "open":
                q = q.where(getattr(tt, t.state).is_in(list(body.get("states") or t.open)))
            elif isinstance(which, str) and which.startswith("$"):
                task_id = self.value(which, row)
                fits = isinstance(task_id, int) and not isinstance(task_id, bool) and fits_column(tpk, task_id)
                q = q.where(tpk == task_id) if fits else q.where(tpk == -1)
            if body.get("roles"):
                q = q.where(getattr(tt, t.role).is_in(list(body["roles"])))
            if body.get("states") and which != "open":
                q = q.where(getattr(tt, t.state).is_in(list(body["states"])))
            targets = await q.order_by(tpk)
            if body.get("where"):
                targets = [x for x in targets if matches(x, self.clause(body["where"], row, x))]
            if not targets and isinstance(which, str) and which.startswith("$params."):
                param = which[len("$params."):]
                raise Invalid({param: f"{self._param_label(param)}：不是该记录可“{self.label}”的待办"})
        for task in targets:
            cond = getattr(tt, t.state) == task[t.state]
            if body.get("delete"):
                await self.hooks("before", "delete", t.entity, task["id"], before=task)
                done = await tt.delete().where(tpk == task["id"], cond).returning(tpk)
                if done:
                    await self.hooks("after", "delete", t.entity, task["id"], before=task)
            else:
                values = self.values(body.get("set"), row, task)
                if body.get("to"):
                    values[t.state] = body["to"]
                encoded = self.ctx.sensitive.encode(self.ctx.app.entity(t.entity), values)
                done = await tt.update({getattr(tt, k): v for k, v in encoded.items()}).where(
                    tpk == task["id"], cond).returning(tpk)
                if done:
                    await self.hooks("after", "update", t.entity, task["id"], values, before=task)
            if not done:
                raise Conflict("待办状态已变化，请刷新后重试")

    async def create_row(self, body: dict, row: dict) -> None:
        entity = self.ctx.app.entity(body["entity"])
        t = self.ctx.table(entity.name)
        columns = self.stamped(entity, self.values(body.get("set"), row))
        new_id = (await t.insert(t(**self.ctx.sensitive.encode(entity, columns))).returning(t._meta.primary_key))[0]["id"]
        await self.hooks("after", "create", entity.name, new_id, columns)

    async def update_rows(self, body: dict, row: dict) -> None:
        """`update: {entity, ref, where, set}`: the row's rows of another entity (its reviews) changed one by
        one, each followed by the plugins' after-update hooks (feeds, notifications) as any flow write."""
        entity = self.ctx.app.entity(body["entity"])
        t = self.ctx.table(entity.name)
        pk = t._meta.primary_key
        values = self.values(body.get("set"), row)
        encoded = {getattr(t, k): v for k, v in self.ctx.sensitive.encode(entity, values).items()}
        q = t.select().where(getattr(t, body["ref"]) == row["id"])
        if body.get("where"):
            q = q.where(where_of(t, self.clause(body["where"], row)))
        for before in await q.order_by(pk):
            await t.update(encoded).where(pk == before["id"])
            await self.hooks("after", "update", entity.name, before["id"], values, before=before)

    async def notify(self, orgs: list, message: dict, row: dict) -> None:
        """An in-app message (站内消息) to every active user of each org."""
        user, msg = self.ctx.table("user"), self.ctx.table("message")
        entity = self.service.entity
        shown = row.get(entity.display) if entity.has_field(entity.display) else None
        title = message.get("title") or f"待办：{self.label}"
        text = message.get("text") or f"{entity.label}“{shown or row['id']}”需要您单位办理（{self.label}）。"
        wanted = [o for o in orgs if isinstance(o, int)]
        self.notified.update(wanted)
        if not wanted:
            return
        people = await user.select(user.id).where(user.org.is_in(wanted), user.active == True)  # noqa: E712
        for person in people:
            key = f"workflow:{entity.name}:{row['id']}:{self.action}:{person['id']}:{secrets.token_hex(8)}"
            await msg.insert(msg(recipient=person["id"], title=title[:200], body=text,
                                 link=f"/workflow/{entity.name}/{row['id']}", sent_at=self.at,
                                 notification="", day=self.at.date(), dedupe_key=key[:200]))

    async def tasks_of(self, row_id: int, roles=None, states=None) -> list[dict]:
        t = self.flow.tasks
        tt = self.ctx.table(t.entity)
        q = tt.select().where(getattr(tt, t.ref) == row_id)
        if roles:
            q = q.where(getattr(tt, t.role).is_in(list(roles)))
        q = q.where(getattr(tt, t.state).is_in(list(states or t.open)))
        return await q.order_by(tt._meta.primary_key)

    async def find(self, body: dict, row: dict) -> None:
        """Load the newest row of `entity` meeting `where` (`$` values resolved) as `$found` (multi refs as id lists)."""
        entity = self.ctx.app.entity(body["entity"])
        t = self.ctx.table(entity.name)
        q = t.select()
        if body.get("where"):
            q = q.where(where_of(t, self.clause(body["where"], row)))
        rows = await q.order_by(t._meta.primary_key, ascending=False).limit(1)
        if not rows and body.get("missing"):
            raise Conflict(body["missing"])
        self.found = None
        if rows:
            found = dict(rows[0])
            for f in entity.fields:
                if f.type == "multi_ref":
                    join = self.ctx.join_table(entity.name, f.name)
                    found[f.name] = [r["target"] for r in await join.select(join.target).where(
                        join.owner == found["id"]).order_by(join.target)]
            self.found = found

    async def set_deadline(self, body: dict, row: dict) -> dict[str, Any]:
        """`deadline: {field, value}`: a deadline field set to a given moment (an approved extension), its
        warning moment recomputed on the working-day calendar from the field's own start."""
        entity = self.service.entity
        f = entity.field(body["field"])
        due = self.value(body.get("value"), row)
        if isinstance(due, dt.date) and not isinstance(due, dt.datetime):
            due = dt.datetime.combine(due, dt.time(23, 59, 59))
        if not isinstance(due, dt.datetime):
            raise Conflict(f"“{self.label}”没有新的{f.label}")
        values: dict[str, Any] = {f.name: due}
        if getattr(f, "lights", None):
            spec = f.deadline or {}
            start = row.get(spec.get("from")) if spec.get("from") not in (None, "$now") else None
            calendar = await deadlines.calendar_of(self.ctx)
            values[f"{f.name}_warn_at"] = deadlines.warn_at(calendar, start or self.at, due,
                                                             await deadlines.yellow_of(self.ctx, f))
        await self.table.update({getattr(self.table, k): v for k, v in values.items()}).where(self.pk == row["id"])
        return {f.name: due}

    async def escalation_targets(self) -> None:
        """`$superior`: the actor's org's parent, passing over orgs of `escalation.skip_types` (a town's
        government above its ops centre), and the org tagged `top_tag` instead of the root; reaching that
        top org is for orgs whose tag or org type is in `top_from` (else 403). `$top`: the top org.
        Read only when the action names them."""
        text = " ".join(strings_in(self.spec))
        if "$superior" not in text and "$top" not in text:
            return
        esc = self.flow.escalation or {}
        org = self.ctx.table("org")
        tag = esc.get("top_tag")
        top = None
        if tag:
            for r in await org.select(org.id, org.tags).where(org.tags.like(f"%{tag}%")).order_by(org.id):
                if tag in split_tags(r["tags"]):
                    top = r["id"]
                    break
        self.orgs["top"] = top
        if "$superior" not in text:
            return
        rows = {}

        async def get(org_id):
            if org_id not in rows:
                found = await org.select(org.id, org.parent, org.org_type, org.tags).where(org.id == org_id)
                rows[org_id] = found[0] if found else None
            return rows[org_id]

        me = await get(self.principal.org_id) if self.principal.org_id else None
        up = await get(me["parent"]) if me and me["parent"] else None
        while up is not None and up["org_type"] in (esc.get("skip_types") or ()) and up["parent"]:
            up = await get(up["parent"])
        superior = None if up is None else top if up["parent"] is None and top else up["id"]
        if superior is None or superior == self.principal.org_id:
            raise Conflict(f"没有可“{self.label}”的上级单位")
        allowed = esc.get("top_from")
        if superior == top and allowed and not ({me["org_type"]} | split_tags(me["tags"])) & set(allowed):
            raise Denied(f"只有{'、'.join(allowed)}可以上报到{tag}")
        self.orgs["superior"] = superior

    async def action_files(self) -> list[dict]:
        """The file records this action's file parameters carry, uploaded by the actor for this row's
        entity (still staged, or already the row's through runtime/attachments), in upload order."""
        ids = [i for p in (self.custom.params if self.custom else ()) if p.type == "file"
               for i in (self.params.get(p.name) or []) if isinstance(i, int) and not isinstance(i, bool)]
        if not ids:
            return []
        t = self.ctx.runtime_table(ATTACHMENTS)
        return await t.select().where(t.id.is_in(ids), t.entity == self.service.entity.name,
                                      t.uploaded_by == (self.principal.user_id or None)).order_by(t.id)

    async def keep_files(self, entity: Any, log_id: int, field: str, records: list[dict]) -> None:
        """The action's files copied onto the log row's file field: each step keeps its own files,
        read and downloaded through the flow's row (routes.py), whatever later happens to the row's."""
        copies = [(r["name"], await content(self.ctx, r)) for r in records]
        try:
            await attach_bytes(self.ctx, self.principal, entity, {"id": log_id}, entity.field(field), copies)
        except ValueError as exc:  # the log's field refuses what the action's parameter took (type, size, count)
            raise Invalid({"files": str(exc)}) from None

    async def write_log(self, row: dict) -> None:
        log = self.flow.log
        if log is None:
            return
        lt = self.ctx.table(log.entity)
        spec_log = self.spec.get("log") or {}
        opinion = self.value(spec_log.get("opinion", "$params.opinion"), row)
        what = {"at": self.at, "operator": self.principal.user_id or None, "operator_name": self.principal.name,
                "org": self.principal.org_id, "action": self.action, "label": self.label,
                "opinion": opinion if isinstance(opinion, str) else None,
                "channel": self.value(spec_log.get("channel", "local"), row)}
        entity = self.ctx.app.entity(log.entity)
        records = await self.action_files() if "files" in log.fields else []
        if records:
            what["files"] = SEPARATOR.join(r["name"] for r in records)
        columns = {log.ref: row["id"]} | {f: what[k] for k, f in log.fields.items() if k in what}
        columns = self.stamped(entity, columns)
        log_id = (await lt.insert(lt(**self.ctx.sensitive.encode(entity, columns))).returning(lt._meta.primary_key))[0]["id"]
        if records and entity.field(log.fields["files"]).type == "file":
            await self.keep_files(entity, log_id, log.fields["files"], records)
        await self.hooks("after", "create", log.entity, log_id, columns)


async def act(call: "ActionCall") -> dict[str, Any]:
    """Handler `workflow.act`: the custom action `call.action` of the row's flow."""
    flow = flow_for(call.ctx.app, call.service.entity.name)
    if flow is None:
        raise Conflict(f"“{call.service.entity.label}”没有声明流程")
    run = Run(call.ctx, flow, call.service, call.principal, call.action, call.params)
    return await run.execute(call.row)
