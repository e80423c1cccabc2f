"""An import's rows against the entity's unique sets (runtime/data/unique.py), so that a row that would
break one is a row error (row, the set's columns, reason) instead of the database refusing the file.

Each set is checked like the import key: within the file (one hash per row and set) and against
the stored rows (the chunk's values narrowed with IN, compared exactly here). A row an upsert
updates may keep its own values. A set equal to the import key is the key check's already. Rows
with an empty value in a set never clash (as in the database's unique index). What slips past
(a row written by someone else meanwhile) the database still refuses, worded by unique.refusal.
"""
from __future__ import annotations

from typing import Any

from specadmin.specs.physical import unique_columns, unique_sets

from specadmin.runtime.data.unique import labels
from specadmin.runtime.imports.bulk import key_text

PROBE_PARAMS = 6000  # bound parameters per existence probe, as the key probe


class UniqueGuard:
    def __init__(self, plan, writer):
        entity = plan.entity
        key = set(plan.spec.key or ())
        self.writer = writer
        self.sets = []  # (fields, column positions in a row, reason label)
        for names in unique_sets(entity):
            if set(names) == key:
                continue
            positions = [writer.columns.index(c) for c in unique_columns(entity, names)]
            self.sets.append((names, positions, labels(entity, names)))
        self.seen: list[set[int]] = [set() for _ in self.sets]

    def __bool__(self) -> bool:
        return bool(self.sets)

    async def check(self, items: list[tuple[int, tuple, int | None]], probe_db: bool) -> dict[int, list]:
        """items: (row number, row tuple, id of the stored row it updates or None), in file order. Returns
        the bad rows' errors by row number, [(fields, None, reason)] as the import's row errors. Only
        rows that pass count as "earlier rows" for later ones (a rejected row is not written)."""
        texts = [[self._text(row, positions) for _, positions, _ in self.sets] for _, row, _ in items]
        stored: list[dict[tuple, int]] = [{} for _ in self.sets]
        if probe_db:
            for index, (_, positions, _) in enumerate(self.sets):
                wanted = [row for (_, row, _), t in zip(items, texts) if t[index] is not None]
                if wanted:
                    stored[index] = await self._stored(positions, [tuple(r[p] for p in positions) for r in wanted])
        bad: dict[int, list] = {}
        for (number, _, own), row_texts in zip(items, texts):
            errors = []
            for index, (names, _, shown) in enumerate(self.sets):
                text = row_texts[index]
                if text is None:
                    continue
                field = names if len(names) > 1 else names[0]
                if hash(text) in self.seen[index]:
                    errors.append((field, None, f"与文件中前面的行重复（{shown}）"))
                elif stored[index].get(text, own) != own:
                    errors.append((field, None, f"与已有数据重复（{shown}）"))
            if errors:
                bad[number] = errors
                continue
            for index, text in enumerate(row_texts):
                if text is not None:
                    self.seen[index].add(hash(text))  # one machine word per row and set
        return bad

    @staticmethod
    def _text(row: tuple, positions: list[int]) -> tuple | None:
        value = tuple(row[p] for p in positions)
        return None if None in value else tuple(key_text(v) for v in value)

    async def _stored(self, positions: list[int], values: list[tuple]) -> dict[tuple, int]:
        """Stored rows holding any of these value tuples: their key text -> id."""
        table, writer = self.writer.table, self.writer
        cols = [writer.columns[p] for p in positions]
        found: dict[tuple, int] = {}
        step = max(1, PROBE_PARAMS // len(cols))
        for start in range(0, len(values), step):
            part = values[start:start + step]
            where = [getattr(table, c).is_in(list({v[i] for v in part})) for i, c in enumerate(cols)]
            query = table.select(table._meta.primary_key, *[getattr(table, c) for c in cols]).where(*where)
            for row in await writer.fetch(query):
                found[tuple(key_text(x) for x in row[1:])] = row[0]
        return found


def row_errors(bad: dict[int, list], items: list[Any]) -> tuple[list, list]:
    """Split items (tuples whose first element is the row number) into (kept, [(number, errors)])."""
    kept, rejected = [], []
    for item in items:
        if item[0] in bad:
            rejected.append((item[0], bad[item[0]]))
        else:
            kept.append(item)
    return kept, rejected
