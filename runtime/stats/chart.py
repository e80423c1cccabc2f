"""The chart of a statistic: its series over every counted row, aggregated in SQL along the chart's
axis (`stat.chart.x`, default the first group key), never only the page the table shows.

- A date key (`date(x)`, `week(x)`, `month(x)`, `quarter(x)`, `year(x)` or a date field) is a time
  axis: every day (week, month, ...) of the period in order, a day without rows reading 0 for count/sum measures (empty for avg/min/max);
  beyond MAX_FILL points only the days that have rows are drawn.
- Any other key is a category axis, labelled with the key's label (a ref's display, a dict's
  label). With more than `chart.top` categories (default DEFAULT_TOP) the `top` largest by the
  first series are drawn and the rest are merged into one bar 其他（N项）: sums and counts added,
  min/max of the rest, averages from the rest's sums and counts; `expr` measures recomputed.
- The order: the statistic's `sort` when it names the axis key or a charted measure; otherwise
  the key ascending, or the first series descending when the rest is merged into 其他.

Shape (read by static/charts.js, also answered by GET /api/stats/<screen>/chart)::

    {"kind": "bar"|"line", "axis": "time"|"category", "x": [labels], "keys": [key texts],
     "series": [{"name", "label", "data"}], "title", "note", "groups", "top", "other": {"count"}|null}
"""
from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from specadmin.specs.stat_names import chart_measures

from specadmin.runtime.stats import expr as stats_expr
from specadmin.runtime.stats.query import ratio_value

if TYPE_CHECKING:
    from specadmin.runtime.stats.query import Dim, StatQuery

DEFAULT_TOP = 30
MAX_FILL = 400  # days (or months) filled in on a time axis; a longer span shows only days with rows
OTHER = "其他"
ADDITIVE = ("count", "sum")


def number(value: Any) -> Any:
    """A measure value as JSON: int when whole, float otherwise, None stays None."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, (Decimal, float)):
        return int(value) if value == int(value) else float(value)
    return value


def key_text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, dt.datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S")
    if isinstance(value, dt.date):
        return value.isoformat()
    return str(value)


def is_time(dim: Dim) -> bool:
    return dim.fn is not None or dim.field.type in ("date", "datetime")


def _months(start: dt.date, end: dt.date) -> list[str]:
    out, y, m = [], start.year, start.month
    while (y, m) <= (end.year, end.month) and len(out) <= MAX_FILL:
        out.append(f"{y:04d}-{m:02d}")
        y, m = (y + 1, 1) if m == 12 else (y, m + 1)
    return out


BUCKETS = ("week", "quarter", "year")


def bucket_key(fn: str, day: dt.date) -> str:
    """The key of the day's week (`YYYY-Www`), quarter (`YYYY-Qn`) or year (`YYYY`), as the query answers."""
    if fn == "week":
        year, week, _ = day.isocalendar()
        return f"{year:04d}-W{week:02d}"
    if fn == "quarter":
        return f"{day.year:04d}-Q{(day.month + 2) // 3}"
    return f"{day.year:04d}"


def bucket_start(key: str) -> dt.date:
    """The first day of a week, quarter or year key."""
    if "-W" in key:
        return dt.date.fromisocalendar(int(key[:4]), int(key[6:8]), 1)
    if "-Q" in key:
        return dt.date(int(key[:4]), 3 * int(key[-1]) - 2, 1)
    return dt.date(int(key[:4]), 1, 1)


def _buckets(fn: str, start: dt.date, end: dt.date) -> list[str]:
    """Every bucket from the one of `start` to the one of `end` (stepping a week at most)."""
    out: list[str] = []
    day = start
    while day <= end and len(out) <= MAX_FILL:
        key = bucket_key(fn, day)
        if not out or out[-1] != key:
            out.append(key)
        day += dt.timedelta(days=7 if fn == "week" else 1)
    if out and bucket_key(fn, end) != out[-1] and len(out) <= MAX_FILL:
        out.append(bucket_key(fn, end))
    return out


def time_keys(dim: Dim, stat, present: list[str], date_from: dt.date, date_to: dt.date) -> list[str]:
    """Every day (month) from the period's first to its last, or between the first and last key
    present when the key is not the period's field; only the present keys beyond MAX_FILL."""
    if not present or (dim.fn is None and dim.field.type == "datetime"):
        return sorted(present)
    on_period = stat.period is not None and dim.group in (f"date({stat.period})", f"month({stat.period})", stat.period,
                                                          *(f"{fn}({stat.period})" for fn in BUCKETS))
    if dim.fn in BUCKETS:
        start, end = (date_from, date_to) if on_period else (bucket_start(min(present)), bucket_start(max(present)))
        keys = _buckets(dim.fn, start, end)
    elif dim.fn == "month":
        start, end = (date_from, date_to) if on_period else \
            (dt.date.fromisoformat(min(present) + "-01"), dt.date.fromisoformat(max(present) + "-01"))
        keys = _months(start, end)
    else:
        start, end = (date_from, date_to) if on_period else \
            (dt.date.fromisoformat(min(present)[:10]), dt.date.fromisoformat(max(present)[:10]))
        keys = [(start + dt.timedelta(days=i)).isoformat() for i in range((end - start).days + 1)] \
            if (end - start).days < MAX_FILL else []
    if not keys or len(keys) > MAX_FILL:
        return sorted(present)
    return sorted(set(keys) | set(present))


class Merger:
    """Values of the charted measures for a set of rows along the axis (a filled day, or 其他)."""

    def __init__(self, query: StatQuery, names: list[str]):
        self.query, self.names = query, names

    def merge(self, rows: list[dict[str, Any]]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for n in self.names:
            m = self.query.measures[n]
            if m.expr or m.ratio:
                continue
            values = [r.get(n) for r in rows if r.get(n) is not None]
            if m.agg in ADDITIVE:
                out[n] = sum(values) if values else (0 if not rows else None)
            elif m.agg == "min":
                out[n] = min(values) if values else None
            elif m.agg == "max":
                out[n] = max(values) if values else None
            else:  # avg: the rows' own sums and counts
                total = sum(r.get(f"{n}__sum") or 0 for r in rows)
                count = sum(r.get(f"{n}__n") or 0 for r in rows)
                out[n] = total / count if count else None
        for n in self.names:
            m = self.query.measures[n]
            if n in self.query.trees:
                out[n] = stats_expr.evaluate(self.query.trees[n], out)
            elif m.ratio:
                top, bottom = (out.get(o) for o in m.ratio)
                out[n] = ratio_value(None if top is None or not bottom else float(top) / float(bottom), m)
        return out


def _label(query: StatQuery, dim: Dim, row: dict[str, Any], empty: str) -> str:
    value = row.get(dim.key)
    if value is None:
        return empty
    label = row.get(f"{dim.key}_label")
    if label is None and dim.field.type == "dict" and not dim.fn:
        label = query.ctx.dict_label(dim.field.dict, value)
    return str(label if label is not None else key_text(value))


def _order(query: StatQuery, key: str, names: list[str], first: str, rows: list[dict], capped: bool) -> list[dict]:
    """The statistic's sort when it names the axis key or a charted measure, else key ascending
    (the first series descending when the rest is merged)."""
    sort = query.stat.sort or ""
    name, desc = sort.lstrip("-"), sort.startswith("-")
    if name not in (key, *names):
        name, desc = (first, True) if capped else (key, False)
    present = [r for r in rows if r.get(name) is not None]
    present.sort(key=lambda r: (r[name], key_text(r.get(key)) or ""), reverse=desc)
    return present + [r for r in rows if r.get(name) is None]


async def chart_data(service, screen_name: str, query: StatQuery, date_from: dt.date, date_to: dt.date) -> dict[str, Any]:
    ctx, stat = query.ctx, query.stat
    spec = stat.chart
    key = (spec.x if spec and spec.x else None) or query.dims[0].key
    dim = query.dim_by_key[key]
    names = chart_measures(stat)
    series = [n for n in (list(spec.series) if spec and spec.series else names[:1])]
    columns = {c["name"]: c for c in ctx.screens[screen_name]["list"]}
    axis_label = columns.get(key, {}).get("label") or key
    rows = await query.along(key, names)
    for row, shown in zip(rows, await service._decorate(query, rows)):  # a ref key's label (the numbers stay numbers)
        if f"{key}_label" in shown:
            row[f"{key}_label"] = shown[f"{key}_label"]
    merger = Merger(query, names)
    top = (spec.top if spec and spec.top else None) or DEFAULT_TOP
    other = None
    if is_time(dim):
        by_key = {key_text(r.get(dim.key)): r for r in rows}
        keys = time_keys(dim, stat, [k for k in by_key if k is not None], date_from, date_to)
        points = [by_key.get(k) or {dim.key: k, **merger.merge([])} for k in keys]
        if None in by_key:
            points.append(by_key[None])
        labels = [k if k is not None else "（空）" for k in (key_text(p.get(dim.key)) for p in points)]
        axis = "time"
    else:
        capped = len(rows) > top
        ordered = _order(query, key, names, series[0], rows, capped)
        if capped:
            keep = sorted(ordered, key=lambda r: -(number(r.get(series[0])) or 0))[:top]
            kept = {id(r) for r in keep}
            rest = [r for r in ordered if id(r) not in kept]
            points = [r for r in ordered if id(r) in kept]
            other = {"count": len(rest)}
            points.append({dim.key: None, "__other": True, **merger.merge(rest)})
        else:
            points = ordered
        empty = columns.get(key, {}).get("empty_label") or "（空）"
        labels = [f"{OTHER}（{other['count']}项）" if p.get("__other") else _label(query, dim, p, empty) for p in points]
        axis = "category"
    measure_labels = {m.name: m.label for m in stat.measures}
    data = [{"name": s, "label": measure_labels[s], "data": [number(p.get(s)) for p in points]} for s in series]
    note = f"前 {top} 项，其余 {other['count']} 项合并为“{OTHER}”" if other else ""
    return {"kind": spec.type if spec else "bar", "axis": axis, "x": labels,
            "keys": [None if p.get("__other") else key_text(p.get(dim.key)) for p in points],
            "series": data, "title": f"{'、'.join(d['label'] for d in data)}（按{axis_label}）", "note": note,
            "groups": len(rows), "top": top, "other": other,
            "date_from": date_from.isoformat(), "date_to": date_to.isoformat()}
