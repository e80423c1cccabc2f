"""The Celery app of one spec directory: `specadmin worker DIR` with REDIS_URL as broker.

Beat's schedule comes from the spec's cron expressions (celery.schedules.crontab); each task
calls the same runner as the embedded scheduler, with a fresh AppContext per task because
database pools belong to the event loop that `asyncio.run` creates. The queue is named after
the app (override with SPECADMIN_CELERY_QUEUE) so apps sharing a Redis do not steal tasks.
"""
from __future__ import annotations

import asyncio
import datetime as dt
import os
from pathlib import Path

from celery import Celery

from specadmin.runtime.jobs import cron

TASK = "specadmin.run_job"


def make_celery(app_dir: Path | str, broker: str, database_url: str | None = None) -> Celery:
    from specadmin.runtime.app.context import load_generated

    app_dir = Path(app_dir).resolve()
    model = load_generated(app_dir).MODEL
    queue = os.environ.get("SPECADMIN_CELERY_QUEUE") or f"specadmin.{model.name}"
    celery = Celery(f"specadmin_{model.name}", broker=broker, backend=None)
    celery.conf.update(
        task_default_queue=queue, timezone=os.environ.get("TZ") or "Asia/Shanghai", enable_utc=False,
        worker_hijack_root_logger=False, broker_connection_retry_on_startup=True,
        task_acks_late=True, worker_prefetch_multiplier=1,
        beat_schedule={
            f"job:{job.name}": {"task": TASK, "schedule": cron.parse(job.schedule), "args": [job.name, None, True]}
            for job in model.jobs if job.enabled
        },
    )

    @celery.task(name=TASK)
    def run_job_task(name: str, date_to: str | None = None, scheduled: bool = False,
                     date_from: str | None = None) -> dict:
        return asyncio.run(_run(app_dir, database_url, name, date_from, date_to, scheduled))

    return celery


async def _run(app_dir: Path, database_url: str | None, name: str, date_from: str | None, date_to: str | None,
               scheduled: bool) -> dict:
    from specadmin.runtime.data import db
    from specadmin.runtime.app.context import AppContext
    from specadmin.runtime.jobs.runner import run_job

    ctx = AppContext.open(app_dir, database_url)
    await db.start(ctx.engine)
    try:
        await ctx.refresh_caches()
        minute = dt.datetime.now().replace(second=0, microsecond=0)
        row = await run_job(ctx, name, trigger="celery",
                            date_from=dt.date.fromisoformat(date_from) if date_from else None,
                            date_to=dt.date.fromisoformat(date_to) if date_to else None,
                            slot=cron.slot(name, minute) if scheduled else None)
        return {"id": row["id"], "status": row["status"]} if row else {"skipped": True}
    finally:
        await db.stop(ctx.engine)
