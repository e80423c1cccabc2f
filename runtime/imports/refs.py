"""Ref columns whose cells name the target by a business key (a place by its code, a person by
number): the field's `by`, or the import's `ref_keys`. Each chunk's keys become ids with one query
per ref column (the keys bound as parameters, in parts of PROBE_PARAMS), inside the rows the importer
may reference (runtime/security/ref_scope.py). A key that names no such row, whether it does not
exist or lies outside that view, is the row error “X”不存在 on its column: the answer reveals nothing.
A multi_ref cell names several targets (`A01、A02`): each must be such a row, the unknown ones are
named together (“A07”、“A09”不存在), and the chunk's links (Chunk.links) get the targets' ids.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from specadmin.runtime.data.where import combine_and
from specadmin.runtime.imports.bulk import key_text
from specadmin.runtime.security.ref_scope import UNRESTRICTED, field_condition

if TYPE_CHECKING:
    from specadmin.runtime.app.context import AppContext
    from specadmin.runtime.imports.bulk import BulkWriter
    from specadmin.runtime.imports.plan import Plan
    from specadmin.runtime.security.principal import Principal

PROBE_PARAMS = 6000


def missing(value: Any) -> str:
    return f"“{value}”不存在"


def missing_all(values: list[Any]) -> str:
    return "、".join(f"“{v}”" for v in values) + "不存在"


class RefKeys:
    def __init__(self, ctx: AppContext, plan: Plan, principal: Principal, writer: BulkWriter):
        self.writer = writer
        self.refs = []  # (field, position in a row, target key column, target id column, condition)
        self.multi = {}  # multi_ref field -> (target key column, target id column, condition)
        for name, target_field in plan.ref_keys.items():
            field = plan.entity.field(name)
            target = ctx.table(field.to)
            condition = field_condition(ctx, principal, field)
            if field.type == "multi_ref":
                self.multi[name] = (getattr(target, target_field), target._meta.primary_key, condition)
                continue
            self.refs.append((name, writer.columns.index(name), getattr(target, target_field),
                              target._meta.primary_key, condition))
        self.key_positions = [writer.columns.index(plan.key_column(k)) for k in plan.spec.key or ()]

    def __bool__(self) -> bool:
        return bool(self.refs or self.multi)

    async def resolve(self, good: list[tuple[int, tuple, tuple, Any]], links: dict[int, tuple[tuple, ...]] | None = None,
                      names: list[str] = ()) -> tuple[list, list]:
        """The chunk's good rows with ids in place of business keys, and the rows naming no visible target.
        links: the rows' multi_ref keys (the fields `names`), replaced by the targets' ids in place."""
        found = [await self._ids(column, pk, condition, {row[p] for _, row, _, _ in good if row[p] is not None})
                 for _, p, column, pk, condition in self.refs]
        links = links if links is not None else {}
        several = []
        for i, name in enumerate(names):
            column, pk, condition = self.multi[name]
            keys = {k for number, *_ in good for k in links.get(number, ((),) * len(names))[i]}
            several.append((i, name, await self._ids(column, pk, condition, keys)))
        kept, bad = [], []
        positions = self.key_positions
        for number, row, key, shown in good:
            values, errors = list(row), []
            if several and number in links:
                cells = list(links[number])
                for i, name, ids in several:
                    unknown = [k for k in cells[i] if k not in ids]
                    if unknown:
                        errors.append((name, "、".join(map(str, cells[i])), missing_all(unknown)))
                    cells[i] = tuple(ids[k] for k in cells[i] if k in ids)
                links[number] = tuple(cells)
            for (name, p, *_), ids in zip(self.refs, found):
                if row[p] is None:
                    continue
                row_id = ids.get(row[p])
                if row_id is None:
                    errors.append((name, row[p], missing(row[p])))
                values[p] = row_id
            if errors:
                bad.append((number, errors))
                continue
            if any(p in positions for _, p, *_ in self.refs):  # the key compares stored values: ids now
                key = tuple([key_text(values[p]) for p in positions])
            kept.append((number, tuple(values), key, shown))
        return kept, bad

    async def _ids(self, column, pk, condition, values: set) -> dict[Any, int]:
        ids: dict[Any, int] = {}
        values = sorted(values, key=str)
        for start in range(0, len(values), PROBE_PARAMS):
            part = values[start:start + PROBE_PARAMS]
            where = column.is_in(part) if condition is UNRESTRICTED else combine_and([column.is_in(part), condition])
            for key, row_id in await self.writer.fetch(column._meta.table.select(column, pk).where(where)):
                ids[key] = row_id
        return ids
