"""SerializedSQLiteEngine (runtime/data/db.py): one trip to the worker thread per statement, no commit
after a read, and nothing lost: writes outside a transaction persist, a failed transaction rolls back,
a committed one persists, and reads go on while another connection (an import's publish) holds the
write lock, while a write then waits the busy timeout and counts as busy. SQLite only: PostgreSQL
runs on Piccolo's own engine."""
from __future__ import annotations

import sqlite3

import pytest
from piccolo.columns import Varchar
from piccolo.table import Table

from specadmin.runtime.data.db import SerializedSQLiteEngine, bind_tables, is_busy

pytestmark = pytest.mark.asyncio(loop_scope="session")


class EngineNote(Table, tablename="engine_note", db=SerializedSQLiteEngine(":memory:")):
    text = Varchar()


@pytest.fixture
async def engine(tmp_path):
    eng = SerializedSQLiteEngine(str(tmp_path / "engine.sqlite3"), busy=0.2)
    bind_tables([EngineNote], eng)
    await EngineNote.create_table()
    try:
        yield eng
    finally:
        await eng.close()


def committed_texts(eng: SerializedSQLiteEngine) -> list[str]:
    """What another connection sees: only committed rows."""
    con = sqlite3.connect(eng.path)
    try:
        return [r[0] for r in con.execute("SELECT text FROM engine_note ORDER BY id")]
    finally:
        con.close()


async def trips_and_statements(eng: SerializedSQLiteEngine, run) -> tuple[int, list[str]]:
    """How many functions `run` sends to the shared connection's worker thread, and the statements
    SQLite ran meanwhile (a commit shows as COMMIT)."""
    connection = await eng._connection()
    statements: list[str] = []
    await connection._execute(connection._conn.set_trace_callback, statements.append)
    submitted = connection._execute
    trips = 0

    async def counting(fn, *args, **kwargs):
        nonlocal trips
        trips += 1
        return await submitted(fn, *args, **kwargs)

    connection._execute = counting
    try:
        await run()
    finally:
        del connection._execute
        await connection._execute(connection._conn.set_trace_callback, None)
    return trips, statements


async def test_a_statement_is_one_trip_and_a_read_commits_nothing(engine):
    await EngineNote.insert(EngineNote(text="one"))
    trips, statements = await trips_and_statements(engine, lambda: EngineNote.select().where(EngineNote.text == "one"))
    assert trips == 1
    assert not any(s.strip().upper().startswith(("COMMIT", "BEGIN")) for s in statements), statements
    trips, _ = await trips_and_statements(engine, lambda: EngineNote.insert(EngineNote(text="two")))
    assert trips == 1
    assert committed_texts(engine) == ["one", "two"]


async def test_a_write_outside_a_transaction_persists(engine):
    await EngineNote.insert(EngineNote(text="kept"))
    await EngineNote.update({EngineNote.text: "kept too"}).where(EngineNote.text == "kept")
    assert committed_texts(engine) == ["kept too"]
    connection = await engine._connection()
    assert not connection.in_transaction
    await engine.close()  # a new connection reads it back from the file
    assert await EngineNote.select(EngineNote.text).output(as_list=True) == ["kept too"]


async def test_transactions_roll_back_and_commit_as_before(engine):
    with pytest.raises(RuntimeError):
        async with engine.transaction():
            await EngineNote.insert(EngineNote(text="rolled back"))
            assert await EngineNote.count() == 1  # seen inside its own transaction
            raise RuntimeError("fails")
    assert committed_texts(engine) == []
    assert await EngineNote.count() == 0
    async with engine.transaction():
        await EngineNote.insert(EngineNote(text="committed"))
        assert committed_texts(engine) == []  # not before the end of the transaction
    assert committed_texts(engine) == ["committed"]
    atomic = engine.atomic()
    atomic.add(EngineNote.insert(EngineNote(text="atomic")))
    await atomic.run()
    assert await EngineNote.select(EngineNote.text).output(as_list=True) == ["committed", "atomic"]


async def test_reads_go_on_while_another_connection_holds_the_write_lock(engine):
    await EngineNote.insert(EngineNote(text="before"))
    await engine._connection()  # WAL is switched on by the shared connection
    holder = sqlite3.connect(engine.path, isolation_level=None)
    try:
        holder.execute("BEGIN IMMEDIATE")  # as an import's publish does
        holder.execute("INSERT INTO engine_note (text) VALUES ('importing')")
        for _ in range(3):
            assert await EngineNote.select(EngineNote.text).output(as_list=True) == ["before"]
        with pytest.raises(sqlite3.OperationalError) as caught:
            await EngineNote.insert(EngineNote(text="waits"))
        assert is_busy(caught.value)
        holder.execute("COMMIT")
    finally:
        holder.close()
    await EngineNote.insert(EngineNote(text="after"))
    assert await EngineNote.select(EngineNote.text).output(as_list=True) == ["before", "importing", "after"]
    assert committed_texts(engine) == ["before", "importing", "after"]


async def test_every_connection_thread_is_a_daemon_so_an_unclosed_one_cannot_hold_the_process(engine):
    """aiosqlite's worker thread is not a daemon by default: a transaction's connection left open
    (its task dropped with the event loop) kept the process from exiting after its work was done."""
    import threading

    before = set(threading.enumerate())
    transaction = engine.transaction()
    await transaction.__aenter__()          # opened and never closed: what a dropped task leaves
    try:
        opened = [t for t in threading.enumerate() if t not in before]
        assert opened and all(t.daemon for t in opened)
        assert (await engine._connection())._thread.daemon
    finally:
        await transaction.rollback()
        await transaction.connection.close()
