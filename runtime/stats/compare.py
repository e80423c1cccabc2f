"""环比 / 同比 of a statistic (`compare: [mom, yoy]`), beside each row's measures and the totals.

The first group key is a period bucket of the stat's `period` field (`week|month|quarter(x)` for
mom, `month|quarter|year(x)` for yoy; checked with SA202). The comparison runs the same statistic
(same scope, level and filters) over the period shifted back by one bucket (mom) or by a year
(yoy), e.g. 2026-03-15..2026-04-10 → 2026-02-15..2026-03-10, so partial buckets compare the same
days; its groups are matched to the current rows by the shifted first key and the other keys.
Each compared measure `m` gets `m_mom` (the previous value; 0 for a count/sum without rows) and
`m_mom_rate` ((current - previous) / previous in percent, 1 place; None when previous is 0 or
missing), likewise `m_yoy`, `m_yoy_rate`; the totals row gets the same from the shifted totals.
"""
from __future__ import annotations

import calendar
import datetime as dt
from typing import Any

from specadmin.runtime.data.rows import json_value
from specadmin.runtime.stats.query import MAX_GROUPS
from specadmin.specs.stat_names import DIM_KEYS, compared, dim_parts

ADDITIVE = ("count", "sum")


def bucket_of(stat) -> str:
    """The bucket (week, month, quarter, year) of the first group key."""
    return DIM_KEYS[dim_parts(stat.group_by[0])[0]]


def months_back(day: dt.date, months: int) -> dt.date:
    """The same day `months` earlier, clamped to the month's last day (03-31 → 02-28)."""
    index = day.year * 12 + day.month - 1 - months
    year, month = divmod(index, 12)
    return dt.date(year, month + 1, min(day.day, calendar.monthrange(year, month + 1)[1]))


def shift_date(day: dt.date, bucket: str, kind: str) -> dt.date:
    if kind == "yoy":
        return months_back(day, 12)
    if bucket == "week":
        return day - dt.timedelta(days=7)
    return months_back(day, 3 if bucket == "quarter" else 1)


def shift_key(key: str | None, bucket: str, kind: str) -> str | None:
    """The bucket key one period (mom) or one year (yoy) before: 2026-03 → 2026-02 / 2025-03."""
    if key is None:
        return None
    if bucket == "year":
        return f"{int(key) - 1:04d}"
    if bucket == "quarter":
        year, q = int(key[:4]), int(key[-1])
        if kind == "yoy":
            return f"{year - 1:04d}-Q{q}"
        return f"{year - 1:04d}-Q4" if q == 1 else f"{year:04d}-Q{q - 1}"
    if bucket == "month":
        day = months_back(dt.date(int(key[:4]), int(key[5:7]), 1), 12 if kind == "yoy" else 1)
        return f"{day.year:04d}-{day.month:02d}"
    year, week, _ = (dt.date.fromisocalendar(int(key[:4]), int(key[6:8]), 1) - dt.timedelta(days=7)).isocalendar()
    return f"{year:04d}-W{week:02d}"


def rate(current: Any, previous: Any) -> float | None:
    if current is None or previous in (None, 0):
        return None
    return round((float(current) - float(previous)) * 100 / float(previous), 1)


def fill(target: dict[str, Any], previous: dict[str, Any] | None, stat, kind: str) -> None:
    measures = {m.name: m for m in stat.measures}
    for name in compared(stat):
        value = (previous or {}).get(name)
        if value is None and measures[name].agg in ADDITIVE:
            value = 0
        target[f"{name}_{kind}"] = value
        target[f"{name}_{kind}_rate"] = rate(target.get(name), value)


async def add(service, request, screen_name: str, query, rows: list[dict[str, Any]], totals: dict[str, Any],
              date_from: dt.date, date_to: dt.date, filters: dict[str, Any] | None, action: str,
              level: str | None) -> None:
    """Put every comparison of the stat into `rows` (one page) and `totals`, in place."""
    stat = query.stat
    bucket = bucket_of(stat)
    first, others = query.dims[0].key, [d.key for d in query.dims[1:]]
    for kind in stat.compare:
        shifted, _, _ = service.query(request, screen_name, shift_date(date_from, bucket, kind),
                                                  shift_date(date_to, bucket, kind), filters, action, level)
        found = {}
        if rows:
            for r in await shifted.page(1, MAX_GROUPS, None):
                found[tuple(json_value(r.get(k)) for k in (first, *others))] = r
        for r in rows:
            fill(r, found.get((shift_key(r.get(first), bucket, kind), *(r.get(k) for k in others))), stat, kind)
        fill(totals, await shifted.totals(), stat, kind)

