"""The CPU half of an import, one chunk at a time: cells -> checked, encrypted row tuples.

RowWork is built once per import (converters compiled per column, key and column positions
resolved) and turns a chunk of (row number, cells) into a Chunk: the rows ready for the bulk
INSERT/COPY, their duplicate keys, and every rejected row with its reasons. It touches no
database, so engine.py can run it inline or in forked worker processes while the main
process writes the previous chunk; the result is the same either way.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from specadmin.specs import expr
from specadmin.specs.physical import blind_index_column

from specadmin.runtime.imports.bulk import key_text
from specadmin.runtime.imports.plan import Plan

Errors = list[tuple[str, Any, str]]  # (field, value shown in the report, reason)


@dataclass
class Chunk:
    rows: int = 0  # non-empty rows read
    good: list[tuple[int, tuple, tuple, Any]] = field(default_factory=list)  # number, insert row, key, shown key
    bad: list[tuple[int, Errors]] = field(default_factory=list)
    # A good row's multi_ref cells (the columns RowWork.multi names), by row number: the keys it
    # names, ids once runtime/imports/refs.py resolved them; written as join rows.
    links: dict[int, tuple[tuple, ...]] = field(default_factory=dict)
    # The (row number, cells) the chunk was made from, set by the process that read them (never
    # sent to or from a worker): the error workbook repeats a rejected row's original cells.
    source: list[tuple[int, list[Any]]] | None = None

    def cells_of(self) -> dict[int, list[Any]]:
        return dict(self.source or ())


def _blank(cells: list[Any]) -> bool:
    for c in cells:
        if c is not None and not (type(c) is str and not c.strip()):
            return False
    return True


class RowWork:
    def __init__(self, plan: Plan, mapping: dict[int, str], columns: list[str], system_values: dict[str, Any],
                 allowed: tuple[str, set] | None, cipher):
        entity = plan.entity
        self.plan, self.allowed, self.cipher = plan, allowed, cipher
        self.cells = [(index, name, plan.converters[name]) for index, name in mapping.items()]
        self.width = max(mapping, default=-1) + 1
        self.defaults = dict(plan.defaults)
        self.required = [f.name for f in entity.fields
                         if f.required and f.stored and not f.system and f.name not in plan.defaults]
        self.checks = [(expr.parse(c.expr), c.message) for c in entity.checks]
        self.sensitive = [n for n in plan.columns if entity.field(n).sensitive]
        self.columns = columns
        # Per column: the value when the row does not carry it (system values: importer, now).
        self.fill = {n: system_values.get(n) for n in columns}
        key = list(plan.spec.key or ())
        self.key_positions = [columns.index(plan.key_column(k)) for k in key]
        self.key_first = key[0] if key else None
        # multi_ref columns in the file: no column of their own, their keys travel in Chunk.links
        self.multi = [n for _, n, _ in self.cells if entity.field(n).type == "multi_ref"]

    def __call__(self, numbered: list[tuple[int, list[Any]]]) -> Chunk:
        out = Chunk()
        converted: list[tuple[int, dict[str, Any]]] = []
        for number, cells in numbered:
            if _blank(cells):
                continue  # empty rows are not data
            out.rows += 1
            values, errors = self.convert(cells)
            if errors:
                out.bad.append((number, errors))
            else:
                converted.append((number, values))
        self.encrypt(converted)
        positions, fill, first = self.key_positions, self.fill, self.key_first
        columns = self.columns
        for number, values in converted:
            merged = fill.copy()  # system values and every column's None, then the row's own values
            merged.update(values)
            row = tuple(map(merged.__getitem__, columns))
            key = tuple([key_text(row[p]) for p in positions]) if positions else ()
            shown = values.get("__plain_" + first, values.get(first)) if first else None
            out.good.append((number, row, key, shown))
            if self.multi:
                out.links[number] = tuple(values.get(n) or () for n in self.multi)
        return out

    def convert(self, cells: list[Any]) -> tuple[dict[str, Any], Errors]:
        values, errors = dict(self.defaults), []
        if len(cells) < self.width:
            cells = list(cells) + [None] * (self.width - len(cells))
        for index, name, fn in self.cells:
            cell = cells[index]
            try:
                value = fn(cell)
            except ValueError as exc:
                errors.append((name, cell, str(exc)))
                continue
            if value is not None:
                values[name] = value
        for name in self.required:
            if values.get(name) is None and not any(e[0] == name for e in errors):
                errors.append((name, None, "必填"))
        if not errors and self.checks:
            columns = self.plan.columns
            for parsed, message in self.checks:
                if not parsed.holds(values):
                    errors.append((next(iter(parsed.fields & set(columns)), columns[0]), None, message))
        if not errors and self.allowed is not None:
            name, permitted = self.allowed
            if str(values.get(name)) not in permitted:
                errors.append((name, values.get(name), "超出您的数据权限范围"))
        return values, errors

    def encrypt(self, converted: list[tuple[int, dict[str, Any]]]) -> None:
        """One OpenSSL context per sensitive column per chunk (field_cipher's bulk API)."""
        for name in self.sensitive:
            present = [v for _, v in converted if v.get(name) is not None]
            plain = [str(v[name]) for v in present]
            tokens = self.cipher.encrypt_many(plain)
            indexes = self.cipher.blind_index_many(plain)
            index_name = blind_index_column(name)
            for values, token, index in zip(present, tokens, indexes):
                values[index_name] = index
                values["__plain_" + name] = values[name]
                values[name] = token
