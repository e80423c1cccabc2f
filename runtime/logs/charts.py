"""Chart data of the logs: exceptions per day (7 days) and per hour (24 h), operations per day by type.

Every number comes from one Piccolo aggregate query (COUNT ... GROUP BY), inside the data
scope of the caller's grant on the log screen, and is zero-filled here so a quiet day or
hour shows as 0 rather than missing. All charts share one shape::

    {"by", "title", "kind": "bar"|"line", "stacked", "x": [axis labels], "keys": [bucket keys],
     "series": [{"name", "label", "data": [counts], "total"}], "total", "from", "to"}
"""
from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any

from piccolo.query.functions.aggregate import Count
from piccolo.querystring import QueryString

from specadmin.runtime.errors import BadRequest, Denied
from specadmin.runtime.security.scope import scopes_condition
from specadmin.runtime.stats.query import DateOf
from specadmin.runtime.data.queries import screen_where
from specadmin.runtime.data.where import combine_and

if TYPE_CHECKING:
    from specadmin.runtime.app.context import AppContext
    from specadmin.runtime.security.principal import Principal

DAYS = 7
HOURS = 24
EXCEPTION_SCREEN = "exception_view"
OPLOG_SCREEN = "oplog_view"
MAX_SERIES = 30  # a chart with more subject types than this lumps the rest into 其他


def hour_of(column, engine_type: str, alias: str | None = None) -> QueryString:
    """The hour (0-23) of a timestamp. PostgreSQL: EXTRACT(HOUR FROM t). SQLite has no EXTRACT:
    strftime with the format bound as a parameter (SQLite, unlike PostgreSQL, accepts a
    parameter in a GROUP BY expression; PostgreSQL would reject `$1` vs `$2` as different)."""
    if engine_type == "postgres":
        return QueryString("EXTRACT(HOUR FROM {})", column, alias=alias)
    return QueryString("CAST(strftime({}, {}) AS INTEGER)", "%H", column, alias=alias)


def _day_key(value: Any) -> str:
    # PostgreSQL answers date objects, SQLite 'YYYY-MM-DD' strings.
    return value.isoformat() if isinstance(value, dt.date) else str(value)[:10]


def _grant_scope(ctx: "AppContext", principal: "Principal", screen: str, entity: str) -> Any:
    grant = principal.grant(screen)
    if grant is None or "list" not in grant.actions:
        raise Denied()
    return combine_and([scopes_condition(ctx, entity, grant.scopes, principal),
                        screen_where(ctx.table(entity), ctx.app.screen(screen))])  # the screen's fixed `where` too


def _days(today: dt.date) -> list[dt.date]:
    return [today - dt.timedelta(days=DAYS - 1 - i) for i in range(DAYS)]


async def exception_chart(ctx: "AppContext", principal: "Principal", by: str,
                          now: dt.datetime | None = None) -> dict[str, Any]:
    """Exceptions per day of the last 7 days (`by=day`) or per hour of the last 24 h (`by=hour`)."""
    if by not in ("day", "hour"):
        raise BadRequest("by 只能是 day 或 hour")
    table = ctx.table("exception_log")
    scope = _grant_scope(ctx, principal, EXCEPTION_SCREEN, "exception_log")
    now = now or dt.datetime.now()
    if by == "day":
        days = _days(now.date())
        start = dt.datetime.combine(days[0], dt.time.min)
        end = dt.datetime.combine(days[-1], dt.time.min) + dt.timedelta(days=1)
        buckets = [d.isoformat() for d in days]
        labels = [d.strftime("%m-%d") for d in days]
    else:
        last = now.replace(minute=0, second=0, microsecond=0)
        hours = [last - dt.timedelta(hours=HOURS - 1 - i) for i in range(HOURS)]
        start, end = hours[0], last + dt.timedelta(hours=1)
        buckets = [h.strftime("%Y-%m-%d %H") for h in hours]
        labels = [h.strftime("%H:00") for h in hours]
    where = combine_and([scope, table.at >= start, table.at < end])
    engine_type = table._meta.db.engine_type
    select: list[Any] = [DateOf(table.at, alias="day")]
    group: list[Any] = [QueryString("date({})", table.at)]
    if by == "hour":
        select.append(hour_of(table.at, engine_type, alias="hour"))
        group.append(hour_of(table.at, engine_type))
    rows = await table.select(*select, Count(alias="n")).where(where).group_by(*group)
    counts = dict.fromkeys(buckets, 0)
    for r in rows:
        key = _day_key(r["day"]) if by == "day" else f"{_day_key(r['day'])} {int(r['hour']):02d}"
        if key in counts:
            counts[key] += int(r["n"])
    data = [counts[k] for k in buckets]
    title = f"近{DAYS}天每日异常数" if by == "day" else f"近{HOURS}小时每小时异常数"
    return {"by": by, "title": title, "kind": "bar" if by == "day" else "line", "stacked": False,
            "x": labels, "keys": buckets,
            "series": [{"name": "count", "label": "异常数", "data": data, "total": sum(data)}],
            "total": sum(data), "from": start.isoformat(sep=" "), "to": end.isoformat(sep=" ")}


def _type_label(ctx: "AppContext", by: str, key: str | None) -> str:
    if key is None or key == "":
        return "（空）"
    return ctx.dict_label("oplog_type" if by == "op_type" else "subjects", key) or key


async def oplog_chart(ctx: "AppContext", principal: "Principal", by: str,
                      now: dt.datetime | None = None) -> dict[str, Any]:
    """Operations per day of the last 7 days, one series per operation type or subject type."""
    if by not in ("op_type", "subject_type"):
        raise BadRequest("by 只能是 op_type 或 subject_type")
    table = ctx.table("oplog")
    scope = _grant_scope(ctx, principal, OPLOG_SCREEN, "oplog")
    days = _days((now or dt.datetime.now()).date())
    start = dt.datetime.combine(days[0], dt.time.min)
    end = dt.datetime.combine(days[-1], dt.time.min) + dt.timedelta(days=1)
    column = getattr(table, by)
    rows = await (table.select(DateOf(table.at, alias="day"), column.as_alias("kind"), Count(alias="n"))
                  .where(combine_and([scope, table.at >= start, table.at < end]))
                  .group_by(QueryString("date({})", table.at), column))
    buckets = [d.isoformat() for d in days]
    per_kind: dict[str | None, dict[str, int]] = {}
    for r in rows:
        day = _day_key(r["day"])
        if day in buckets:
            cells = per_kind.setdefault(r["kind"], dict.fromkeys(buckets, 0))
            cells[day] += int(r["n"])
    ordered = sorted(per_kind.items(), key=lambda kv: (-sum(kv[1].values()), str(kv[0])))
    if len(ordered) > MAX_SERIES:
        rest: dict[str, int] = dict.fromkeys(buckets, 0)
        for _, cells in ordered[MAX_SERIES - 1:]:
            for day, n in cells.items():
                rest[day] += n
        ordered = ordered[:MAX_SERIES - 1] + [("__other__", rest)]
    series = []
    for kind, cells in ordered:
        data = [cells[d] for d in buckets]
        label = "其他" if kind == "__other__" else _type_label(ctx, by, kind)
        series.append({"name": kind if kind is not None else "", "label": label, "data": data, "total": sum(data)})
    title = f"近{DAYS}天操作日志（按{'操作类型' if by == 'op_type' else '对象类型'}）"
    total = sum(s["total"] for s in series)
    return {"by": by, "title": title, "kind": "bar", "stacked": True, "x": [d.strftime("%m-%d") for d in days],
            "keys": buckets, "series": series, "total": total,
            "from": start.isoformat(sep=" "), "to": end.isoformat(sep=" ")}
