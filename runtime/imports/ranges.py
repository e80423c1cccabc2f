"""Delete by range (Kaiping §2.4): rows whose collection or import time lies in [start, end).

Only inside the user's delete scope, only on fields the screen declares in delete_by_range,
never when the screen's import switch is off; one operation-log entry with range and count.
"""
from __future__ import annotations

import datetime as dt
from typing import Any

from specadmin.runtime.data import audit
from specadmin.runtime.entities.service import EntityService
from specadmin.runtime.errors import BadRequest
from specadmin.runtime.data.values import DATE_RANGE_PROBLEM, date_in_range
from specadmin.runtime.data.where import combine_and
from specadmin.runtime.imports.cells import parse_datetime


def _condition(service: EntityService, principal, screen: str | None, field: str, start: Any, end: Any):
    grants = service.grants(principal, "delete", screen)
    allowed = {f for s, _ in grants for f in s.delete_by_range}
    if field not in allowed:
        raise BadRequest(f"不能按“{field}”范围删除")
    try:
        low, high = parse_datetime(start), parse_datetime(end)
    except ValueError as exc:
        raise BadRequest(f"时间范围不正确：{exc}") from None
    for name, value in (("start", low), ("end", high)):
        if not date_in_range(value):  # the end moves a day on below
            raise BadRequest(f"参数 {name} 超出范围：{DATE_RANGE_PROBLEM}")
    if isinstance(end, str) and len(end.strip()) <= 10:
        high += dt.timedelta(days=1)  # a date as the end means the whole of that day
    if high <= low:
        raise BadRequest("结束时间应晚于开始时间")
    column = getattr(service.table, field)
    return combine_and([service.scope_of(principal, grants), column >= low, column < high]), low, high


async def preview(service: EntityService, principal, *, screen=None, field: str, start, end) -> dict[str, Any]:
    where, low, high = _condition(service, principal, screen, field, start, end)
    count = await service.table.count().where(where)
    return {"field": field, "start": low.isoformat(sep=" "), "end": high.isoformat(sep=" "), "count": count}


async def delete(service: EntityService, principal, *, screen=None, field: str, start, end,
                 expected: int | None = None) -> dict[str, Any]:
    where, low, high = _condition(service, principal, screen, field, start, end)
    table = service.table
    async with table._meta.db.transaction():
        count = await table.count().where(where)
        if expected is not None and expected != count:
            raise BadRequest(f"范围内的记录数已变为 {count}，请重新预览后再确认")
        await table.delete().where(where)
        await audit.record(service.ctx, principal, "delete", service.entity.name, None, service.entity.label,
                           None, {"delete_by_range": field, "start": low.isoformat(sep=" "),
                                  "end": high.isoformat(sep=" "), "count": count, "screen": screen or ""})
    return {"field": field, "start": low.isoformat(sep=" "), "end": high.isoformat(sep=" "), "deleted": count}


async def latest(service: EntityService, principal, *, screen=None, field: str) -> Any:
    """The newest value of a date field inside the user's list scope (newest 采集时间)."""
    from piccolo.query.methods.select import Max

    grants = service.grants(principal, "list", screen)
    column = getattr(service.table, field)
    query = service.table.select(Max(column).as_alias("latest"))
    scope = service.scope_of(principal, grants)
    if scope is not None:
        query = query.where(scope)
    rows = await query
    value = rows[0]["latest"] if rows else None
    return value.isoformat(sep=" ") if isinstance(value, dt.datetime) else value
