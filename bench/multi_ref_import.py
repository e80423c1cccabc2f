"""Benchmark: an import with a multi_ref column (skills by code, join rows written) vs the same rows
without it, end to end through runtime.imports (REFERENCE's "modules/crews.yaml" example).

    .venv/bin/python bench/multi_ref_import.py                      # 50,000 rows, SQLite
    .venv/bin/python bench/multi_ref_import.py --database-url postgresql://.../specadmin_bench_mref

Each file goes into an empty worker table (rows and join rows emptied before each run); every row
names 0 to 3 of 100 skills (1.5 on average) with mixed separators. Prints seconds and rows/s of
each and their ratio; the machine may be shared (load average printed).
"""
from __future__ import annotations

import argparse
import asyncio
import csv
import os
import re
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SEPARATORS = ("、", ",", "；", "，")


def module_text() -> str:
    text = (ROOT / "specs" / "REFERENCE.md").read_text(encoding="utf-8")
    return re.search(r'```yaml title="modules/crews.yaml"\n(.*?)```', text, re.S).group(1)


def write_csv(path: Path, n: int, with_skills: bool) -> None:
    with path.open("w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["工号", "姓名", "技能"] if with_skills else ["工号", "姓名"])
        for i in range(n):
            row = [f"W{i:07d}", f"人员{i}"]
            if with_skills:
                row.append(SEPARATORS[i % 4].join(f"K{(i * 7 + j) % 100:03d}" for j in range(i % 4)))
            w.writerow(row)


async def run(app_dir: Path, url: str | None, files: dict[str, Path], n: int) -> dict[str, float]:
    from specadmin.runtime.app.context import AppContext
    from specadmin.runtime.data import db
    from specadmin.runtime.identity.sessions import load_principal
    from specadmin.runtime.identity.users import ensure_user
    from specadmin.runtime.imports.engine import execute, prepare

    ctx = AppContext.open(app_dir, url)
    await db.start(ctx.engine)
    await ctx.refresh_caches()
    out = {}
    try:
        await ensure_user(ctx, "benchadmin", "Bench@2026-import", name="基准", superuser=True)
        user, skill = ctx.table("user"), ctx.table("skill")
        worker, join = ctx.table("worker"), ctx.join_table("worker", "skills")
        if not await skill.count():
            await skill.insert(*[skill(code=f"K{i:03d}", name=f"技能{i}") for i in range(100)])
        principal = await load_principal(ctx, (await user.select(user.id).where(user.username == "benchadmin"))[0]["id"])
        for kind, path in files.items():
            await join.delete(force=True)
            await worker.delete(force=True)
            started = time.perf_counter()
            job = await prepare(ctx, principal, "worker", path, screen="worker_admin", force=True)
            await execute(job)
            seconds = time.perf_counter() - started
            assert job.status == "done" and job.ok == n, job.summary()
            out[kind] = seconds
            print(f"{kind:>14}: {n:,} rows in {seconds:.2f} s = {n / seconds:,.0f} rows/s, "
                  f"{await join.count():,} join rows, load {os.getloadavg()[0]:.1f}", flush=True)
    finally:
        await db.stop(ctx.engine)
    return out


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--rows", type=int, default=50_000)
    p.add_argument("--database-url")
    args = p.parse_args()
    from specadmin.cli import _migrate
    from specadmin.generator.writer import generate

    work = Path(tempfile.mkdtemp(prefix="mref-bench-"))
    app_dir = work / "app"
    (app_dir / "modules").mkdir(parents=True)
    (app_dir / "app.yaml").write_text("app: demo\nlabel: 示例\nmodules: [crews]\n", encoding="utf-8")
    (app_dir / "modules" / "crews.yaml").write_text(module_text(), encoding="utf-8")
    files = {"without": work / "without.csv", "with multi_ref": work / "with.csv"}
    write_csv(files["without"], args.rows, False)
    write_csv(files["with multi_ref"], args.rows, True)
    os.environ.pop("DATABASE_URL", None)
    if args.database_url:
        os.environ["DATABASE_URL"] = args.database_url
    generate(app_dir)
    asyncio.run(_migrate(app_dir, False))
    print(f"{'PostgreSQL' if args.database_url else 'SQLite'}, {args.rows:,} rows", flush=True)
    for _ in range(2):
        out = asyncio.run(run(app_dir, args.database_url, files, args.rows))
        print(f"  ratio with/without: {out['with multi_ref'] / out['without']:.2f}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
