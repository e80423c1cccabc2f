"""Computed fields in SQL, and the one resolver of a field name to what a query reads.

`field_sql(ctx, entity, name)` is what every query builder (lists, where clauses, filters, sort,
exports, statistics) asks for a field: its Piccolo column, or, for `type: computed`, the field's
expression (specs/computed.py) compiled to a fresh QueryString. Values travel as parameters; the
templates below are constants. The same SQL runs on SQLite and PostgreSQL:
- `age(d)` is the year difference minus one when the birthday of the reference year is still to
  come: `Y - year(d) - CASE WHEN month(d) * 100 + day(d) > MD THEN 1 ELSE 0 END`, with the reference
  day (runtime/data/where.py `clock`, which tests freeze) as parameters Y and MD;
- `band(x, [18, 60])` is `CASE WHEN x IS NULL THEN NULL ELSE CASE WHEN x < 18 THEN '0-17' ELSE ... END END`;
- `a / b` is `a * 1.0 / NULLIF(b, 0)`: a zero divisor gives null, never an error;
- a path through refs is a correlated scalar subquery on the target's key, as statistics keys are.
Its parameters make a computed expression unfit for a GROUP BY that PostgreSQL must match to the
select list: statistics group by the expression and select MIN of it (runtime/stats/query.py).
"""
from __future__ import annotations

import datetime as dt
import functools
from typing import TYPE_CHECKING, Any

from piccolo.columns.combination import WhereRaw
from piccolo.querystring import QueryString
from specadmin.specs import computed
from specadmin.specs.model import Entity, Field
from specadmin.specs.paths import resolve

from specadmin.runtime.data import where as where_mod
from specadmin.runtime.data.aggregates import aggregate_sql
from specadmin.runtime.data.paths import key_column

if TYPE_CHECKING:
    from specadmin.runtime.app.context import AppContext

ARITHMETIC = {"+": "({} + {})", "-": "({} - {})", "*": "({} * {})"}
COMPARE = {"<": "({} < {})", "<=": "({} <= {})", ">": "({} > {})", ">=": "({} >= {})", "==": "({} = {})",
           "!=": "({} <> {})"}
LOGIC = {"and": "({} AND {})", "or": "({} OR {})"}


def is_computed(entity: Entity, name: str) -> bool:
    return entity.has_field(name) and entity.field(name).type == "computed"


def field_sql(ctx: "AppContext", entity: Entity, name: str, table=None) -> Any:
    """The column of field `name`, or its computed expression (a fresh `Computed` each call)."""
    table = table or ctx.table(entity.name)
    if is_computed(entity, name):
        return Computed(name, lambda: expression(ctx, entity, entity.field(name), table), table._meta.db.engine_type,
                        entity.field(name).value_type)
    return getattr(table, name)


def with_computed(ctx: "AppContext", entity: Entity, table=None) -> list:
    """A whole-row select list: every column, and each computed field's value under its name (an
    action's `when`, a check on the row before a write, read the row as the list shows it)."""
    table = table or ctx.table(entity.name)
    names = [f.name for f in entity.fields if f.type == "computed"]
    if not names:
        return []
    return [*table.all_columns(), *[field_sql(ctx, entity, n, table).as_alias(n) for n in names]]


def install(ctx: "AppContext") -> None:
    """Let where clauses (runtime/data/where.py, which knows tables only) reach the computed fields."""
    for entity in ctx.app.entities:
        names = {f.name for f in entity.fields if f.type == "computed"}
        if names:
            table = ctx.table(entity.name)
            where_mod.EXPRESSIONS[table] = (names, lambda name, e=entity, t=table: field_sql(ctx, e, name, t))


class _Name:
    def __init__(self, name: str):
        self.name = name


class Computed(QueryString):
    """A computed field's SQL used like a column: compared, ordered, selected under an alias. Its
    comparisons are Piccolo conditions (WhereRaw), so they combine with And/Or like a column's.
    Each use compiles the expression afresh: the reference day is read when the query is built."""

    def __init__(self, name: str, make, engine: str, value_type: str | None = None):
        super().__init__("{}", make())
        self._make, self._engine, self._meta, self.value_type = make, engine, _Name(name), value_type

    def fresh(self) -> QueryString:
        return self._make()

    def _cond(self, template: str, *values: Any) -> WhereRaw:
        return WhereRaw(template, self.fresh(), *values)

    def __eq__(self, value):  # type: ignore[override]
        return self.is_null() if value is None else self._cond("{} = {}", value)

    def __ne__(self, value):  # type: ignore[override]
        return self.is_not_null() if value is None else self._cond("{} <> {}", value)  # as a column's !=

    def __gt__(self, value):
        return self._cond("{} > {}", value)

    def __ge__(self, value):
        return self._cond("{} >= {}", value)

    def __lt__(self, value):
        return self._cond("{} < {}", value)

    def __le__(self, value):
        return self._cond("{} <= {}", value)

    def is_null(self):
        return self._cond("{} IS NULL")

    def is_not_null(self):
        return self._cond("{} IS NOT NULL")

    def is_in(self, values):
        values = list(values)
        if not values:
            return self._cond("{} IS NULL AND {} IS NOT NULL", self.fresh())
        return where_mod.combine_or([self == v for v in values])

    def ilike(self, value: str):
        return self._cond("{} ILIKE {}" if self._engine == "postgres" else "{} LIKE {}", value)

    def as_alias(self, alias: str) -> QueryString:
        return self.fresh().as_alias(alias)


@functools.lru_cache(maxsize=512)
def _tree(expr: str) -> Any:
    """The parsed expression (a tuple tree, never changed), once per text."""
    return computed.parse(expr)


def expression(ctx: "AppContext", entity: Entity, f: Field, table=None) -> QueryString:
    """The field's SQL as of now (the reference day of `age` is read from the clock)."""
    if f.aggregate is not None:
        return aggregate_sql(ctx, entity, f, table or ctx.table(entity.name))
    tree = _tree(f.expr)
    compiler = _Compiler(ctx, entity, table or ctx.table(entity.name), where_mod.now().date())
    return compiler.build(tree, labels=computed.labels_of(tree, f.labels))


class _Compiler:
    def __init__(self, ctx: "AppContext", entity: Entity, table, today: dt.date):
        self.ctx, self.entity, self.table, self.today = ctx, entity, table, today
        self.engine = table._meta.db.engine_type

    def build(self, tree: Any, labels: tuple[str, ...] = ()) -> QueryString:
        kind = tree[0]
        if kind in ("num", "str"):
            return QueryString("{}", tree[1])
        if kind == "path":
            return self.path(tree[1])
        if kind == "neg":
            return QueryString("(0 - {})", self.build(tree[1]))
        if kind == "call":
            return self.call(tree[1], tree[2], labels)
        left, right = self.build(tree[1]), self.build(tree[2])
        if kind == "/":
            return QueryString("({} * 1.0 / NULLIF({}, 0))", left, right)
        template = ARITHMETIC.get(kind) or COMPARE.get(kind) or LOGIC[kind]
        return QueryString(template, left, right)

    def path(self, path: str) -> QueryString:
        resolved = resolve(self.ctx.app, self.entity, path, lookups=True)
        parts = resolved.names
        expr: Any = getattr(self.table, parts[0])
        for hop, part in zip(resolved.hops, parts[1:]):
            target = self.ctx.table(hop.target)
            inner = target.select(getattr(target, part)).where(key_column(self.ctx, hop) == expr).limit(1)
            expr = QueryString("({})", inner.querystrings[0])
        return expr if isinstance(expr, QueryString) else QueryString("{}", expr)

    def part(self, of: QueryString, unit: str) -> QueryString:
        if self.engine == "sqlite":
            return QueryString("CAST(strftime({}, {}) AS INTEGER)", {"year": "%Y", "month": "%m", "day": "%d"}[unit], of)
        template = {"year": "CAST(EXTRACT(YEAR FROM {}) AS INTEGER)", "month": "CAST(EXTRACT(MONTH FROM {}) AS INTEGER)",
                    "day": "CAST(EXTRACT(DAY FROM {}) AS INTEGER)"}[unit]
        return QueryString(template, of)

    def call(self, name: str, args: tuple, labels: tuple[str, ...]) -> QueryString:
        """A function of the expression language (specs/computed.py FUNCTIONS) as SQL."""
        if name in ("year", "month", "day"):
            return self.part(self.build(args[0]), name)
        return getattr(self, f"_{name}")(args, labels)

    def _age(self, args: tuple, labels: tuple[str, ...]) -> QueryString:
        """Whole years since a date on the reference day: the year difference, less one before the birthday."""
        born = self.build(args[0])
        return QueryString("({} - {} - CASE WHEN {} * 100 + {} > {} THEN 1 ELSE 0 END)",
                           self.today.year, self.part(born, "year"), self.part(self.build(args[0]), "month"),
                           self.part(self.build(args[0]), "day"), self.today.month * 100 + self.today.day)

    def _band(self, args: tuple, labels: tuple[str, ...]) -> QueryString:
        bounds = args[1][1]
        names = labels or computed.default_labels(bounds)
        inner: QueryString = QueryString("{}", names[-1])
        for bound, label in reversed(list(zip(bounds, names))):
            inner = QueryString("CASE WHEN {} < {} THEN {} ELSE {} END", self.build(args[0]), bound, label, inner)
        return QueryString("CASE WHEN {} IS NULL THEN NULL ELSE {} END", self.build(args[0]), inner)

    def _if(self, args: tuple, labels: tuple[str, ...]) -> QueryString:
        return QueryString("CASE WHEN {} THEN {} ELSE {} END", *[self.build(a) for a in args])

    def _coalesce(self, args: tuple, labels: tuple[str, ...]) -> QueryString:
        result = self.build(args[-1])
        for a in reversed(args[:-1]):
            result = QueryString("COALESCE({}, {})", self.build(a), result)
        return result
