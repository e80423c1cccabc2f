"""The bulk write route: one raw connection, many rows per statement, all or nothing.

SQLite gets parameterised `executemany`; PostgreSQL gets `COPY` (asyncpg
copy_records_to_table). Statements are compiled from Piccolo query builders, values are
always parameters. Per-row ORM objects cost ~165 µs each; this route costs a few µs.

The rows of one file commit together or not at all. PostgreSQL keeps one transaction for the
whole file (its row locks stop nobody else). SQLite has one writer at a time, so a file-long
transaction would lock every other writer (logins, the operation log) out for minutes: there the
rows are staged in a private temporary database attached to the import's connection (`ATTACH ''`:
SQLite deletes it when the connection closes and, being unlinked at creation, when the process is
killed), committed chunk by chunk without touching the app's database, and `publish` moves them
into the real tables in one short final transaction. A crash before that leaves nothing.

Join rows (a multi_ref column: `insert_links`) need the new rows' ids before they exist. On
PostgreSQL `insert_rows(numbered=True)` takes the ids from the table's sequence first (one nextval
query per chunk) and COPYs the rows with them. On SQLite a staged row's number is its STAGE_SEQ; the
staged links name it, and `publish`, holding the write lock, gives the rows the ids max(id) + STAGE_SEQ
and the links the same. Links of updated rows name real ids; `clear_links` drops their old ones first.
"""
from __future__ import annotations

import datetime as dt
import sqlite3
from collections.abc import Iterable, Iterator
from typing import Any

from piccolo.columns import BigInt, ForeignKey, Integer
from piccolo.querystring import QueryString
from piccolo.table import Table, create_table_class

from specadmin.runtime.data.compiled import compiled, placeholder_row
from specadmin.runtime.data.db import is_sqlite
from specadmin.specs.physical import ROW_VERSION

STAGE = "stage"  # the schema name of the attached staging database
STAGED_ROW = "stage_row_id"  # the staged updates' column naming the row to update
STAGE_SEQ = "stage_seq"  # a staged row's place in the file
FRESH = "stage_fresh"  # a staged link's column: 1 when its owner is a STAGE_SEQ (a new row), 0 an id
# PostgreSQL: n ids of a table taken ahead from its serial's sequence (table, column, n as parameters).
RESERVE_IDS = "SELECT nextval(pg_get_serial_sequence({}, {})) FROM generate_series(1, {})"

_STAGED_CLASSES: dict[tuple, type[Table]] = {}  # built once per target: Piccolo keeps every Table class for good


def _staged_copy(table: type[Table], names: list[str], name: str, extra: dict[str, Any] | None = None,
                 schema: str = STAGE) -> type[Table]:
    """A table of the staging schema (or `schema`: PostgreSQL's pg_temp) with the named columns of
    `table` (no constraints, no indexes), then `extra`; its own primary key is STAGE_SEQ (the order
    rows were staged in)."""
    key = (table, tuple(names), name, tuple(extra or ()), schema)
    if key not in _STAGED_CLASSES:
        _STAGED_CLASSES[key] = _build_staged(table, names, name, extra, schema)
    return _STAGED_CLASSES[key]


def _build_staged(table: type[Table], names: list[str], name: str, extra: dict[str, Any] | None,
                  schema: str) -> type[Table]:
    from piccolo.columns import Serial

    members: dict[str, Any] = {STAGE_SEQ: Serial(primary_key=True)}
    for n in names:
        column = getattr(table, n)
        # A reference is staged as its bare id: a temporary table may not point at a real one (PostgreSQL).
        column = (BigInt() if column.column_type == "BIGINT" else Integer()) if isinstance(column, ForeignKey) \
            else column.copy()
        column._meta.unique = False
        column._meta.index = False
        column._meta.null = True
        members[n] = column
    members.update(extra or {})
    return create_table_class(f"Staged{table.__name__}",
                              class_kwargs={"tablename": name, "schema": schema, "db": table._meta.db},
                              class_members=members)


class BulkWriter:
    """Writes into one table (and the batch table) over a private connection, all or nothing.

    open(head=(table, values)) names the batch row written with the data: on PostgreSQL it is
    inserted at once (inside the transaction; `head_id` is its id), on SQLite by `publish`.
    insert_rows / update_rows / flush per chunk; `publish` commits everything, `close(rollback=True)`
    drops everything."""

    def __init__(self, ctx, entity_name: str):
        self.ctx = ctx
        self.table = ctx.table(entity_name)
        self.sqlite = is_sqlite(ctx.engine)
        self.engine_type = "sqlite" if self.sqlite else "postgres"
        self.columns = [c._meta.db_column_name for c in self.table._meta.columns
                        if c is not self.table._meta.primary_key]
        self.conn: Any = None
        self.head: tuple[type[Table], dict[str, Any]] | None = None
        self.head_id: int | None = None
        self.staged: dict[type[Table], type[Table]] = {}  # target table -> its staging table, in first-use order
        self.staged_updates: tuple[type[Table], list[str]] | None = None
        self.counts: dict[type[Table], int] = {}  # rows staged per table (SQLite): the next STAGE_SEQ - 1
        self.links: dict[type[Table], type[Table]] = {}  # join table -> its staged links (SQLite)
        self.numbered = False  # SQLite: some staged rows of the entity carry their STAGE_SEQ as id

    # -- connection ---------------------------------------------------------
    async def open(self, head: tuple[type[Table], dict[str, Any]] | None = None) -> None:
        self.head = head
        if self.sqlite:
            path = self.ctx.engine.connection_kwargs["database"]
            busy = self.ctx.engine.connection_kwargs.get("timeout", 30)  # the app's busy timeout (runtime/data/db.py)
            self.conn = sqlite3.connect(path, timeout=busy, isolation_level=None, check_same_thread=False)
            # 64 MB of page cache for this connection only: with a dozen indexes (random blind-index
            # keys among them) the 2 MB default makes every insert touch the disk.
            self.conn.execute("PRAGMA cache_size = -65536")
            self.conn.execute("ATTACH DATABASE '' AS stage")
            self.conn.execute("PRAGMA stage.journal_mode = OFF")  # thrown away on any failure anyway
            self.conn.execute("PRAGMA stage.synchronous = OFF")
            self.conn.execute("BEGIN")
        else:
            import asyncpg

            self.conn = await asyncpg.connect(self.ctx.engine.config["dsn"],
                                              server_settings=self.ctx.engine.config.get("server_settings"))
            self.tx = self.conn.transaction()
            await self.tx.start()
            if head is not None:
                self.head_id = await self.insert_one(*head)

    async def flush(self) -> None:
        """End of a chunk: on SQLite the staged rows are committed to the staging database, and the
        read snapshot of the app's database is let go (nothing of it was locked)."""
        if self.sqlite:
            self.conn.execute("COMMIT")
            self.conn.execute("BEGIN")

    async def publish(self, head_values: dict[str, Any] | None = None, fill: str | None = None) -> int | None:
        """Commit the file: the head row (with `head_values` on top) and every row written.

        fill: a column of the entity's rows that takes the head row's id (rows written before the
        id was known carry None there: SQLite's staged rows)."""
        if not self.sqlite:
            if self.head is not None and head_values:
                await self.update_one(self.head[0], self.head_id, head_values)
            await self.tx.commit()
            return self.head_id
        self.conn.execute("COMMIT")
        self.conn.execute("BEGIN IMMEDIATE")  # the one short write transaction on the app's database
        if self.head is not None:
            self.head_id = await self.insert_one(self.head[0], {**self.head[1], **(head_values or {})})
        base = self._number_rows() if self.numbered else 0
        for table, staged in self.staged.items():
            self._move(table, staged, fill if table is self.table else None)
        if self.staged_updates is not None:
            staged, names = self.staged_updates
            select = staged.select(*[getattr(staged, n) for n in names], getattr(staged, STAGED_ROW)).order_by(
                staged._meta.primary_key)
            sql, args = select.querystrings[0].compile_string(engine_type="sqlite")
            self.conn.executemany(self._update_sql(names), self.conn.execute(sql, args))
            await self._bump_versions(staged.select(getattr(staged, STAGED_ROW)))
        for join, staged in self.links.items():
            self._move_links(join, staged, base)
        self.conn.execute("COMMIT")
        return self.head_id

    def _run(self, query) -> list[tuple]:
        sql, args = query.querystrings[0].compile_string(engine_type="sqlite")
        return self.conn.execute(sql, args).fetchall()

    def _number_rows(self) -> int:
        """SQLite, inside publish's write transaction: the numbered staged rows of the entity (their
        id holds their STAGE_SEQ, the number their staged links name) get the ids max(id) + that
        number; returns that max(id). (One import numbers all its rows or none.)"""
        from piccolo.query.functions.aggregate import Max

        table, staged = self.table, self.staged.get(self.table)
        pk = table._meta.primary_key
        base = self._run(table.select(Max(pk)))[0][0] or 0
        if staged is not None:
            number = getattr(staged, pk._meta.db_column_name)
            self._run(staged.update({number: number + base}, force=True))
        return base

    def _move_links(self, join: type[Table], staged: type[Table], base: int) -> None:
        """The staged links into the join table: first the old links of the rows marked cleared
        (target empty), then every link, a new row's owner turned from its STAGE_SEQ into its id."""
        owner, target, fresh = staged.owner, staged.target, getattr(staged, FRESH)
        cleared = staged.select(owner).where(target.is_null())
        self._run(join.delete().where(join.owner.is_in(cleared)))
        self._run(staged.delete().where(target.is_null()))
        self._run(staged.update({owner: owner + base}, force=True).where(fresh == 1))
        self._move(join, staged, None)

    async def commit(self) -> None:
        await self.publish()

    def _move(self, table: type[Table], staged: type[Table], fill: str | None) -> None:
        """INSERT ... SELECT from the staging table, in file order: one statement run by SQLite itself
        (3-4x faster than sending the rows through executemany), so the lock is held briefly."""
        if fill is not None:
            sql, args = staged.update({getattr(staged, fill): self.head_id}, force=True).querystrings[0] \
                .compile_string(engine_type="sqlite")
            self.conn.execute(sql, args)
        # The target and its column list as Piccolo compiles them for an INSERT of one row, the rows
        # from a Piccolo SELECT of the staging table (its `id` is empty: SQLite numbers the rows).
        insert = compiled(table.insert(placeholder_row(table)), "sqlite").partition(" VALUES ")[0]
        order = [c._meta.db_column_name for c in table._meta.columns]
        select = staged.select(*[getattr(staged, c) for c in order]).order_by(getattr(staged, STAGE_SEQ))
        sql, args = QueryString("{} {}", QueryString(insert), select.querystrings[0]).compile_string(
            engine_type="sqlite")
        self.conn.execute(sql, args)

    async def close(self, rollback: bool = False) -> None:
        if self.conn is None:
            return
        try:
            if rollback:
                if self.sqlite:
                    if self.conn.in_transaction:
                        self.conn.execute("ROLLBACK")
                else:
                    await self.tx.rollback()
        finally:
            if self.sqlite:
                self.conn.close()  # the staging database goes with the connection
            else:
                await self.conn.close()
            self.conn = None

    # -- statements ---------------------------------------------------------
    async def fetch(self, query) -> list[tuple]:
        """query: a Piccolo query, or a QueryString built from Piccolo's."""
        query = query if isinstance(query, QueryString) else query.querystrings[0]
        sql, args = query.compile_string(engine_type=self.engine_type)
        if self.sqlite:
            return self.conn.execute(sql, args).fetchall()
        return [tuple(r) for r in await self.conn.fetch(sql, *args)]

    async def has_rows(self) -> bool:
        """Whether the entity's table holds any row (committed before this import)."""
        table = self.table
        return bool(await self.fetch(table.select(table._meta.primary_key).limit(1)))

    def _stage_of(self, table: type[Table]) -> type[Table]:
        staged = self.staged.get(table)
        if staged is None:
            pk = table._meta.primary_key._meta.db_column_name
            staged = self.staged[table] = _staged_copy(table, self._all_columns(table), table._meta.tablename,
                                                       {pk: Integer(null=True)})
            for ddl in _ddl(staged):
                self.conn.execute(ddl)
        return staged

    async def insert_rows(self, rows: list[tuple], table: type[Table] | None = None,
                          columns: list[str] | None = None, numbered: bool = False) -> list[int] | None:
        """rows: tuples in `columns` order (default: every column but the primary key).

        numbered: return each row's number for `insert_links` (PostgreSQL: its id, taken ahead from
        the sequence; SQLite: its STAGE_SEQ, made an id by publish)."""
        table = table or self.table
        columns = columns or self.columns
        if not rows:
            return [] if numbered else None
        numbers = None
        if self.sqlite:
            done = self.counts.get(table, 0)
            self.counts[table] = done + len(rows)
            numbers = list(range(done + 1, done + len(rows) + 1))
        elif numbered:
            pk = table._meta.primary_key._meta.db_column_name
            query = QueryString(RESERVE_IDS, table._meta.tablename, pk, len(rows))
            numbers = [r[0] for r in await self.fetch(query)]
            rows = [(n, *r) for n, r in zip(numbers, rows)]
            columns = [pk, *columns]
        if self.sqlite:
            target = self._stage_of(table)
            sql = compiled(target.insert(placeholder_row(target)), "sqlite")
            if columns != self._all_columns(table):
                # columns not given get their default, as COPY gives them on PostgreSQL (row version 1)
                positions = {name: i for i, name in enumerate(columns)}
                defaults = {c._meta.db_column_name: c.get_default_value() for c in table._meta.columns}
                rows = [tuple(r[positions[n]] if n in positions else defaults[n] for n in self._all_columns(table))
                        for r in rows]
            if numbered:  # the staged row's id (last) holds its number until publish
                self.numbered = True
                self.conn.executemany(sql, [(*r, n) for r, n in zip(rows, numbers)])
            else:
                self.conn.executemany(sql, [(*r, None) for r in rows])  # the staged row's empty id comes last
        else:
            await self.conn.copy_records_to_table(table._meta.tablename, records=rows, columns=columns)
        return numbers if numbered else None

    async def insert_links(self, join: type[Table], pairs: list[tuple[int, int]], fresh: bool) -> None:
        """Join rows (owner, target). fresh: the owners are numbers insert_rows(numbered=True) gave
        (new rows), else ids of stored rows."""
        if not pairs:
            return
        if not self.sqlite:
            await self.conn.copy_records_to_table(join._meta.tablename, records=pairs, columns=["owner", "target"])
            return
        staged = self._links_of(join)
        order = self._all_columns(staged)
        value = {FRESH: 1 if fresh else 0}
        self.conn.executemany(compiled(staged.insert(placeholder_row(staged)), "sqlite"),
                              [tuple(value.get(c, o if c == "owner" else t if c == "target" else None) for c in order)
                               for o, t in pairs])

    async def clear_links(self, join: type[Table], owners: list[int]) -> None:
        """Drop the join rows of these stored rows (an upsert replaces them), in the same transaction."""
        if not owners:
            return
        if not self.sqlite:
            for start in range(0, len(owners), 6000):
                query = join.delete().where(join.owner.is_in(owners[start:start + 6000]))
                sql, args = query.querystrings[0].compile_string(engine_type="postgres")
                await self.conn.execute(sql, *args)
            return
        staged = self._links_of(join)
        order = self._all_columns(staged)
        self.conn.executemany(compiled(staged.insert(placeholder_row(staged)), "sqlite"),
                              [tuple(o if c == "owner" else 0 if c == FRESH else None for c in order) for o in owners])

    def _links_of(self, join: type[Table]) -> type[Table]:
        staged = self.links.get(join)
        if staged is None:
            pk = join._meta.primary_key._meta.db_column_name
            staged = self.links[join] = _staged_copy(join, ["owner", "target"], f"{join._meta.tablename}_links",
                                                     {pk: Integer(null=True), FRESH: Integer(null=True)})
            for ddl in _ddl(staged):
                self.conn.execute(ddl)
        return staged

    @staticmethod
    def _all_columns(table: type[Table]) -> list[str]:
        return [c._meta.db_column_name for c in table._meta.columns if c is not table._meta.primary_key]

    async def _bump_versions(self, rows) -> None:
        """An upsert is a write: the updated rows' version + 1 (so an edit form opened before is stale).
        `rows`: their ids, or a Piccolo query selecting them (the staged updates)."""
        version = self.table._meta.get_column_by_name(ROW_VERSION) if ROW_VERSION in self.columns else None
        if version is None:
            return
        query = self.table.update({version: version + 1}, force=True).where(self.table._meta.primary_key.is_in(rows))
        sql, args = query.querystrings[0].compile_string(engine_type=self.engine_type)
        if self.sqlite:
            self.conn.execute(sql, args)
        else:
            await self.conn.execute(sql, *args)

    def _update_sql(self, names: list[str]) -> str:
        pk = self.table._meta.primary_key
        sample = self.table.update({getattr(self.table, n): None for n in names}, force=True).where(pk == 0)
        return compiled(sample, self.engine_type)

    async def update_rows(self, updates: Iterable[tuple[int, dict[str, Any]]]) -> None:
        """One parameterised UPDATE per changed row, sent as executemany (staged on SQLite)."""
        updates = list(updates)
        if not updates:
            return
        names = list(updates[0][1])
        args = [tuple(values[n] for n in names) + (row_id,) for row_id, values in updates]
        if not self.sqlite:
            await self.conn.executemany(self._update_sql(names), args)
            await self._bump_versions([row_id for row_id, _ in updates])
            return
        if self.staged_updates is None:
            staged = _staged_copy(self.table, names, f"{self.table._meta.tablename}_updates",
                                  {STAGED_ROW: Integer(null=True)})
            for ddl in _ddl(staged):
                self.conn.execute(ddl)
            self.staged_updates = (staged, names)
        staged, known = self.staged_updates
        if known != names:
            raise ValueError("one import updates the same columns in every row")
        order = self._all_columns(staged)
        self.conn.executemany(compiled(staged.insert(placeholder_row(staged)), "sqlite"),
                              [tuple(row_id if c == STAGED_ROW else values[c] for c in order)
                               for row_id, values in updates])

    async def insert_one(self, table: type[Table], values: dict[str, Any]) -> int:
        query = table.insert(table(_ignore_missing=True, **values))
        sql, args = query.querystrings[0].compile_string(engine_type=self.engine_type)
        if self.sqlite:
            return self.conn.execute(sql, args).fetchone()[0]
        return await self.conn.fetchval(sql, *args)

    async def update_one(self, table: type[Table], row_id: int, values: dict[str, Any]) -> None:
        query = table.update({getattr(table, k): v for k, v in values.items()}, force=True).where(
            table._meta.primary_key == row_id)
        sql, args = query.querystrings[0].compile_string(engine_type=self.engine_type)
        if self.sqlite:
            self.conn.execute(sql, args)
        else:
            await self.conn.execute(sql, *args)


def _ddl(table: type[Table]) -> list[str]:
    ddl = table.create_table().ddl
    return list(ddl) if isinstance(ddl, (list, tuple)) else [ddl]


def _filled(rows: Iterable[tuple], position: int, value: Any) -> Iterator[tuple]:
    for row in rows:
        yield row[:position] + (value,) + row[position + 1:]


def key_text(value: Any) -> str:
    """One spelling of a key value whatever the driver returns (SQLite gives ISO text)."""
    if isinstance(value, (dt.datetime, dt.date)):
        return value.isoformat(sep=" ") if isinstance(value, dt.datetime) else value.isoformat()
    if isinstance(value, str) and len(value) >= 19 and value[10] == "T":
        return value.replace("T", " ", 1)
    return "" if value is None else str(value)
