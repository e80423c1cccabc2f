"""Spec change → Piccolo migration: compare the last snapshot with the new physical schema.

Only additions are safe. Dropping a table or column, or changing a column's type, is
marked destructive: `specadmin migrate` refuses it without --allow-destructive and backs
up first.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from specadmin.specs.physical import PhysicalTable


def snapshot_of(tables: tuple[PhysicalTable, ...]) -> dict[str, Any]:
    return {
        "tables": {
            t.tablename: {
                "class_name": t.class_name,
                "columns": {c.name: {"kind": c.kind, "params": {k: _jsonable(v) for k, v in c.params},
                                     "references": c.references} for c in t.columns},
                "indexes": [list(ix) for ix in t.indexes],
                **({"unique": [list(ix) for ix in t.unique]} if t.unique else {}),  # absent: older snapshots read the same
            }
            for t in tables
        }
    }


def _jsonable(v: Any) -> Any:
    return list(v) if isinstance(v, tuple) else v


@dataclass
class Plan:
    ops: list[str] = field(default_factory=list)
    column_kinds: set[str] = field(default_factory=set)
    stubs: dict[str, str] = field(default_factory=dict)  # class name -> tablename referenced by FKs
    destructive: bool = False
    summary: list[str] = field(default_factory=list)
    new_indexes: list[tuple[str, list[str]]] = field(default_factory=list)  # (class name, columns)
    dropped_indexes: list[tuple[str, list[str]]] = field(default_factory=list)
    new_unique: list[tuple[str, list[str]]] = field(default_factory=list)  # (class name, columns) of unique indexes
    dropped_unique: list[tuple[str, list[str]]] = field(default_factory=list)
    checked_unique: list[tuple[str, list[str]]] = field(default_factory=list)  # new ones over rows that exist already
    external: dict[str, str] = field(default_factory=dict)  # class name -> tablename of tables owned elsewhere

    @property
    def empty(self) -> bool:
        return not (self.ops or self.new_indexes or self.dropped_indexes or self.new_unique or self.dropped_unique)

    def description(self, limit: int = 300) -> str:
        """One line for the migration's docstring: a column added to several tables at once (a new
        system column) is named once, with the tables, instead of once per table."""
        added: dict[str, list[str]] = {}
        for item in self.summary:
            if item.startswith("add column "):
                tablename, _, name = item[len("add column "):].rpartition(".")
                added.setdefault(name, []).append(tablename)
        parts, named = [], set()
        for item in self.summary:
            name = item.rpartition(".")[2] if item.startswith("add column ") else None
            if name is None or len(added[name]) == 1:
                parts.append(item)
            elif name not in named:
                named.add(name)
                parts.append(f"add column {name} to {len(added[name])} tables ({', '.join(added[name])})")
        text = "; ".join(parts)
        return text if len(text) <= limit else text[:limit - 1] + "…"


def _py(v: Any) -> str:
    return repr(tuple(v)) if isinstance(v, list) else repr(v)


def _params_code(col: dict, plan: Plan, class_by_table: dict[str, str], tables: dict) -> str:
    items = []
    for k, v in sorted(col["params"].items()):
        if k == "on_delete":
            items.append(f'"on_delete": OnDelete.{v}')
        else:
            items.append(f'"{k}": {_py(v)}')
    if col["references"]:
        ref = col["references"]
        tablename = next((tn for tn, t in tables.items() if t["class_name"] == ref), None) or plan.external[ref]
        plan.stubs[ref] = tablename
        items.append(f'"references": {ref}')
    return "{" + ", ".join(items) + "}"


def plan_migration(old: dict[str, Any] | None, new: dict[str, Any], external: dict[str, str] | None = None) -> Plan:
    """What turns schema `old` into `new`. `external`: class name → table name of the tables the new
    ones may reference without owning them (the built-in modules' tables)."""
    plan = Plan(external=dict(external or {}))
    old_tables = (old or {}).get("tables", {})
    new_tables = new["tables"]
    all_tables = {**old_tables, **new_tables}
    class_by_table = {tn: t["class_name"] for tn, t in all_tables.items()}

    def add_column(tn: str, name: str, col: dict) -> None:
        plan.column_kinds.add(col["kind"])
        plan.ops.append(
            f'manager.add_column(table_class_name="{new_tables[tn]["class_name"]}", tablename="{tn}", '
            f'column_name="{name}", db_column_name="{name}", column_class_name="{col["kind"]}", '
            f'column_class={col["kind"]}, params={_params_code(col, plan, class_by_table, all_tables)})'
        )

    for tn, t in new_tables.items():
        if tn not in old_tables:
            plan.ops.append(f'manager.add_table(class_name="{t["class_name"]}", tablename="{tn}")')
            plan.summary.append(f"add table {tn}")
            for name, col in t["columns"].items():
                add_column(tn, name, col)
            continue
        old_cols = old_tables[tn]["columns"]
        for name, col in t["columns"].items():
            if name not in old_cols:
                add_column(tn, name, col)
                plan.summary.append(f"add column {tn}.{name}")
            elif old_cols[name] != col:
                before = old_cols[name]
                if before["kind"] != col["kind"] or before["references"] != col["references"]:
                    plan.destructive = True
                    plan.summary.append(f"replace column {tn}.{name} ({before['kind']} -> {col['kind']})")
                    plan.ops.append(f'manager.drop_column(table_class_name="{t["class_name"]}", tablename="{tn}", '
                                    f'column_name="{name}", db_column_name="{name}")')
                    add_column(tn, name, col)
                else:
                    changed = {k: v for k, v in col["params"].items() if before["params"].get(k) != v}
                    old_params = {k: before["params"].get(k) for k in changed}
                    plan.column_kinds.add(col["kind"])
                    plan.summary.append(f"alter column {tn}.{name} {sorted(changed)}")
                    plan.ops.append(
                        f'manager.alter_column(table_class_name="{t["class_name"]}", tablename="{tn}", '
                        f'column_name="{name}", db_column_name="{name}", params={changed!r}, '
                        f'old_params={old_params!r}, column_class={col["kind"]}, old_column_class={col["kind"]})'
                    )
        for name in old_cols:
            if name not in t["columns"]:
                plan.destructive = True
                plan.summary.append(f"drop column {tn}.{name}")
                plan.ops.append(f'manager.drop_column(table_class_name="{t["class_name"]}", tablename="{tn}", '
                                f'column_name="{name}", db_column_name="{name}")')
    for tn, t in new_tables.items():
        before = old_tables.get(tn, {}).get("indexes", [])
        for ix in t.get("indexes", []):
            if ix not in before:
                plan.new_indexes.append((t["class_name"], ix))
                plan.stubs[t["class_name"]] = tn
                plan.summary.append(f"add index {tn}({', '.join(ix)})")
        for ix in before:
            if ix not in t.get("indexes", []):
                plan.dropped_indexes.append((t["class_name"], ix))
                plan.stubs[t["class_name"]] = tn
                plan.summary.append(f"drop index {tn}({', '.join(ix)})")
    _plan_unique(plan, old_tables, new_tables)
    for tn, t in old_tables.items():
        if tn not in new_tables:
            plan.destructive = True
            plan.summary.append(f"drop table {tn}")
            plan.ops.append(f'manager.drop_table(class_name="{t["class_name"]}", tablename="{tn}")')
    return plan


def _plan_unique(plan: Plan, old_tables: dict, new_tables: dict) -> None:
    """Unique indexes (composite `unique:` sets, sensitive fields by blind index). One over a table and
    columns that exist already is also checked for duplicate rows before the migration changes anything."""
    for tn, t in new_tables.items():
        old = old_tables.get(tn, {})
        before = old.get("unique", [])
        for ix in t.get("unique", []):
            if ix not in before:
                plan.new_unique.append((t["class_name"], ix))
                plan.stubs[t["class_name"]] = tn
                plan.summary.append(f"add unique index {tn}({', '.join(ix)})")
                if all(c in old.get("columns", {}) for c in ix):
                    plan.checked_unique.append((t["class_name"], ix))
        for ix in before:
            if ix not in t.get("unique", []):
                plan.dropped_unique.append((t["class_name"], ix))
                plan.stubs[t["class_name"]] = tn
                plan.summary.append(f"drop unique index {tn}({', '.join(ix)})")
