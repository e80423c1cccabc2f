"""Statistics spec helpers shared by the checker, the emitter and the runtime.

A group key is a stored field, a path through refs (`site.street`), a lookup field (its path),
`date(x)` or `month(x)`, or `<level>(path)` such as `street(org)`: a path ending at a ref to org,
rolled up to its ancestor org of that level (a key of the org_level dictionary: district, street,
community, grid, ...); its result column is named by `dim_key` (the path, `day`, `month`).
"""
from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

DATE_DIM = re.compile(r"^(date|month)\(([a-z][a-z0-9_]*)\)$")
DIM_KEYS = {"date": "day", "month": "month"}
ROLLUP = re.compile(r"^([a-z][a-z0-9_]*)\(([a-z][a-z0-9_]*(?:\.[a-z][a-z0-9_]*)*)\)$")


def rollup_of(group: str) -> tuple[str, str] | None:
    """(path, org level) of a `<level>(path)` group key (`street(org)`); None for any other key."""
    m = ROLLUP.match(group)
    return (m.group(2), m.group(1)) if m and m.group(1) not in DIM_KEYS else None


def dim_parts(group: str) -> tuple[str | None, str]:
    """('date'|'month'|None, field path); a roll-up is its path (a ref to org, shown by its label)."""
    m = DATE_DIM.match(group)
    if m:
        return m.group(1), m.group(2)
    rolled = rollup_of(group)
    return None, rolled[0] if rolled else group


def dim_key(group: str) -> str:
    fn, path = dim_parts(group)
    return DIM_KEYS[fn] if fn else path


def check_stat_spec(checker: Any, entity: str, stat: dict) -> Iterator[tuple[tuple, str]]:
    """(location below `stat`, message) for every problem of one `stat:` block."""
    from specadmin.specs.measure_expr import ExprError, names, parse

    fields = checker.fields_of(entity)
    keys, stored_keys = [], set()
    for i, g in enumerate(stat["group_by"]):
        fn, path = dim_parts(g)
        final, problem = checker.resolve(entity, path)
        if final is None:
            yield ("group_by", i), f"stat group '{g}': {problem}"
            continue
        if fn and final.get("type") not in ("date", "datetime"):
            yield ("group_by", i), f"stat group '{g}': {fn}() needs a date or datetime field"
        if not fn and "." not in path and final.get("type") not in ("lookup", "multi_ref", "computed") and not rollup_of(g):
            stored_keys.add(path)
        keys.append(dim_key(g))
    for i, col in enumerate(stat.get("columns", [])):
        final, problem = checker.resolve(entity, col)
        if final is None:
            yield ("columns", i), f"stat column '{col}': {problem}"
    period = stat.get("period")
    if period and fields.get(period, {}).get("type") not in ("date", "datetime"):
        yield ("period",), f"stat period '{period}' must be a date or datetime field"
    seen: list[str] = []
    for name, measure in stat["measures"].items():
        if "expr" in measure:
            try:
                unknown = names(parse(measure["expr"])) - set(seen)
            except ExprError as exc:
                yield ("measures", name, "expr"), f"measure '{name}': {exc}"
            else:
                if unknown:
                    yield ("measures", name, "expr"), (f"measure '{name}' uses {', '.join(sorted(unknown))}, "
                                                       "which are not measures declared before it")
            seen.append(name)
            continue
        source = measure.get("from")
        src_fields = checker.fields_of(source) if source in checker.reg.entities else None
        if source and src_fields is None:
            yield ("measures", name, "from"), f"measure '{name}': unknown entity '{source}'"
            continue
        if source and source == entity:
            yield ("measures", name, "from"), f"measure '{name}': 'from' must name another entity"
        if source and not measure.get("match"):
            yield ("measures", name), f"measure '{name}': 'from' needs 'match' (its field: this stat's group key)"
        for theirs, ours in (measure.get("match") or {}).items():
            if theirs not in src_fields or src_fields[theirs].get("type") in ("lookup", "multi_ref", "computed"):
                yield ("measures", name, "match"), f"measure '{name}': '{theirs}' is not a stored field of '{source}'"
            if ours not in stored_keys:
                yield ("measures", name, "match"), f"measure '{name}': '{ours}' is not a stored group key"
        if measure.get("match") and not source:
            yield ("measures", name, "match"), f"measure '{name}': 'match' needs 'from'"
        own = src_fields if source else fields
        operands = measure.get("coalesce") or ([measure["field"]] if measure.get("field") else [])
        if measure["agg"] != "count" or operands:
            if not operands:
                yield ("measures", name), f"measure '{name}': {measure['agg']} needs a numeric 'field' or 'coalesce'"
            for f in operands:
                if checker.value_type(own.get(f, {})) not in ("integer", "decimal"):  # an aggregate's count counts
                    yield ("measures", name), f"measure '{name}': '{f}' is not a numeric field"
        seen.append(name)
    sort = (stat.get("sort") or "").lstrip("-")
    if sort and sort not in keys and sort not in seen:
        yield ("sort",), f"stat sort '{sort}' is neither a group key ({', '.join(keys)}) nor a measure"
    chart = stat.get("chart") or {}
    x = chart.get("x")
    if x and x not in keys:
        yield ("chart", "x"), f"chart x '{x}' is not a group key ({', '.join(keys)})"
    for i, s in enumerate(chart.get("series", [])):
        if s not in seen:
            yield ("chart", "series", i), f"chart series '{s}' is not a measure"
    if keys and (not x or x in keys):
        yield from _check_chart_axis(stat, x or keys[0], ("chart", "x") if x else ("chart",) if chart else ("group_by", 0))


def chart_measures(stat: Any) -> list[str]:
    """The measures a chart needs: its series (default the first measure) and what their `expr` uses.
    `stat` is the raw spec (dict) or the model's Stat."""
    from specadmin.specs.measure_expr import ExprError, names, parse

    if isinstance(stat, dict):
        exprs = {n: m.get("expr") for n, m in stat["measures"].items()}
        series = list((stat.get("chart") or {}).get("series") or [])
    else:
        exprs = {m.name: m.expr for m in stat.measures}
        series = list(stat.chart.series) if stat.chart and stat.chart.series else []
    todo, out = series or list(exprs)[:1], []
    while todo:
        name = todo.pop()
        if name in out or name not in exprs:
            continue
        out.append(name)
        if exprs[name]:
            try:
                todo += sorted(names(parse(exprs[name])))
            except ExprError:
                pass
    return [n for n in exprs if n in out]


def _check_chart_axis(stat: dict, x: str, at: tuple) -> Iterator[tuple[tuple, str]]:
    """A chart sums each measure along its axis; a `from` measure can be split only along one of its match keys."""
    for name in chart_measures(stat):
        ours = list((stat["measures"][name].get("match") or {}).values())
        if stat["measures"][name].get("from") and x not in ours:
            yield at, (f"chart along '{x}' cannot show measure '{name}' (from {stat['measures'][name]['from']}): "
                       f"chart it along one of its match keys ({', '.join(ours)})")
