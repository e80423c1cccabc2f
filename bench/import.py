"""Benchmark: import N Kaiping scan rows from .csv and from .xlsx, vs a raw bulk insert.

    .venv/bin/python bench/import.py                                  # 1,000,000 rows, SQLite
    .venv/bin/python bench/import.py --rows 20000 --prefill 1000000   # also: into a table of 1M rows
    .venv/bin/python bench/import.py --rows 200000 \
        --database-url postgresql://specadmin:specadmin@127.0.0.1:5432/specadmin_test_impspeed_bench

SQLite always (a fresh file under /tmp); PostgreSQL too when --database-url names a database
(it is migrated, and scan_record / import_batch are emptied before each measurement). Three
measurements per database (five with --prefill) in the same run, each in its own subprocess so
its peak RSS is its own:

* raw:  the physical limit. The very rows the import writes -- ID number, phone and address
        SM4-encrypted and HMAC-SM3-indexed (distinct tokens per row), datetimes parsed --
        are built beforehand, untimed; timed are only BulkWriter.insert_rows (one executemany
        on SQLite / one COPY on PostgreSQL per 5,000 rows, same connection settings as the
        import) and the COMMIT, all in one transaction.
* csv:  ``runtime.imports`` end to end on a generated UTF-8 CSV: read, coerce, validate
        (身份证 checksum), encrypt + index 3 sensitive fields, in-file duplicate keys,
        bulk write, batch record, commit -- all_or_nothing, one transaction. The table is
        empty before the import, so the in-database duplicate probe is skipped (the engine
        checks that once; tests/test_imports_pipeline.py covers the probe).
* xlsx: the same rows as .xlsx (openpyxl read-only streaming above 8 MB).
* raw into N, csv into N (``--prefill N``): raw and csv again, into a table that already holds
        N other distinct rows (written untimed through the same BulkWriter path as raw), so the
        import's duplicate probe runs on every chunk and every index is N rows deep; printed
        as csv into N vs into empty, and vs raw into N (the limit for a table that size); the
        duplicate probe's own seconds are printed with csv into N.

Every measurement starts from a fresh copy of the migrated SQLite file (of the prefilled one,
filled once; on PostgreSQL: TRUNCATE, then the prefill again).

Prints rows/s, ratios, and peak RSS = importing process + its largest worker process (both
getrusage maxima; shared copy-on-write pages count twice, so it over-states). Load average
is printed with each line: the machine may be shared. Targets: csv >= 50% of raw; xlsx
within 3x of csv; peak memory < 500 MB. Exits 1 if a target is missed.
"""
from __future__ import annotations

import argparse
import asyncio
import csv
import datetime as dt
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "kaiping"
HEADERS = ["公共场所ID", "公共场所", "类别", "所在市区", "所在街道", "公共场所管理员", "被采集人身份证", "被采集人",
           "联系电话", "采集结果", "核酸结果", "核酸结果时间", "健康码状态", "采集人所在位置", "采集时间"]
WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
CHUNK = 5000


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def id_number(i: int) -> str:
    first = f"440783{1950 + i % 60:04d}{1 + i % 12:02d}{1 + i % 28:02d}{i % 1000:03d}"
    return first + "10X98765432"[sum(int(c) * w for c, w in zip(first, WEIGHTS)) % 11]


def row(i: int) -> list:
    at = dt.datetime(2026, 1, 1) + dt.timedelta(seconds=i * 7)
    return [f"P{i % 500}", f"场所{i % 500}", "餐饮", "开平市", "长沙街道", "张三", id_number(i), f"姓名{i % 997}",
            f"139{i:08d}", "成功", "阴性", (at + dt.timedelta(hours=6)).strftime("%Y-%m-%d %H:%M:%S"), "绿码",
            "开平市长沙街道1号", at.strftime("%Y-%m-%d %H:%M:%S")]


def write_csv(path: Path, n: int) -> None:
    with open(path, "w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(HEADERS)
        for i in range(n):
            w.writerow(row(i))


def write_xlsx(path: Path, n: int) -> None:
    from openpyxl import Workbook

    book = Workbook(write_only=True)
    sheet = book.create_sheet("扫码记录")
    sheet.append(HEADERS)
    for i in range(n):
        sheet.append(row(i))
    book.save(path)


# -- measurements (run in a subprocess each) ---------------------------------------------
async def _ctx(app_dir: Path, url: str | None):
    from specadmin.runtime.data import db
    from specadmin.runtime.app.context import AppContext

    ctx = AppContext.open(app_dir, url)
    await db.start(ctx.engine)
    await ctx.refresh_caches()
    return ctx


async def write_raw(ctx, admin_id: int, first: int, n: int) -> float:
    """Rows first..first+n-1 through BulkWriter.insert_rows in one transaction; returns the seconds
    spent in insert_rows and COMMIT (building the rows is not the insert's cost)."""
    from specadmin.runtime.imports.bulk import BulkWriter

    cipher = ctx.sensitive.cipher
    writer = BulkWriter(ctx, "scan_record")
    await writer.open()
    now = dt.datetime.now().replace(microsecond=0)
    names = writer.columns
    insert_seconds = 0.0
    for start in range(first, first + n, CHUNK):
        batch = []
        rows = [row(i) for i in range(start, min(first + n, start + CHUNK))]
        # The same distinct tokens and blind indexes as the import writes (untimed here):
        # random index keys cost the B-trees far more than one repeated value would.
        tokens = {c: cipher.encrypt_many(r[c] for r in rows) for c in (6, 8, 13)}
        indexes = {c: cipher.blind_index_many(r[c] for r in rows) for c in (6, 8, 13)}
        for k, r in enumerate(rows):
            token, index = tokens[6][k], indexes[6][k]
            values = dict(zip(("place_code", "place_name", "category", "city", "street", "manager"), r[:6]))
            values.update(subject_id_number=token, subject_id_number_bidx=index, subject_name=r[7],
                          phone=tokens[8][k], phone_bidx=indexes[8][k], collect_result=r[9],
                          nat_result=r[10], nat_result_time=dt.datetime.fromisoformat(r[11]),
                          health_code=r[12], collector_location=tokens[13][k],
                          collector_location_bidx=indexes[13][k],
                          scanned_at=dt.datetime.fromisoformat(r[14]), imported_by=admin_id, imported_at=now,
                          created_at=now, updated_at=now, version=1)
            batch.append(tuple(values.get(c) for c in names))
        t0 = time.perf_counter()
        await writer.insert_rows(batch)
        insert_seconds += time.perf_counter() - t0
    t0 = time.perf_counter()
    await writer.commit()
    await writer.close()
    return insert_seconds + time.perf_counter() - t0


def fresh_database(app_dir: Path, url: str | None, prefill: int) -> bool:
    """SQLite: the migrated file as prepare_backend left it, or as the "prefill" child left it (no
    DELETE: its free pages would differ from run to run). False: the prefill is still to write."""
    if url:
        return False
    var = app_dir / "var"
    for suffix in ("-wal", "-shm", "-journal"):
        (var / f"app.sqlite3{suffix}").unlink(missing_ok=True)
    source = var / (f"prefilled-{prefill}.sqlite3" if prefill else "pristine.sqlite3")
    if not source.exists():
        source = var / "pristine.sqlite3"
    shutil.copyfile(source, var / "app.sqlite3")
    return source.name != "pristine.sqlite3"


async def measure(kind: str, app_dir: Path, url: str | None, path: Path, n: int, prefill: int = 0) -> dict:
    from specadmin.runtime.data import db
    from specadmin.runtime.identity.sessions import load_principal
    from specadmin.runtime.imports import engine
    from specadmin.runtime.imports.engine import execute, prepare

    probe_seconds = [0.0]  # the in-database duplicate probe's share of the import (timed around it)
    existing_keys = engine._Run.existing_keys

    async def timed_probe(self, good):
        t0 = time.perf_counter()
        try:
            return await existing_keys(self, good)
        finally:
            probe_seconds[0] += time.perf_counter() - t0

    engine._Run.existing_keys = timed_probe
    filled = fresh_database(app_dir, url, prefill)
    ctx = await _ctx(app_dir, url)
    try:
        scan = ctx.table("scan_record")
        if url:
            names = ", ".join(ctx.table(t)._meta.get_formatted_tablename() for t in ("scan_record", "import_batch"))
            await ctx.engine.run_ddl(f"TRUNCATE {names}")
        user = ctx.table("user")
        admin_id = (await user.select(user.id).where(user.username == "benchadmin"))[0]["id"]
        principal = await load_principal(ctx, admin_id)
        if prefill and not filled:  # untimed: rows after the file's own (other times and people, same places)
            log(f"  prefilling {prefill:,} rows")
            await write_raw(ctx, admin_id, n, prefill)
        started = time.perf_counter()
        if kind == "prefill":
            n = seconds = 0
        elif kind == "raw":
            seconds = await write_raw(ctx, admin_id, 0, n)
        else:
            job = await prepare(ctx, principal, "scan_record", path, screen="scan_admin", force=True)
            await execute(job)
            assert job.status == "done" and job.ok == n, job.summary()
            seconds = time.perf_counter() - started
        count = await scan.count()
        assert count == n + prefill, (kind, count, n, prefill)
    finally:
        await db.stop(ctx.engine)
    if kind == "prefill":  # SQLite: the starting file of the "into N" measurements
        shutil.copyfile(app_dir / "var" / "app.sqlite3", app_dir / "var" / f"prefilled-{prefill}.sqlite3")
        return {}
    import multiprocessing

    deadline = time.monotonic() + 30
    while multiprocessing.active_children() and time.monotonic() < deadline:  # reap workers: their RSS counts
        await asyncio.sleep(0.1)
    self_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    child_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    return {"kind": kind, "rows": n, "seconds": seconds, "rows_per_s": n / seconds, "peak_mb": self_mb + child_mb,
            "main_mb": self_mb, "worker_mb": child_mb, "load": os.getloadavg()[0], "probe_s": probe_seconds[0]}


# -- orchestration -----------------------------------------------------------------------
def prepare_backend(backend: str, work: Path, database_url: str | None) -> tuple[Path, str | None]:
    from specadmin.cli import _migrate
    from specadmin.runtime.identity.users import ensure_user

    app_dir = work / f"kaiping-{backend}"
    shutil.copytree(EXAMPLE, app_dir, ignore=shutil.ignore_patterns("var", "__pycache__"))
    url = database_url if backend == "postgres" else None
    old = os.environ.get("DATABASE_URL")
    os.environ.pop("DATABASE_URL", None)
    if url:
        os.environ["DATABASE_URL"] = url
    try:
        asyncio.run(_migrate(app_dir, False))

        async def admin():
            from specadmin.runtime.data import db

            ctx = await _ctx(app_dir, url)
            try:
                await ensure_user(ctx, "benchadmin", "Bench@2026-import", name="基准", superuser=True)
            finally:
                await db.stop(ctx.engine)

        asyncio.run(admin())
    finally:
        os.environ.pop("DATABASE_URL", None)
        if old is not None:
            os.environ["DATABASE_URL"] = old
    if not url:
        shutil.copyfile(app_dir / "var" / "app.sqlite3", app_dir / "var" / "pristine.sqlite3")
    return app_dir, url


def run_child(kind: str, app_dir: Path, url: str | None, path: Path, n: int, prefill: int = 0) -> dict:
    args = [sys.executable, __file__, "--child", kind, "--app", str(app_dir), "--file", str(path), "--rows", str(n),
            "--prefill", str(prefill)]
    env = dict(os.environ)
    env.pop("DATABASE_URL", None)
    if url:
        env["DATABASE_URL"] = url
    done = subprocess.run(args, env=env, stdout=subprocess.PIPE, text=True)  # progress goes to stderr
    if done.returncode != 0:
        raise SystemExit(f"{kind} failed (see above)")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--rows", type=int, default=1_000_000)
    p.add_argument("--database-url", help="a PostgreSQL database to measure too (migrated, scan rows emptied)")
    p.add_argument("--skip-sqlite", action="store_true", help="only PostgreSQL")
    p.add_argument("--data-dir", help="keep the generated .csv/.xlsx here and reuse them")
    p.add_argument("--prefill", type=int, default=0,
                   help="also import the csv into a table already holding this many other rows")
    p.add_argument("--child", help=argparse.SUPPRESS)
    p.add_argument("--app", help=argparse.SUPPRESS)
    p.add_argument("--file", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.child:
        result = asyncio.run(measure(args.child, Path(args.app), os.environ.get("DATABASE_URL"), Path(args.file),
                                     args.rows, args.prefill))
        print(json.dumps(result))
        return 0
    work = Path(tempfile.mkdtemp(prefix="specadmin-bench-import-"))
    ok = True
    try:
        data = Path(args.data_dir) if args.data_dir else work
        data.mkdir(parents=True, exist_ok=True)
        csv_path, xlsx_path = data / f"scans-{args.rows}.csv", data / f"scans-{args.rows}.xlsx"
        if not (csv_path.exists() and xlsx_path.exists()):  # --data-dir keeps them for a second run
            log(f"writing {args.rows:,} rows as CSV and XLSX")
            write_csv(csv_path, args.rows)
            write_xlsx(xlsx_path, args.rows)
        log(f"csv {csv_path.stat().st_size / 1e6:.0f} MB, xlsx {xlsx_path.stat().st_size / 1e6:.0f} MB")
        backends = ([] if args.skip_sqlite else ["sqlite"]) + (["postgres"] if args.database_url else [])
        print("raw = the import's own encrypted rows, prebuilt untimed; timed: insert_rows "
              "(executemany / COPY per 5,000 rows) + COMMIT in one transaction")
        for backend in backends:
            app_dir, url = prepare_backend(backend, work, args.database_url)
            results = {}
            runs = [("raw", "raw", csv_path, 0), ("csv", "csv", csv_path, 0), ("xlsx", "xlsx", xlsx_path, 0)]
            if args.prefill:
                if not url:
                    log(f"{backend}: prefilling {args.prefill:,} rows once")
                    run_child("prefill", app_dir, url, csv_path, args.rows, args.prefill)
                runs += [("raw into N", "raw", csv_path, args.prefill), ("csv into N", "csv", csv_path, args.prefill)]
            for label, kind, path, prefill in runs:
                log(f"{backend}: {label} ...")
                results[label] = run_child(kind, app_dir, url, path, args.rows, prefill)
                r = results[label]
                log(f"{backend}: {label:10} {r['rows_per_s']:>10,.0f} rows/s  {r['seconds']:7.1f} s  "
                    f"peak {r['peak_mb']:6.0f} MB (main {r['main_mb']:.0f} + worker {r['worker_mb']:.0f})  "
                    f"load {r['load']:.1f}" + (f"  (probe {r['probe_s']:.2f} s)" if r["probe_s"] else ""))
            csv_ratio = results["csv"]["rows_per_s"] / results["raw"]["rows_per_s"]
            xlsx_factor = results["csv"]["rows_per_s"] / results["xlsx"]["rows_per_s"]
            peak = max(r["peak_mb"] for r in results.values())
            print(f"{backend}: raw {results['raw']['rows_per_s']:,.0f} rows/s | csv {results['csv']['rows_per_s']:,.0f} "
                  f"rows/s = {csv_ratio:.0%} of raw (target >= 50%) | xlsx {results['xlsx']['rows_per_s']:,.0f} rows/s "
                  f"= csv/{xlsx_factor:.1f} (target <= 3x) | peak {peak:.0f} MB (target < 500)")
            ok &= csv_ratio >= 0.5 and xlsx_factor <= 3 and peak < 500
            if args.prefill:
                into, raw_into = results["csv into N"]["rows_per_s"], results["raw into N"]["rows_per_s"]
                print(f"{backend}: csv into {args.prefill:,} rows {into:,.0f} rows/s = "
                      f"{into / results['csv']['rows_per_s']:.0%} of csv into empty, {into / raw_into:.0%} of raw into "
                      f"{args.prefill:,} rows ({raw_into:,.0f} rows/s) (load {results['csv into N']['load']:.1f})")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
