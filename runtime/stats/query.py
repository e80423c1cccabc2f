"""SQL for one statistic: group keys, measures, derived measures, sort, paging and a totals row.

Everything is built from Piccolo columns and QueryString arithmetic, with values as parameters:
- a group key through refs (`site.street`, or a lookup field) is a correlated scalar subquery
  `(SELECT street FROM testing_site WHERE site_code = site_scan_stat.site)`, so no row is loaded;
- `date(x)` is `date(x)`; `month(x)` is its year and month (Piccolo's portable Year/Month), `quarter(x)`
  its year and (month + 2) / 3, `year(x)` its year, `week(x)` the Monday of its ISO week (answered
  as `YYYY-Www`; SQLite's date modifiers are parameters, so it is selected as MIN like a roll-up);
- a measure's own `where:` aggregates `CASE WHEN <where> THEN <operand> END` (COUNT of 1);
  `ratio: [a, b]` is `a * 1.0 / NULLIF(b, 0)` (NULL on a zero denominator, scaled and rounded in
  Python: `percent`, `places`);
- `street(org)` (any org level) is the org of that level whose path the row's org path starts with:
  `(SELECT id FROM org WHERE level = $1 AND <the org's path> LIKE path || '%' ORDER BY path LIMIT 1)`;
  its parameters keep PostgreSQL from matching it to the select list, so the select and the order
  take MIN() of it (one value per group);
- `coalesce: [a, b]` aggregates COALESCE(a, b); `from: E, match: {f: key}` aggregates another entity
  in a correlated subquery on the group keys, inside the same data scope;
- `expr:` measures combine other measures (specs/measure_expr.py);
- a computed field (runtime/data/computed.py) groups by its SQL, selected and ordered as MIN of it.
Builders return fresh objects each time: Piccolo keeps the alias on the object.
"""
from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from piccolo.columns import Integer
from piccolo.columns.combination import WhereRaw
from piccolo.query.functions.aggregate import Avg, Count, Max, Min, Sum
from piccolo.query.functions.base import Function
from piccolo.query.functions.conditional import Coalesce
from piccolo.query.functions.datetime import Month, Year
from piccolo.query.functions.type_conversion import Cast
from piccolo.querystring import QueryString
from specadmin.specs.paths import resolve
from specadmin.specs.stat_names import dim_key, dim_parts, rollup_of

from specadmin.runtime.stats import expr as stats_expr
from specadmin.runtime.errors import BadRequest
from specadmin.runtime.security.scope import scopes_condition
from specadmin.runtime.data.computed import field_sql
from specadmin.runtime.data.paths import key_column
from specadmin.runtime.data.where import column_of, combine_and, never, where_of

if TYPE_CHECKING:
    from specadmin.runtime.app.context import AppContext

MAX_GROUPS = 20000
AGGREGATES = {"count": Count, "sum": Sum, "avg": Avg, "min": Min, "max": Max}


class DateOf(Function):
    """`date(x)`: the calendar day of a timestamp, in SQLite and PostgreSQL alike."""

    function_name = "date"


def _wrap(select) -> QueryString:
    """A select query as a parenthesised scalar subquery."""
    return QueryString("({})", select.querystrings[0])


def expand_path(ctx: AppContext, entity, path: str) -> list[str]:
    """The path with lookup fields replaced by the path they stand for."""
    return list(resolve(ctx.app, entity, path, lookups=True).names)


def path_expression(ctx: AppContext, entity, path: str) -> tuple[Any, Any]:
    """(SQL expression, final field) for a field path; each ref hop is a correlated subquery."""
    resolved = resolve(ctx.app, entity, path, lookups=True)
    parts = resolved.names
    expr: Any = getattr(ctx.table(entity.name), parts[0])
    for hop, part in zip(resolved.hops, parts[1:]):
        target_table = ctx.table(hop.target)
        expr = _wrap(target_table.select(getattr(target_table, part)).where(key_column(ctx, hop) == expr).limit(1))
    return expr, resolved.field


class Dim:
    def __init__(self, ctx: AppContext, entity, group: str):
        self.group, self.key = group, dim_key(group)
        self.fn, path = dim_parts(group)
        rolled = rollup_of(group)
        self.level = rolled[1] if rolled else None  # `street(org)`: the org level rolled up to
        own = entity.field(path) if "." not in path and entity.has_field(path) else None
        self.computed = self.fn is None and self.level is None and own is not None and own.type == "computed"
        self.stored = (self.fn is None and self.level is None and own is not None
                       and own.type not in ("lookup", "multi_ref", "computed"))
        # A roll-up's or a computed field's SQL holds parameters (a level, an age's reference day):
        # grouped by it, it is selected and ordered as MIN of itself (one value per group), which
        # PostgreSQL accepts without matching the select list to the GROUP BY.
        self.parametrised = self.level is not None or self.computed or self.fn == "week"
        self.column = getattr(ctx.table(entity.name), path) if self.stored else None
        self._ctx, self._entity, self._path = ctx, entity, path
        self.field = own if self.computed else path_expression(ctx, entity, path)[1]

    def _rolled_up(self) -> Any:
        """The ancestor org (of `self.level`) of the org the path ends at; NULL above that level."""
        org = self._ctx.table("org")
        leaf = path_expression(self._ctx, self._entity, self._path)[0]
        leaf_path = _wrap(org.select(org.path).where(org._meta.primary_key == leaf).limit(1))
        below = WhereRaw("{} LIKE {} || {}", leaf_path, org.path, "%")
        return _wrap(org.select(org._meta.primary_key).where((org.level == self.level) & below)
                     .order_by(org.path).limit(1))

    def group_exprs(self) -> list[Any]:
        """The SQL expressions to group by (a month is its year and its month)."""
        if self.level:
            return [self._rolled_up()]
        if self.stored:
            return [self.column]
        if self.computed:
            return [field_sql(self._ctx, self._entity, self._path).fresh()]
        base = path_expression(self._ctx, self._entity, self._path)[0]
        if self.fn == "date":
            return [DateOf(base)]
        if self.fn == "month":
            return [Year(base), Month(base)]
        if self.fn == "quarter":
            return [Year(base), QueryString("({} + 2) / 3", Month(base))]
        if self.fn == "year":
            return [Year(base)]
        if self.fn == "week":
            return [self._monday(base)]
        return [base]

    def _monday(self, base: Any) -> Any:
        """The Monday of the ISO week of a date or timestamp, as a date."""
        if self._ctx.table(self._entity.name)._meta.db.engine_type == "sqlite":
            return QueryString("date({}, {}, {})", base, "weekday 0", "-6 days")
        return QueryString("CAST({} AS DATE) - (CAST(EXTRACT(ISODOW FROM {}) AS INTEGER) - 1)", base, base)

    def exprs(self) -> list[Any]:
        """The expressions to order by and select: the group's own, or MIN of a parametrised one."""
        if not self.parametrised:
            return self.group_exprs()
        if self.computed and self.field.value_type == "boolean":  # PostgreSQL has no MIN of a boolean
            return [Min(Cast(e, Integer())) for e in self.group_exprs()]
        return [Min(e) for e in self.group_exprs()]

    def orders(self) -> list[Any]:
        return self.exprs()

    def selects(self) -> list[Any]:
        if self.stored:
            return [self.column]
        if self.fn in ("month", "quarter"):
            year, part = self.exprs()
            return [year.as_alias(f"{self.key}__y"), part.as_alias(f"{self.key}__m")]
        return [self.exprs()[0].as_alias(self.key)]


class StatQuery:
    """One statistic over the rows `where` selects (scope, period and filters already in it)."""

    def __init__(self, ctx: AppContext, screen, where: Any, scope_of: Callable[[str], Any]):
        self.ctx, self.stat = ctx, screen.stat
        self.entity = ctx.app.entity(screen.entity)
        self.table = ctx.table(self.entity.name)
        self.where = where
        self.scope_of = scope_of  # entity name -> the user's scope condition on it (for `from` measures)
        self.dims = [Dim(ctx, self.entity, g) for g in self.stat.group_by]
        self.dim_by_key = {d.key: d for d in self.dims}
        self.measures = {m.name: m for m in self.stat.measures}
        self.trees = {m.name: stats_expr.parse(m.expr) for m in self.stat.measures if m.expr}

    # -- expressions ------------------------------------------------------
    def _operand(self, table, m) -> Any:
        cols = [column_of(table, f) for f in (m.coalesce or ((m.field,) if m.field else ()))]
        return Coalesce(*cols) if len(cols) > 1 else (cols[0] if cols else None)

    def measure(self, name: str, grouped: bool = True, axis: Dim | None = None, agg: str | None = None) -> Any:
        """The measure per group (`grouped`), over all counted rows (totals), or per value of one
        key (`axis`: a chart's bars); `agg` overrides the aggregate (a chart's hidden sums of an avg)."""
        m = self.measures[name]
        if m.expr:
            return stats_expr.build(self.trees[name], lambda n: self.measure(n, grouped, axis))
        if m.ratio:
            top, bottom = (self.measure(n, grouped, axis) for n in m.ratio)
            return QueryString("({} * 1.0 / NULLIF({}, 0))", top, bottom)
        if m.source:
            return self._source_measure(m, grouped, axis, agg)
        return self._aggregate(self.table, m, agg or m.agg)

    def _aggregate(self, table, m, agg: str) -> Any:
        """The aggregate of the measure's operand over `table`'s rows, only those of its `where`."""
        operand = self._operand(table, m)
        fn = AGGREGATES[agg]
        if m.where is not None:
            cond = where_of(table, m.where).querystring
            if operand is None:
                return QueryString("COUNT(CASE WHEN {} THEN 1 END)", cond)
            operand = QueryString("CASE WHEN {} THEN {} END", cond, operand)
        return fn() if operand is None else fn(operand)

    def _source_measure(self, m, grouped: bool, axis: Dim | None = None, agg: str | None = None) -> Any:
        """Aggregate of another entity's rows that share this group's keys (and lie in the user's scope).
        Totals and chart bars take the rows whose keys occur among the counted rows (a bar: those
        with the bar's key, which the checker makes one of the match keys)."""
        src = self.ctx.table(m.source)
        agg = agg or m.agg
        conds = [self.scope_of(m.source)]
        if grouped and axis is None:
            conds += [getattr(src, theirs) == self.dim_by_key[ours].column for theirs, ours in m.match]
        else:  # the other entity's rows whose keys occur among the counted rows
            if axis is not None:
                conds += [getattr(src, theirs) == axis.column for theirs, ours in m.match if ours == axis.key]
            inner = combine_and([self.where] + [self.dim_by_key[ours].column == getattr(src, theirs)
                                                for theirs, ours in m.match])
            conds.append(WhereRaw("EXISTS ({})", self.table.select(self.table._meta.primary_key)
                                     .where(inner).querystrings[0]))
        query = src.select(self._aggregate(src, m, agg))
        where = combine_and([c for c in conds if c is not None])
        if where is not None:
            query = query.where(where)
        value = _wrap(query)
        return Coalesce(value, 0) if agg in ("sum", "count") else value

    def _order(self, sort: str | None) -> list[tuple[Any, bool]]:
        out = []
        sort = sort or self.stat.sort
        if sort:
            name, asc = sort.lstrip("-"), not sort.startswith("-")
            if name in self.measures:
                out.append((self.measure(name), asc))
            elif name in self.dim_by_key:
                out += [(e, asc) for e in self.dim_by_key[name].orders()]
            else:
                raise BadRequest(f"不能按 {name} 排序")
        return out + [(e, True) for d in self.dims for e in d.orders()]

    # -- queries ----------------------------------------------------------
    def _grouped(self, *select: Any):
        query = self.table.select(*select).group_by(*[e for d in self.dims for e in d.group_exprs()])
        return query.where(self.where) if self.where is not None else query

    async def count_groups(self) -> int:
        rows = await self._grouped(*[s for d in self.dims for s in d.selects()]).limit(MAX_GROUPS + 1)
        if len(rows) > MAX_GROUPS:
            raise BadRequest(f"统计结果超过 {MAX_GROUPS} 组，请缩小日期范围或增加筛选条件")
        return len(rows)

    async def page(self, page: int, page_size: int, sort: str | None = None) -> list[dict[str, Any]]:
        select = [s for d in self.dims for s in d.selects()] + [self.measure(n).as_alias(n) for n in self.measures]
        query = self._grouped(*select)
        for expr, asc in self._order(sort):
            query = query.order_by(expr, ascending=asc)
        rows = await query.limit(page_size).offset((page - 1) * page_size)
        return [self._clean(r) for r in rows]

    async def along(self, key: str, names: list[str]) -> list[dict[str, Any]]:
        """One row per value of the group key `key` with the measures `names`, aggregated over every
        counted row (not only a page); an avg measure also brings `<name>__sum` and `<name>__n`, so
        the values of several rows can be merged exactly (a chart's 其他)."""
        dim = self.dim_by_key[key]
        select = list(dim.selects())
        for n in names:
            select.append(self.measure(n, axis=dim).as_alias(n))
            if self.measures[n].agg == "avg":
                select += [self.measure(n, axis=dim, agg="sum").as_alias(f"{n}__sum"),
                           self.measure(n, axis=dim, agg="count").as_alias(f"{n}__n")]
        query = self.table.select(*select).group_by(*dim.group_exprs())
        if self.where is not None:
            query = query.where(self.where)
        rows = await query.limit(MAX_GROUPS + 1)
        if len(rows) > MAX_GROUPS:
            raise BadRequest(f"统计结果超过 {MAX_GROUPS} 组，请缩小日期范围或增加筛选条件")
        return [self._clean(r) for r in rows]

    async def totals(self) -> dict[str, Any]:
        """合计: every plain measure over all counted rows; derived ones recomputed from these."""
        plain = [n for n, m in self.measures.items() if not m.expr and not m.ratio]
        query = self.table.select(*[self.measure(n, grouped=False).as_alias(n) for n in plain])
        if self.where is not None:
            query = query.where(self.where)
        row = (await query)[0]
        for name, m in self.measures.items():
            if name in self.trees:
                row[name] = stats_expr.evaluate(self.trees[name], row)
            elif m.ratio:
                top, bottom = (row.get(n) for n in m.ratio)
                row[name] = None if top is None or not bottom else float(top) / float(bottom)
        return self._clean(row)

    def _clean(self, row: dict[str, Any]) -> dict[str, Any]:
        out = dict(row)
        for d in self.dims:
            if d.fn in ("month", "quarter") and f"{d.key}__y" in out:
                year, part = out.pop(f"{d.key}__y"), out.pop(f"{d.key}__m")
                out[d.key] = None if year is None else (f"{int(year):04d}-{int(part):02d}" if d.fn == "month"
                                                        else f"{int(year):04d}-Q{int(part)}")
            elif d.fn == "year" and out.get(d.key) is not None:
                out[d.key] = f"{int(out[d.key]):04d}"
            elif d.fn == "week" and out.get(d.key) is not None:
                year, week, _ = dt.date.fromisoformat(str(out[d.key])[:10]).isocalendar()
                out[d.key] = f"{year:04d}-W{week:02d}"
        for n, m in self.measures.items():
            v = out.get(n)
            if m.ratio:
                out[n] = ratio_value(v, m)
                continue
            if v is not None and m.agg != "avg" and not isinstance(v, int):
                try:
                    out[n] = int(v) if int(v) == v else v
                except (TypeError, ValueError):
                    pass
        return out


def ratio_value(value: Any, m) -> float | None:
    """A ratio as shown: times 100 when `percent`, rounded to `places` (default 2); None stays None."""
    if value is None:
        return None
    value = float(value) * (100 if m.percent else 1)
    return round(value, 2 if m.places is None else m.places)


def scope_for(ctx: AppContext, grant, principal) -> Callable[[str], Any]:
    """The user's grant scopes applied to another entity (a `from` measure); no such path: nothing."""
    def of(entity_name: str) -> Any:
        try:
            return scopes_condition(ctx, entity_name, grant.scopes, principal)
        except (KeyError, AttributeError, ValueError):
            return never(ctx.table(entity_name))
    return of
