"""重新运行: the custom action on a failed job run; runs the same job and dates again as a new run."""
from __future__ import annotations

import datetime as dt

from specadmin.runtime.errors import BadRequest
from specadmin.runtime.jobs.runner import run_job


async def retry(call) -> dict:
    row = call.row
    if row.get("status") != "failed":
        raise BadRequest("只有失败的任务可以重新运行")
    try:
        call.ctx.app.job(row["job"])
    except KeyError:
        raise BadRequest(f"任务 {row['job']} 已不在配置中") from None
    date_from = dt.date.fromisoformat(str(row["run_date"])) if row.get("run_date") else None
    date_to = dt.date.fromisoformat(str(row["date_to"])) if row.get("date_to") else None
    new = await run_job(call.ctx, row["job"], date_from=date_from, date_to=date_to, trigger="retry")
    return {"changed": {}, "result": {"run": new["id"], "status": new["status"]}}
