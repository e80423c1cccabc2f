"""The import's duplicate probe seeks one index on the import key (issue 14), on SQLite and PostgreSQL.

The in-file duplicate check keeps its hashes in the database past a bound (memory stays flat).

Narrowing each key column with its own IN list let SQLite read the cross product of the lists
through the place_code index (2 s per 2,000 keys in a 1M-row table). Now every import key has an
index on its columns and the probe compares the whole key as a row value against staged keys.
No timing here: the plans and the rows found are checked.
"""
from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from test_imports import csv_bytes, error_rows, upload
from test_imports_support import ID_OK, ID_OK2, kaiping, login  # noqa: F401

from specadmin.generator.build import load_app
from specadmin.specs.physical import physical_tables

pytestmark = pytest.mark.asyncio(loop_scope="session")

ROOT = Path(__file__).resolve().parent.parent
KEY = ["subject_id_number_bidx", "place_code", "scanned_at"]  # scan_admin's import key, as stored
KEY_INDEX = ("place_code", "scanned_at", "subject_id_number_bidx")  # random blind-index tokens last


async def test_each_import_key_gets_an_index_that_replaces_its_prefix():
    app = load_app(ROOT / "examples" / "kaiping")
    scan = next(t for t in physical_tables(app) if t.tablename == "scan_record")
    assert KEY_INDEX in scan.indexes
    assert ("place_code", "scanned_at") not in scan.indexes  # the scoped list reads the longer one
    tickets = next(t for t in physical_tables(load_app(ROOT / "examples" / "xicheng"))
                   if t.tablename == "hotline_ticket")
    assert ("ticket_no",) not in tickets.indexes  # a unique column is indexed already


async def _probe(ctx):
    from specadmin.runtime.imports.bulk import BulkWriter
    from specadmin.runtime.imports.probe import KeyProbe

    writer = BulkWriter(ctx, "scan_record")
    await writer.open()
    return writer, KeyProbe(writer, KEY)


async def test_probe_seeks_every_key_column_in_one_index(kaiping):  # noqa: F811
    writer, probe = await _probe(kaiping["ctx"])
    try:
        key = ("0" * 64, "P1", dt.datetime(2026, 11, 9, 8))
        sql, args = (await probe.query((0, 1, 2), [key] * 3)).compile_string(engine_type=writer.engine_type)
        if writer.sqlite:
            plan = " | ".join(r[3] for r in writer.conn.execute(f"EXPLAIN QUERY PLAN {sql}", args).fetchall())
            seek = [p for p in plan.split(" | ") if p.startswith("SEARCH scan_record USING")]
            assert seek and all(f"{c}=?" in seek[0] for c in KEY), plan
        else:
            name = await writer.conn.fetchval(
                "SELECT indexname FROM pg_indexes WHERE tablename = 'scan_record' AND indexdef LIKE $1",
                f"%({', '.join(KEY_INDEX)})")
            assert name
            # A near-empty table leaves every index on place_code at the same cost, and the planner picks
            # any (the scoped lists' (place_code, street, scanned_at, id) ones as well): give it rows and
            # statistics, inside the writer's transaction, which is rolled back.
            await writer.conn.execute(
                "INSERT INTO scan_record (place_code, scanned_at, subject_id_number_bidx) SELECT 'Q' || (g % 200), "
                "timestamp '2026-11-01' + g * interval '1 minute', md5(g::text) FROM generate_series(1, 5000) g")
            await writer.conn.execute("ANALYZE scan_record")
            await writer.conn.execute("SET LOCAL enable_seqscan = off")  # a plan for 1M rows
            plan = "\n".join(r[0] for r in await writer.conn.fetch(f"EXPLAIN {sql}", *args))
            assert name in plan, plan
    finally:
        await writer.close(rollback=True)


async def test_probe_finds_the_stored_keys_and_only_them(kaiping):  # noqa: F811
    ctx = kaiping["ctx"]
    ops = await login(kaiping, "ops")
    at = dt.datetime(2026, 11, 9, 9, 30)
    rows = [["P1", "一号酒家", ID_OK, "甲", "13900000021", "绿码", f"{at:%Y-%m-%d %H:%M}"],
            ["P2", "二号超市", ID_OK2, "乙", "13900000022", "绿码", f"{at:%Y-%m-%d %H:%M}"]]
    assert (await upload(ops, csv_bytes(rows), "probe.csv"))["ok"] == 2
    scan = ctx.table("scan_record")
    stored = {r["place_code"]: r["id"] for r in await scan.select(scan.id, scan.place_code).where(scan.scanned_at == at)}
    one, two = ctx.sensitive.cipher.blind_index_many([ID_OK, ID_OK2])
    writer, probe = await _probe(ctx)
    try:
        found = await probe.find([(one, "P1", at), (two, "P2", at),
                                  (one, "P2", at), (two, "P2", at + dt.timedelta(minutes=1)),  # not stored
                                  (None, "P1", at)])  # no first part: matches nothing
        assert sorted(r[0] for r in found) == sorted(stored.values())
        # A missing later part does not narrow (the engine compares the key texts).
        assert [r[0] for r in await probe.find([(two, "P2", None)])] == [stored["P2"]]
    finally:
        await writer.close(rollback=True)
    # The import itself: the stored key is a duplicate; upsert updates it in place.
    again = await upload(ops, csv_bytes(rows[:1]), "probe2.csv", mode="skip_bad_rows")
    assert (again["ok"], again["bad"]) == (0, 1)
    changed = await upload(ops, csv_bytes([rows[0][:3] + ["甲二"] + rows[0][4:]]), "probe3.csv", mode="upsert")
    assert (changed["ok"], changed["bad"]) == (1, 0)
    assert (await scan.select(scan.subject_name).where(scan.id == stored["P1"]))[0]["subject_name"] == "甲二"


async def test_in_file_duplicates_are_found_after_the_hashes_moved_to_the_database(kaiping, monkeypatch):  # noqa: F811
    from specadmin.runtime.imports import engine, seen

    monkeypatch.setattr(seen, "MEMORY_ROWS", 2)  # past 2 hashes, into the database
    monkeypatch.setattr(engine, "CHUNK", 2)  # chunks of 2 rows: the later ones are checked there
    spills, spill = [], seen.SeenKeys._spill

    async def counted(self):
        spills.append(1)
        await spill(self)

    monkeypatch.setattr(seen.SeenKeys, "_spill", counted)
    ops = await login(kaiping, "ops")

    def row(minute: int) -> list:
        return ["P1", "一号酒家", ID_OK, "甲", "13900000031", "绿码", f"2026-11-10 08:{minute:02d}"]

    # chunks: [0, 1] [2, 3] (then spilled) [0, 4] [5, 5] [2]
    result = await upload(ops, csv_bytes([row(m) for m in (0, 1, 2, 3, 0, 4, 5, 5, 2)]), "seen.csv",
                          mode="skip_bad_rows")
    assert (result["ok"], result["bad"]) == (6, 3)
    assert await error_rows(ops, result) == {(n, "被采集人身份证", "与文件中前面的行重复") for n in (6, 9, 10)}
    assert spills == [1]
