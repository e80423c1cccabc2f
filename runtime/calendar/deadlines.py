"""Deadline fields (`deadline:` on a datetime field, specs/lights.py) stored when a row is written.

`stamp_deadlines` is an entity hook on every entity (before create and update, so the values go
into the same statement as the row): on create, and on an update that changes the deadline's
`from` field or the field (or ref) its amount comes from, it computes the deadline with the app's
working-day calendar and, for a field with `lights:`, the moment its light turns yellow
(`<field>_warn_at`). `recompute(ctx, entity, row_id)` does the same for a stored row (an extension
handler changes the amount, then calls it; EntityService updates do it by themselves).
A yellow amount may come from a parameter row (`yellow: {working_days: 1, param: {entity, code}}`,
`yellow_of`); `restamp_for_param` (after any write of that entity's row) recomputes the warning
moments of every row not yet done, so the 临期 lights and counters follow the parameter.
Spreadsheet imports write in bulk without entity hooks: `fill_missing` (the job handler
`calendar.fill_deadlines`) computes the deadlines such rows lack.
"""
from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any, Mapping

from specadmin.runtime.calendar.days import calendar_of
from specadmin.runtime.calendar.worktime import CalendarError, WorkCalendar
from specadmin.runtime.data import where
from specadmin.runtime.data.values import Invalid
from specadmin.specs import lights

if TYPE_CHECKING:
    from specadmin.runtime.app.context import AppContext
    from specadmin.runtime.plugin import WriteEvent
    from specadmin.specs.model import Entity, Field


def deadline_fields(entity: "Entity") -> list["Field"]:
    return [f for f in entity.fields if f.deadline]


def sources(f: "Field") -> set[str]:
    """The fields of the row a deadline depends on."""
    spec = f.deadline
    unit, amount = lights.unit_of(spec)
    names = {spec["from"]} if spec["from"] != "$now" else set()
    if isinstance(amount, str):
        names.add(amount.split(".")[0])
    return names


async def _amount(ctx: "AppContext", entity: "Entity", row: Mapping, amount: Any) -> float | None:
    if not isinstance(amount, str):
        return amount
    head, _, rest = amount.partition(".")
    value = row.get(head)
    if not rest or value is None:
        return value
    target = ctx.table(entity.field(head).to)  # a ref by id (SA166): one hop to the target's number
    rows = await target.select(getattr(target, rest)).where(target._meta.primary_key == value)
    return rows[0][rest] if rows else None


async def values_for(ctx: "AppContext", entity: "Entity", row: Mapping, fields=None,
                     calendar: WorkCalendar | None = None) -> dict[str, Any]:
    """The deadline columns (and warning moments) of `row` as it stands: {column: value}."""
    out: dict[str, Any] = {}
    for f in fields if fields is not None else deadline_fields(entity):
        spec = f.deadline
        start = where.now() if spec["from"] == "$now" else row.get(spec["from"])
        if isinstance(start, dt.date) and not isinstance(start, dt.datetime):
            start = dt.datetime.combine(start, dt.time.min)
        unit, raw = lights.unit_of(spec)
        amount = await _amount(ctx, entity, row, raw)
        amount = None if amount is None else float(amount)  # a decimal field's Decimal too
        due = warn = None
        if start is not None and amount is not None:
            calendar = calendar or await calendar_of(ctx)
            try:
                due = calendar.add(start, unit, amount)
                if f.lights:
                    warn = warn_at(calendar, start, due, await yellow_of(ctx, f))
            except CalendarError as exc:
                raise Invalid({f.name: f"{f.label}：{exc}"}) from None
            except OverflowError:  # a start near 9999-12-31
                raise Invalid({spec["from"] if spec["from"] != "$now" else f.name:
                               f"{f.label}：按此时间计算的时限超出日期范围"}) from None
        out[f.name] = due
        if f.lights:
            out[lights.warn_field(f.name)] = warn
    return out


MAX_AMOUNT = 3650


def _usable(raw: Any, unit: str) -> float | None:
    """A parameter's text as an amount of `unit`, or None when it is not one (left to the next source)."""
    try:
        amount = float(str(raw).strip())
    except (TypeError, ValueError):
        return None
    if not 0 <= amount <= MAX_AMOUNT or unit == "ratio" and not 0 < amount <= 1:
        return None
    if unit in ("working_days", "days") and not amount.is_integer():
        return None
    return amount


async def yellow_of(ctx: "AppContext", f: "Field") -> Mapping:
    """The field's `yellow` with its amount read from the parameter row it names: the row's value, else
    its fallback (default value), else the amount written beside `param`."""
    yellow = f.lights["yellow"]
    param = lights.param_of(yellow)
    found = lights.unit_of(yellow, lights.YELLOW_UNITS)
    if param is None or found is None:
        return yellow
    unit, given = found
    entity = ctx.app.entity(param["entity"])
    table = ctx.table(entity.name)
    names = [n for n in (param["value"], param["fallback"]) if entity.has_field(n)]
    rows = await table.select(*(getattr(table, n) for n in names)).where(
        getattr(table, param["key"]) == param["code"]).limit(1)
    for name in names if rows else ():
        amount = _usable(rows[0][name], unit)
        if amount is not None:
            return {unit: amount}
    return {unit: given}


_PARAM_USERS: dict[int, tuple[Any, dict[str, list]]] = {}


def param_users(app: Any, entity_name: str) -> list[tuple[Any, Any, dict]]:
    """(entity, field, param) of every lights field whose yellow reads a row of `entity_name` (once per model:
    it is asked after every write)."""
    cached = _PARAM_USERS.get(id(app))
    if cached is None or cached[0] is not app:
        by_entity: dict[str, list] = {}
        for entity in app.entities:
            for f in entity.fields:
                param = lights.param_of(f.lights["yellow"]) if f.lights else None
                if param is not None:
                    by_entity.setdefault(param["entity"], []).append((entity, f, param))
        cached = _PARAM_USERS[id(app)] = (app, by_entity)
    return cached[1].get(entity_name, [])


RESTAMP_BATCH = 500


async def restamp(ctx: "AppContext", entity: "Entity", f: "Field") -> int:
    """The warning moment of every row of `entity` with a deadline in `f` and not done, computed again
    from its start and deadline with the yellow as it reads now; returns the rows changed."""
    yellow = await yellow_of(ctx, f)
    calendar = await calendar_of(ctx)
    table = ctx.table(entity.name)
    pk, due, warn = table._meta.primary_key, getattr(table, f.name), getattr(table, lights.warn_field(f.name))
    source = f.deadline["from"] if f.deadline["from"] != "$now" else None
    columns = [pk, due, warn] + ([getattr(table, source)] if source else [])
    open_rows = lights.not_done_clause(f.lights)
    changed, last = 0, 0
    while True:
        q = table.select(*columns).where(due.is_not_null(), pk > last)
        if open_rows:
            q = q.where(where.where_of(table, open_rows))
        rows = await q.order_by(pk).limit(RESTAMP_BATCH)
        if not rows:
            return changed
        for row in rows:
            start = row.get(source) if source else None
            if isinstance(start, dt.date) and not isinstance(start, dt.datetime):
                start = dt.datetime.combine(start, dt.time.min)
            try:
                moment = warn_at(calendar, start or row[f.name], row[f.name], yellow)
            except (CalendarError, OverflowError):
                continue
            if moment != row[lights.warn_field(f.name)]:
                await table.update({warn: moment}).where(pk == row["id"])
                changed += 1
        last = rows[-1]["id"]


async def restamp_for_param(event: "WriteEvent") -> None:
    """After a parameter row is written or deleted: the warning moments that read it follow it."""
    users = param_users(event.ctx.app, event.entity.name)
    if not users:
        return
    now_row = {**(event.before or {}), **event.clean, **event.columns}
    for entity, f, param in users:
        if param["code"] in (now_row.get(param["key"]), (event.before or {}).get(param["key"])):
            await restamp(event.ctx, entity, f)


def warn_at(calendar: WorkCalendar, start: dt.datetime, due: dt.datetime, yellow: Mapping) -> dt.datetime:
    """When the light turns yellow: `yellow` (working) time before the deadline, or the last `ratio` of it."""
    unit, amount = lights.unit_of(yellow, lights.YELLOW_UNITS)
    if unit == "ratio":
        return due - (due - start) * amount
    if unit == "working_hours":
        return calendar.sub_working_hours(due, amount)
    if unit == "working_days":
        return calendar.sub_working_days(due, amount)
    return due - dt.timedelta(**{unit: amount})


async def stamp_deadlines(event: "WriteEvent") -> None:
    fields = deadline_fields(event.entity)
    if event.kind == "update":
        fields = [f for f in fields if event.changes(*sources(f))]
    if not fields:
        return
    row = {**(event.before or {}), **event.clean, **event.columns}
    event.columns.update(await values_for(event.ctx, event.entity, row, fields))


async def recompute(ctx: "AppContext", entity_name: str, row_id: int) -> dict[str, Any]:
    """Compute and store the deadlines of one stored row again (after an extension); returns them."""
    entity = ctx.app.entity(entity_name)
    table = ctx.table(entity_name)
    rows = await table.select().where(table._meta.primary_key == row_id)
    if not rows or not deadline_fields(entity):
        return {}
    values = await values_for(ctx, entity, rows[0])
    await table.update({getattr(table, k): v for k, v in values.items()}).where(table._meta.primary_key == row_id)
    return values


FILL_BATCH = 500


async def fill_missing(ctx: "AppContext") -> int:
    """Compute every deadline left empty although its start is known (rows written in bulk); returns rows set."""
    done = 0
    calendar = None
    for entity in ctx.app.entities:
        fields = deadline_fields(entity)
        if not fields:
            continue
        table = ctx.table(entity.name)
        empty = [getattr(table, f.name).is_null() for f in fields]
        condition = empty[0]
        for part in empty[1:]:
            condition = condition | part
        last = 0
        while True:
            pk = table._meta.primary_key
            rows = await table.select().where(condition & (pk > last)).order_by(pk).limit(FILL_BATCH)
            if not rows:
                break
            calendar = calendar or await calendar_of(ctx)
            async with ctx.engine.transaction():
                for row in rows:
                    try:
                        values = await values_for(ctx, entity, row, calendar=calendar)
                    except Invalid:  # a start or amount no deadline can follow from: left empty
                        continue
                    missing = {k: v for k, v in values.items() if v is not None and row.get(k) is None}
                    if missing:
                        await table.update({getattr(table, k): v for k, v in missing.items()}).where(pk == row["id"])
                        done += 1
            last = rows[-1]["id"]
    return done


async def fill_deadlines_job(call) -> dict:
    return {"created": 0, "summary": f"补算时限 {await fill_missing(call.ctx)} 条"}
