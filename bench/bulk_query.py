"""Benchmark: Xicheng 批量核酸查询 of 10,000 ID numbers against 1,000,000 encrypted test results.

    .venv/bin/python bench/bulk_query.py                              # SQLite
    .venv/bin/python bench/bulk_query.py --database-url postgresql://specadmin:specadmin@127.0.0.1:5432/specadmin_bench_bulkq

A copy of examples/xicheng is migrated into a fresh database (SQLite under /tmp; with
--database-url that PostgreSQL database is EMPTIED first). Set-up, untimed: the streets and a
street user, then N test results (~2.5 per person) whose ID numbers and names are SM4 tokens
with HMAC-SM3 blind indexes, made with the FieldCipher bulk API and written with executemany
(SQLite) / COPY (PostgreSQL); an .xlsx of 10,000 ID numbers (70% tested people, 30% not).

Timed, as the street user (its grants and street scope apply), each phase as the app runs it:
  upload  runtime.bulk_query.upload: read the .xlsx, check every 身份证号, encrypt + index, write the batch
  query   the batch screen's 查询 action (EntityService.run_action -> IN-chunked blind-index match,
          grouped last-3-days count, executemany UPDATE)
  export  导出结果 of the batch: the items screen's export rows (grant, scope, masking) written as .xlsx
Prints seconds per phase, the total, and the ratio to the seed's 60 s per 10,000 (1 分钟查询 1 万条).
Target: total <= 2 s on SQLite. Exits 1 when the result is wrong (matched count) or the target is missed.
"""
from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import importlib.util
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "xicheng"
WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
SEED_SECONDS = 60.0  # seed 000: 1 分钟查询 1 万条
CHUNK = 20000


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def id_number(person: int, area: str = "110102") -> str:
    """A distinct valid 18-digit number per person: birth date from person // 1000, sequence person % 1000."""
    born = dt.date(1950, 1, 1) + dt.timedelta(days=person // 1000)
    body = f"{area}{born:%Y%m%d}{person % 1000:03d}"
    return body + "10X98765432"[sum(int(c) * w for c, w in zip(body, WEIGHTS)) % 11]


def copy_app(target: Path) -> Path:
    target.mkdir(parents=True, exist_ok=True)
    for item in ("app.yaml", "modules", "generated"):
        src = EXAMPLE / item
        if src.is_dir():
            shutil.copytree(src, target / item, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(src, target / item)
    return target


async def reset_postgres(url: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(url)
    try:
        await conn.execute("DROP SCHEMA IF EXISTS public CASCADE")
        await conn.execute("CREATE SCHEMA public")
    finally:
        await conn.close()


async def street_user(ctx) -> int:
    spec = importlib.util.spec_from_file_location("xicheng_demo", EXAMPLE / "demo.py")
    demo = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(demo)
    from specadmin.runtime.identity.users import ensure_user

    orgs = await demo._orgs(ctx)
    await ctx.refresh_caches()
    await ensure_user(ctx, "bench_street", demo.PASSWORD, name="基准测试街道用户", org_code="XC-S01",
                      roles=("street_user",))
    user = ctx.table("user")
    return orgs["XC-S01"], (await user.select(user.id).where(user.username == "bench_street"))[0]["id"]


async def fill_results(ctx, rows: int, street: int) -> int:
    """About `rows` results, 1-4 per person; returns the number of people written."""
    from specadmin.runtime.imports.bulk import BulkWriter

    people = max(1, int(rows / 2.5))
    cipher = ctx.sensitive.cipher
    now = dt.datetime.now().replace(microsecond=0)
    writer = BulkWriter(ctx, "test_result")
    columns = writer.columns
    await writer.open()
    try:
        done = written = 0
        for start in range(0, people, CHUNK // 2):
            group = range(start, min(people, start + CHUNK // 2))
            numbers = [id_number(p) for p in group]
            id_tokens, id_index = cipher.encrypt_many(numbers), cipher.blind_index_many(numbers)
            names = [f"姓名{p % 9973}" for p in group]
            name_tokens, name_index = cipher.encrypt_many(names), cipher.blind_index_many(names)
            batch = []
            for k, p in enumerate(group):
                if done + len(batch) >= rows:
                    break
                written = p + 1
                for t in range(1 + (p * 7919) % 4):
                    values = {"id_number": id_tokens[k], "id_number_bidx": id_index[k], "name": name_tokens[k],
                              "name_bidx": name_index[k], "institution": "北京市西城区疾病预防控制中心",
                              "tested_at": now - dt.timedelta(hours=(p * 31 + t * 53) % 240), "result": "negative",
                              "street": street, "created_at": now, "updated_at": now, "version": 1}
                    batch.append(tuple(values.get(c) for c in columns))
            await writer.insert_rows(batch)
            done += len(batch)
            if done >= rows:
                break
        await writer.commit()
    finally:
        await writer.close()
    return written


def write_batch_file(path: Path, people: int, size: int) -> int:
    """size ID numbers, 70% of tested people; returns how many of them have results."""
    from openpyxl import Workbook

    book = Workbook(write_only=True)
    sheet = book.create_sheet("核查名单")
    sheet.append(["身份证号码", "姓名"])
    hits = size * 7 // 10
    step = max(1, people // hits)
    for i in range(hits):
        sheet.append([id_number((i * step) % people), f"姓名{i}"])
    for i in range(size - hits):
        sheet.append([id_number(i, "110105"), f"未检{i}"])
    book.save(path)
    return hits


async def run(app_dir: Path, url: str | None, rows: int, size: int) -> dict:
    from specadmin.cli import _migrate
    from specadmin.runtime.data import db
    from specadmin.runtime.identity.sessions import load_principal
    from specadmin.runtime.bulk_query.export import export_batch
    from specadmin.runtime.bulk_query.upload import upload
    from specadmin.runtime.app.context import AppContext
    from specadmin.runtime.entities.service import EntityService

    if url:
        await reset_postgres(url)
        os.environ["DATABASE_URL"] = url
    await _migrate(app_dir, False)
    ctx = AppContext.open(app_dir, database_url=url or "")
    await db.start(ctx.engine)
    try:
        await ctx.refresh_caches()
        street, user_id = await street_user(ctx)
        log(f"writing {rows:,} encrypted test results ...")
        t = time.perf_counter()
        people = await fill_results(ctx, rows, street)
        if url:  # planner statistics, as autovacuum would gather them after a bulk load (constant statement)
            import asyncpg

            conn = await asyncpg.connect(url)
            try:
                await conn.execute("ANALYZE")
            finally:
                await conn.close()
        log(f"  {await ctx.table('test_result').count():,} rows, {people:,} people in {time.perf_counter() - t:.1f} s")
        upload_path = app_dir / "var" / "核查名单.xlsx"
        hits = write_batch_file(upload_path, people, size)
        principal = await load_principal(ctx, user_id)
        out = app_dir / "var" / "结果.xlsx"
        times, cpu = {}, {}
        t0, c0 = time.perf_counter(), time.process_time()
        result = await upload(ctx, principal, "batch_admin", upload_path, file_name=upload_path.name)
        times["upload"], cpu["upload"] = time.perf_counter() - t0, time.process_time() - c0
        assert result["status"] == "done" and result["ok"] == size, result
        t, c = time.perf_counter(), time.process_time()
        answer = await EntityService(ctx, "query_batch").run_action(
            SimpleNamespace(user=principal), "run_query", [result["batch"]], screen="batch_admin")
        times["query"], cpu["query"] = time.perf_counter() - t, time.process_time() - c
        t, c = time.perf_counter(), time.process_time()
        written = await export_batch(ctx, principal, "batch_admin", result["batch"], out)
        times["export"], cpu["export"] = time.perf_counter() - t, time.process_time() - c
        times["total"], cpu["total"] = time.perf_counter() - t0, time.process_time() - c0
        matched = answer["results"][result["batch"]]["matched"]
        return {"times": times, "cpu": cpu, "matched": matched, "expected": hits, "written": written}
    finally:
        await db.stop(ctx.engine)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000, help="test results in the table")
    parser.add_argument("--batch", type=int, default=10_000, help="ID numbers in the uploaded file")
    parser.add_argument("--database-url", default=None, help="PostgreSQL URL (the database is emptied)")
    parser.add_argument("--target", type=float, default=2.0, help="seconds allowed on SQLite")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-bulkq-"))
    try:
        app_dir = copy_app(work / "xicheng")
        (app_dir / "var").mkdir(exist_ok=True)
        res = asyncio.run(run(app_dir, args.database_url, args.rows, args.batch))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    backend = "PostgreSQL" if args.database_url else "SQLite"
    t, cpu = res["times"], res["cpu"]
    print(f"bulk query on {backend}: {args.batch:,} ID numbers against {args.rows:,} encrypted results "
          f"(load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs)")
    for phase in ("upload", "query", "export"):
        print(f"  {phase:<7} {t[phase]:7.3f} s   (CPU of this process {cpu[phase]:6.3f} s)")
    print(f"  total   {t['total']:7.3f} s   (CPU {cpu['total']:.3f} s) = {args.batch / t['total']:,.0f} rows/s; "
          f"seed {SEED_SECONDS:.0f} s per 10,000 -> {SEED_SECONDS * args.batch / 10_000 / t['total']:.1f}x faster")
    print(f"  matched {res['matched']:,} of {args.batch:,} (expected {res['expected']:,}); workbook rows {res['written']:,}")
    ok = res["matched"] == res["expected"] and res["written"] == args.batch
    if not ok:
        print("FAIL: wrong result")
    if not args.database_url and t["total"] > args.target:
        print(f"FAIL: total above the {args.target:.1f} s target")
        ok = False
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
