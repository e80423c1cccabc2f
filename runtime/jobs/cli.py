"""`specadmin jobs` and `specadmin worker`: the command-line side of runtime/jobs."""
from __future__ import annotations

import asyncio
import datetime as dt
import os
import sys
from pathlib import Path

from specadmin.runtime.plugin import Command


def jobs_arguments(p) -> None:
    p.add_argument("dir")
    what = p.add_mutually_exclusive_group()
    what.add_argument("--run", metavar="NAME", help="run one job")
    what.add_argument("--all", action="store_true", help="run every enabled job, in spec order")
    p.add_argument("--date", type=dt.date.fromisoformat, help="business day (rules: the window ends on it); default yesterday")
    p.add_argument("--from", dest="date_from", type=dt.date.fromisoformat, help="backfill: first day")
    p.add_argument("--to", dest="date_to", type=dt.date.fromisoformat, help="backfill: last day")


def worker_arguments(p) -> None:
    p.add_argument("dir")
    p.add_argument("--no-beat", action="store_true", help="do not embed beat (run exactly one beat per app)")
    p.add_argument("--concurrency", type=int, default=1)


def _dates(args) -> tuple[dt.date | None, dt.date | None]:
    if args.date and (args.date_from or args.date_to):
        raise SystemExit("--date cannot be combined with --from/--to")
    if args.date:
        return args.date, args.date
    if bool(args.date_from) != bool(args.date_to):
        raise SystemExit("--from and --to go together")
    if args.date_from and args.date_from > args.date_to:
        raise SystemExit("--from must not be after --to")
    return args.date_from, args.date_to


def cmd_jobs(args) -> int:
    from specadmin.runtime.jobs.runner import run_all, run_job

    date_from, date_to = _dates(args)

    async def go(ctx):
        if not args.run and not args.all:
            for job in ctx.app.jobs:
                target = (f"rule {job.rule}" if job.rule else f"notification {job.notification}"
                          if job.notification else f"function {job.function}")
                print(f"{job.name}\t{job.schedule}\t{target}\t{job.label}{'' if job.enabled else '（已停用）'}")
            return []
        if args.run:
            try:
                ctx.app.job(args.run)
            except KeyError:
                raise SystemExit(f"no job named {args.run}") from None
            return [await run_job(ctx, args.run, date_from=date_from, date_to=date_to, trigger="cli")]
        return await run_all(ctx, date_from=date_from, date_to=date_to, trigger="cli")

    rows = asyncio.run(args.with_app(Path(args.dir), go))
    failed = 0
    for row in rows:
        print(f"{row['job']}\t{row['run_date']}..{row['date_to']}\t{row['status']}\tcreated={row['created']}"
              + (f"\n{row['error']}" if row["error"] else ""))
        failed += row["status"] != "succeeded"
    return 1 if failed else 0


def cmd_worker(args) -> int:
    broker = os.environ.get("REDIS_URL")
    if not broker:
        print("REDIS_URL is not set: `specadmin serve` runs the jobs itself without Redis", file=sys.stderr)
        return 1
    from specadmin.runtime.jobs.celery_app import make_celery

    app_dir = Path(args.dir).resolve()
    celery = make_celery(app_dir, broker, os.environ.get("DATABASE_URL"))
    argv = ["worker", "--loglevel=INFO", f"--concurrency={args.concurrency}", "--pool=prefork"]
    if not args.no_beat:
        argv += ["--beat", f"--schedule={app_dir / 'var' / 'celerybeat-schedule'}"]
    celery.worker_main(argv)
    return 0


JOBS = Command("jobs", "list or run declared jobs (history in 定时任务记录)", jobs_arguments, cmd_jobs)
WORKER = Command("worker", "Celery worker (+ beat) running the jobs; needs REDIS_URL", worker_arguments, cmd_worker)
