"""Drill-down from a statistic's cell to the rows behind it (`stat: {drill: <list screen>}`).

The stat page links each count/sum cell of an own-entity measure to
`/s/<drill>?stat=<stat screen>&measure=<m>&k0=<first key>&k1=…&date_from=&date_to=&<the stat's filters>`
(`kN=` empty: the group whose key is empty; no `kN`: every value, as in the 合计 row). A list
request carrying `stat` is narrowed (Plugin.list_narrowing) by the condition the statistic counts
with: the user's grant scope on the stat, its period and filters, each group key (a date bucket as a
range of its field, any other key compared with its SQL) and the measure's own `where`. Only names
the stat declares are looked up; values are parameters. The list's own scope applies on top.
"""
from __future__ import annotations

import datetime as dt
from decimal import Decimal, InvalidOperation
from typing import Any
from urllib.parse import urlencode

from piccolo.columns.combination import WhereRaw

from specadmin.runtime.errors import BadRequest
from specadmin.runtime.data.where import combine_and, where_of

KEY_PARAM = "k{}"


def drillable(measure) -> bool:
    """A count/sum over the stat's own rows: the rows behind its cell are a list of that entity."""
    return measure.agg in ("count", "sum") and not measure.source


def cell_url(stat_screen, item: dict[str, Any] | None, measure: str, date_from: dt.date, date_to: dt.date,
             echo: list[tuple[str, str]]) -> str:
    """The drilled list of one cell (`item` None: the 合计 row, every group)."""
    stat = stat_screen.stat
    params: list[tuple[str, str]] = [("stat", stat_screen.name), ("measure", measure)]
    if item is not None:
        from specadmin.specs.stat_names import dim_key

        for i, group in enumerate(stat.group_by):
            value = item.get(dim_key(group))
            params.append((KEY_PARAM.format(i), "" if value is None else key_text(value)))
    if stat.period:
        params += [("date_from", date_from.isoformat()), ("date_to", date_to.isoformat())]
    return f"/s/{stat.drill}?" + urlencode(params + list(echo))


def key_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def bucket_range(fn: str, text: str) -> tuple[dt.date, dt.date]:
    """[first day, day after the last) of a date bucket key: 2026-03-05, 2026-W10, 2026-03, 2026-Q1, 2026."""
    try:
        if fn == "date":
            start = dt.date.fromisoformat(text[:10])
            return start, start + dt.timedelta(days=1)
        if fn == "week":
            start = dt.date.fromisocalendar(int(text[:4]), int(text[6:8]), 1) if text[4:6] == "-W" else None
            if start:
                return start, start + dt.timedelta(days=7)
        if fn == "month" and len(text) == 7 and text[4] == "-":
            start = dt.date(int(text[:4]), int(text[5:7]), 1)
            return start, (start + dt.timedelta(days=32)).replace(day=1)
        if fn == "quarter" and text[4:6] == "-Q" and len(text) == 7 and 1 <= int(text[6]) <= 4:
            start = dt.date(int(text[:4]), 3 * int(text[6]) - 2, 1)
            return start, (start + dt.timedelta(days=95)).replace(day=1)
        if fn == "year" and len(text) == 4:
            return dt.date(int(text), 1, 1), dt.date(int(text) + 1, 1, 1)
    except ValueError:
        pass
    raise BadRequest(f"统计下钻参数的分组值 {text[:20]!r} 不是有效的{fn}")


def typed_key(field, text: str) -> Any:
    """A group key's text as its stored column's type (a wrong one is a 400)."""
    try:
        if field.type == "integer" or (field.type == "ref" and not field.key):
            return int(text)
        if field.type == "decimal":
            return Decimal(text)
        if field.type == "date":
            return dt.date.fromisoformat(text)
        if field.type == "datetime":
            return dt.datetime.fromisoformat(text)
        if field.type == "boolean":
            return {"true": True, "false": False}[text]
    except (ValueError, InvalidOperation, KeyError):
        raise BadRequest(f"统计下钻参数的分组值 {text[:20]!r} 与字段“{field.label}”的类型不符") from None
    return text


def key_condition(dim, text: str | None) -> Any:
    """The rows of one group key value; None (no parameter): every value."""
    if text is None:
        return None
    from specadmin.runtime.stats.query import path_expression

    if dim.fn:  # a date bucket: a range of its field
        base, final = path_expression(dim._ctx, dim._entity, dim._path)
        if text == "":
            return WhereRaw("{} IS NULL", base)
        start, end = bucket_range(dim.fn, text)
        if final.type == "datetime":
            start, end = dt.datetime.combine(start, dt.time.min), dt.datetime.combine(end, dt.time.min)
        return WhereRaw("{} >= {} AND {} < {}", base, start, base, end)
    expr = dim.column if dim.stored else dim.group_exprs()[0]
    if text == "":
        return expr.is_null() if dim.stored else WhereRaw("{} IS NULL", expr)
    if dim.stored:
        return expr == typed_key(dim.field, text)
    return WhereRaw("CAST({} AS TEXT) = {}", expr, text)  # a path, roll-up or computed key, as text


def narrowing(ctx, request, entity: str) -> Any:
    """The condition of `?stat=…&measure=…&kN=…` on a list of `entity` (None without `stat`)."""
    params = request.query_params
    name = (params.get("stat") or "").strip()[:64]
    if not name:
        return None
    from specadmin.runtime.stats.params import stat_params

    service = request.app.state.stats
    screen, _ = service.screen(request.user, name)  # 404 unknown, 403 without the stat's grant
    if screen.entity != entity:
        raise BadRequest(f"统计“{screen.label}”不统计这张表")
    measure = next((m for m in screen.stat.measures if m.name == params.get("measure")), None)
    if measure is None or not drillable(measure):
        raise BadRequest(f"统计“{screen.label}”没有可下钻的度量 {(params.get('measure') or '')[:32]!r}")
    dates = {}
    for key in ("date_from", "date_to"):
        raw = (params.get(key) or "").strip()
        try:
            dates[key] = dt.date.fromisoformat(raw) if raw else None
        except ValueError:
            raise BadRequest(f"参数 {key} 应为 YYYY-MM-DD") from None
    filters = stat_params(request, name)["filters"]
    query, _, _ = service.query(request, name, dates["date_from"], dates["date_to"], filters)
    keys = [key_condition(dim, params.get(KEY_PARAM.format(i))) for i, dim in enumerate(query.dims)]
    own = where_of(query.table, measure.where) if measure.where is not None else None
    return combine_and([query.where, *keys, own]) or never_none(query)


def never_none(query) -> Any:
    """A condition every row meets (the stat had nothing to narrow: no scope, period nor filter)."""
    return query.table._meta.primary_key.is_not_null()


LIST_OWN = ("screen", "tab", "q", "sort", "page", "page_size", "scope_level", "tree")


def kept(request) -> list[tuple[str, str]]:
    """A drilled list keeps `stat`, `measure`, the keys, the period and the stat's filters in its links."""
    params = request.query_params
    if not (params.get("stat") or "").strip():
        return []
    return [(k, v) for k, v in params.items() if k not in LIST_OWN]
