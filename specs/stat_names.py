"""Statistics spec helpers shared by the checker, the emitter and the runtime.

A group key is a stored field, a path through refs (`site.street`), a lookup field (its path),
`date(x)`, `week(x)` (ISO week, `YYYY-Www`), `month(x)`, `quarter(x)` (`YYYY-Qn`) or `year(x)`, or `<level>(path)` such as `street(org)`: a path ending at a ref to org,
rolled up to its ancestor org of that level (a key of the org_level dictionary: district, street,
community, grid, ...); its result column is named by `dim_key` (the path, `day`, `week`, `month`, `quarter`, `year`).
"""
from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

DATE_DIM = re.compile(r"^(date|week|month|quarter|year)\(([a-z][a-z0-9_]*)\)$")
DIM_KEYS = {"date": "day", "week": "week", "month": "month", "quarter": "quarter", "year": "year"}
DIM_LABELS = {"day": "日期", "week": "周", "month": "月份", "quarter": "季度", "year": "年份"}
# `compare:` kinds by the period bucket of the first group key: the previous bucket (环比) and the
# same bucket a year before (同比); a year has no 环比 apart from its 同比.
COMPARE_KEYS = {"mom": ("week", "month", "quarter"), "yoy": ("month", "quarter", "year")}
COMPARE_LABELS = {"mom": "环比", "yoy": "同比"}
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
        if "ratio" in measure:  # checked with SA200 (check_stat_extras)
            seen.append(name)
            continue
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
        ratios = {n: list(m.get("ratio") or []) for n, m in stat["measures"].items()}
        series = list((stat.get("chart") or {}).get("series") or [])
    else:
        exprs = {m.name: m.expr for m in stat.measures}
        ratios = {m.name: list(m.ratio) for m in stat.measures}
        series = list(stat.chart.series) if stat.chart and stat.chart.series else []
    todo, out = series or list(exprs)[:1], []
    while todo:
        name = todo.pop()
        if name in out or name not in exprs:
            continue
        out.append(name)
        todo += ratios[name]
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


def check_stat_extras(checker: Any, entity: str, stat: dict) -> Iterator[tuple[tuple, str, str]]:
    """(location below `stat`, code, message) for ratios (SA200), measure filters (SA201), `compare`
    (SA202) and `drill` (SA203); a measure's where clause itself is checked like a tab's (SA080)."""
    from specadmin.specs.measure_expr import ExprError, names, parse

    measures = stat["measures"]
    seen: list[str] = []
    ratios = {n for n, m in measures.items() if "ratio" in m}
    for name, measure in measures.items():
        if "ratio" in measure:
            for i, other in enumerate(measure["ratio"]):
                if other not in seen:
                    yield ("measures", name, "ratio", i), "SA200", (f"measure '{name}': ratio operand '{other}' is not "
                                                                    "a measure declared before it")
                elif other in ratios:
                    yield ("measures", name, "ratio", i), "SA200", f"measure '{name}': '{other}' is a ratio itself"
        elif "percent" in measure or "places" in measure:
            yield ("measures", name), "SA200", f"measure '{name}': percent/places go with ratio"
        if "expr" in measure:
            try:
                used = names(parse(measure["expr"]))
            except ExprError:
                used = set()
            for other in sorted(used & ratios):
                yield ("measures", name, "expr"), "SA200", (f"measure '{name}': expr cannot use the ratio '{other}' "
                                                            "(declare the ratio of the sums instead)")
        if "where" in measure and ("expr" in measure or "ratio" in measure):
            yield ("measures", name, "where"), "SA201", (f"measure '{name}': where filters the rows of an aggregate; "
                                                         "put it on the measures this one uses")
        seen.append(name)
    compare = stat.get("compare") or []
    first = dim_parts(stat["group_by"][0])[0] if stat["group_by"] else None
    bucket = DIM_KEYS.get(first or "")
    for i, kind in enumerate(compare):
        if bucket not in COMPARE_KEYS.get(kind, ()):
            allowed = ", ".join(f"{k}(x)" for k in COMPARE_KEYS.get(kind, ()))
            yield ("compare", i), "SA202", (f"compare '{kind}' ({COMPARE_LABELS.get(kind, kind)}) needs a first group key "
                                            f"{allowed}; it is '{stat['group_by'][0]}'")
    if compare and stat["group_by"] and dim_parts(stat["group_by"][0])[1] != stat.get("period"):
        yield ("compare",), "SA202", (f"compare needs the first group key to bucket the stat's period field "
                                      f"('{stat.get('period') or '（未设 period）'}'); it is '{stat['group_by'][0]}'")
    for i, name in enumerate(stat.get("compare_measures") or []):
        if name not in measures:
            yield ("compare_measures", i), "SA202", f"compare_measures: '{name}' is not a measure"
        elif name in ratios:
            yield ("compare_measures", i), "SA202", f"compare_measures: '{name}' is a ratio (compare its operands)"
    if stat.get("compare_measures") and not compare:
        yield ("compare_measures",), "SA202", "compare_measures needs compare: [mom, yoy]"
    drill = stat.get("drill")
    if drill:
        target = checker.reg.screens.get(drill)
        if target is None:
            yield ("drill",), "SA203", f"drill: unknown screen '{drill}'"
        elif target.raw.get("entity") != entity or "stat" in target.raw:
            yield ("drill",), "SA203", f"drill: '{drill}' is not a list screen of '{entity}'"


def compared(stat) -> list[str]:
    """The measures compared: `compare_measures`, else every measure that is not a ratio."""
    return list(stat.compare_measures) or [m.name for m in stat.measures if not m.ratio]


def compare_columns(stat) -> list[dict[str, Any]]:
    """The comparison columns (name, label, type) in the order the page and exports show them."""
    labels = {m.name: m.label for m in stat.measures}
    types = {m.name: "decimal" if m.agg == "avg" else "integer" for m in stat.measures}
    out = []
    for name in compared(stat):
        for kind in stat.compare:
            before = "上期" if kind == "mom" else "去年同期"
            out += [{"name": f"{name}_{kind}", "label": f"{labels[name]}{before}", "type": types[name]},
                    {"name": f"{name}_{kind}_rate", "label": f"{labels[name]}{COMPARE_LABELS[kind]}(%)", "type": "decimal"}]
    return out
