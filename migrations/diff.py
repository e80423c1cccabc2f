"""Spec change → Piccolo migration: compare the last snapshot with the new physical schema.

Only additions are safe. Dropping a table or column, or changing a column's type, is
marked destructive: `specadmin migrate` refuses it without --allow-destructive and backs
up first.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from specadmin.specs.physical import PhysicalTable, Renames


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
    moved_unique: set[tuple[str, tuple[str, ...]]] = field(default_factory=set)  # unique sets renamed, not new

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


def plan_migration(old: dict[str, Any] | None, new: dict[str, Any], external: dict[str, str] | None = None,
                   renames: Renames | None = None) -> Plan:
    """What turns schema `old` into `new`. `external`: class name → table name of the tables the new
    ones may reference without owning them (the built-in modules' tables). `renames`: the spec's
    `renamed_from` hints, so a renamed table or column keeps its rows instead of being dropped."""
    plan = Plan(external=dict(external or {}))
    new_tables = new["tables"]
    old_tables = _renamed(plan, (old or {}).get("tables", {}), new_tables, renames or Renames())
    all_tables = {**old_tables, **new_tables}
    class_by_table = {tn: t["class_name"] for tn, t in all_tables.items()}

    def add_column(tn: str, name: str, col: dict, as_name: str | None = None) -> None:
        plan.column_kinds.add(col["kind"])
        plan.ops.append(
            f'manager.add_column(table_class_name="{new_tables[tn]["class_name"]}", tablename="{tn}", '
            f'column_name="{as_name or name}", db_column_name="{as_name or name}", column_class_name="{col["kind"]}", '
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
                    # Piccolo adds columns before it drops any and renames last: the new column is
                    # added under a passing name, the old one dropped, and the new one renamed.
                    passing = f"{name}__new"
                    add_column(tn, name, col, as_name=passing)
                    plan.ops.append(f'manager.drop_column(table_class_name="{t["class_name"]}", tablename="{tn}", '
                                    f'column_name="{name}", db_column_name="{name}")')
                    plan.ops.append(f'manager.rename_column(table_class_name="{t["class_name"]}", tablename="{tn}", '
                                    f'old_column_name="{passing}", new_column_name="{name}", '
                                    f'old_db_column_name="{passing}", new_db_column_name="{name}")')
                else:
                    changed = {k: v for k, v in col["params"].items() if before["params"].get(k) != v}
                    if changed.get("unique") and not before["params"].get("unique"):
                        # Made a unique index (SQLite cannot add a constraint to a column), checked
                        # for duplicate rows first like a new unique set.
                        del changed["unique"]
                        plan.new_unique.append((t["class_name"], [name]))
                        plan.checked_unique.append((t["class_name"], [name]))
                        plan.stubs[t["class_name"]] = tn
                        plan.summary.append(f"add unique index {tn}({name})")
                        if not changed:
                            continue
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


def _renamed(plan: Plan, old_tables: dict, new_tables: dict, renames: Renames) -> dict:
    """The old tables as they are once the hinted renames ran (ops first in the migration). The
    multi-column and unique indexes of a renamed table or column are dropped by their old names
    and made again under the new ones (Piccolo names an index after its table and columns)."""
    tables = {tn: {**t, "columns": dict(t["columns"])} for tn, t in old_tables.items()}
    for new_tn, old_class in renames.tables.items():
        old_tn = next((tn for tn, t in tables.items() if t["class_name"] == old_class and tn not in new_tables), None)
        if new_tn not in new_tables or new_tn in tables or old_tn is None:
            continue  # done in an earlier migration, or nothing to rename
        table = tables.pop(old_tn)
        new_class = new_tables[new_tn]["class_name"]
        plan.ops.append(f'manager.rename_table(old_class_name="{table["class_name"]}", old_tablename="{old_tn}", '
                        f'new_class_name="{new_class}", new_tablename="{new_tn}")')
        plan.summary.append(f"rename table {old_tn} to {new_tn}")
        _drop_old_indexes(plan, table, old_tn, new_tn, lambda ix: True)
        tables[new_tn] = {**table, "class_name": new_class}
        for other in tables.values():  # foreign keys follow the table (the database keeps them pointing at it)
            other["columns"] = {n: ({**c, "references": new_class} if c["references"] == old_class else c)
                                for n, c in other["columns"].items()}
    for (tn, new_col), old_col in renames.columns.items():
        table = tables.get(tn)
        if table is None or tn not in new_tables or new_col in table["columns"] or old_col not in table["columns"]:
            continue
        plan.ops.append(f'manager.rename_column(table_class_name="{new_tables[tn]["class_name"]}", tablename="{tn}", '
                        f'old_column_name="{old_col}", new_column_name="{new_col}", '
                        f'old_db_column_name="{old_col}", new_db_column_name="{new_col}")')
        plan.summary.append(f"rename column {tn}.{old_col} to {new_col}")
        table["columns"] = {(new_col if n == old_col else n): c for n, c in table["columns"].items()}
        _drop_old_indexes(plan, table, tn, tn, lambda ix: old_col in ix,
                          lambda ix: [new_col if c == old_col else c for c in ix])
    return tables


def _drop_old_indexes(plan: Plan, table: dict, tablename: str, new_tablename: str, hit, moved=lambda ix: ix) -> None:
    """Index entries of `table` that `hit` selects: dropped under their names as made (a stub class
    carrying the table's name then), and removed from the old snapshot, so the new ones are made.
    A unique set made again under its new names needs no check for duplicates (`moved_unique`)."""
    stub = table["class_name"]
    if plan.stubs.get(stub, tablename) != tablename:
        stub = f"{stub}Before"
    for key, dropped in (("indexes", plan.dropped_indexes), ("unique", plan.dropped_unique)):
        kept = []
        for ix in table.get(key, []):
            if hit(ix):
                dropped.append((stub, ix))
                if key == "unique":
                    plan.moved_unique.add((new_tablename, tuple(moved(ix))))
                plan.stubs[stub] = tablename
                plan.summary.append(f"drop {'unique ' if key == 'unique' else ''}index {tablename}({', '.join(ix)})")
            else:
                kept.append(ix)
        table[key] = kept


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
                if all(c in old.get("columns", {}) for c in ix) and (tn, tuple(ix)) not in plan.moved_unique:
                    plan.checked_unique.append((t["class_name"], ix))
        for ix in before:
            if ix not in t.get("unique", []):
                plan.dropped_unique.append((t["class_name"], ix))
                plan.stubs[t["class_name"]] = tn
                plan.summary.append(f"drop unique index {tn}({', '.join(ix)})")
