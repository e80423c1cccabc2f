"""Run one job and record it as a job_run row (start, end, status, counts, error).

Rule jobs evaluate the windows ending on each day of [date_from, date_to]; the default is
yesterday, the last complete day (requirements §2.7: the daily window ends yesterday);
notification jobs send for today.
A scheduled run carries a `slot`; the slot column is unique, so when two processes fire the
same minute the second insert fails and that process leaves the run to the first.
"""
from __future__ import annotations

import datetime as dt
import json
import logging
import traceback
from typing import TYPE_CHECKING, Any

from specadmin.runtime.plugin import JobCall

from specadmin.runtime.rules.engine import evaluate

if TYPE_CHECKING:
    from specadmin.specs.model import Job

    from specadmin.runtime.app.context import AppContext

log = logging.getLogger("specadmin.jobs")


def yesterday() -> dt.date:
    return dt.date.today() - dt.timedelta(days=1)


def _now() -> dt.datetime:
    return dt.datetime.now().replace(microsecond=0)


async def execute(ctx: "AppContext", job: "Job", date_from: dt.date, date_to: dt.date) -> dict[str, Any]:
    if job.rule:
        return await evaluate(ctx, ctx.app.rule(job.rule), date_from, date_to)
    if job.notification:
        from specadmin.runtime.notify.sms import send_notification

        return await send_notification(ctx, job.notification, date_to)
    handler = ctx.plugins.handler(job.function)  # `function: plugin.handler`
    result = dict(await handler(JobCall(ctx, job, date_from, date_to)) or {})
    result.setdefault("created", 0)
    return result


async def run_job(ctx: "AppContext", name: str, *, date_from: dt.date | None = None, date_to: dt.date | None = None,
                  trigger: str = "cli", slot: str | None = None) -> dict[str, Any] | None:
    """Run job `name`; returns its job_run row as a dict, or None when another process owns the slot."""
    job = ctx.app.job(name)
    # Rules look at the last complete day; a notification is about today.
    date_to = date_to or date_from or (dt.date.today() if job.notification else yesterday())
    date_from = date_from or date_to
    runs = ctx.table("job_run")
    row = {runs.job: job.name, runs.job_label: job.label, runs.run_date: date_from, runs.date_to: date_to,
           runs.trigger: trigger, runs.slot: slot, runs.started_at: _now(), runs.status: "running"}
    try:
        run_id = (await runs.insert(runs(**{c._meta.name: v for c, v in row.items()}))
                  .returning(runs.id))[0]["id"]
    except Exception:
        if slot is None:
            raise
        log.info("job %s slot %s already taken by another process", name, slot)
        return None
    try:
        result = await execute(ctx, job, date_from, date_to)
    except Exception as exc:
        log.exception("job %s failed", name)
        await runs.update({runs.status: "failed", runs.finished_at: _now(), runs.created: 0,
                           runs.error: f"{exc.__class__.__name__}: {exc}\n{traceback.format_exc(limit=5)}"[:4000]}
                          ).where(runs.id == run_id)
    else:
        await runs.update({runs.status: "succeeded", runs.finished_at: _now(), runs.created: int(result["created"]),
                           runs.summary: json.dumps(result, ensure_ascii=False, default=str)[:4000]}
                          ).where(runs.id == run_id)
    return await runs.select().where(runs.id == run_id).first()


async def run_all(ctx: "AppContext", **kwargs: Any) -> list[dict]:
    """Every enabled job, in spec order (the comparison job before the alert job, as declared)."""
    out = []
    for job in ctx.app.jobs:
        if job.enabled:
            out.append(await run_job(ctx, job.name, **kwargs))
    return out
