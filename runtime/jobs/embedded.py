"""The embedded scheduler inside `specadmin serve`: no Redis, no extra process.

uvicorn may start several worker processes, each with its own app; only one must schedule.
Each tries a non-blocking exclusive lock on DIR/var/jobs.lock (fcntl.flock); the holder
schedules, the others retry every minute, so when the holder dies another takes over. The
lock is per machine; across machines, the unique `slot` of job_run still lets exactly one
process run each scheduled firing (see runner.run_job).
"""
from __future__ import annotations

import asyncio
import datetime as dt
import fcntl
import logging
import os
from typing import TYPE_CHECKING

from specadmin.runtime.plugin.background import BackgroundLoop
from specadmin.runtime.jobs import cron
from specadmin.runtime.jobs.runner import run_job

if TYPE_CHECKING:
    from specadmin.runtime.app.context import AppContext

log = logging.getLogger("specadmin.jobs")


class EmbeddedScheduler(BackgroundLoop):
    def __init__(self, ctx: "AppContext"):
        self.ctx = ctx
        self.lock_fd: int | None = None

    def try_lock(self) -> bool:
        if self.lock_fd is not None:
            return True
        fd = os.open(self.ctx.app_dir / "var" / "jobs.lock", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            return False
        self.lock_fd = fd
        log.info("this process (pid %s) schedules jobs", os.getpid())
        return True

    def start(self) -> None:
        if self.ctx.app.jobs:
            self.launch(self._loop())

    async def stop(self) -> None:
        await super().stop()
        if self.lock_fd is not None:
            os.close(self.lock_fd)  # closing the descriptor releases the flock
            self.lock_fd = None

    async def tick(self, minute: dt.datetime) -> list[str]:
        """Run the jobs due at `minute`; returns their names."""
        ran = []
        for job in self.ctx.app.jobs:
            if job.enabled and cron.matches(job.schedule, minute):
                # Runs are sequential so that jobs declared first (the comparison) finish before later ones.
                await run_job(self.ctx, job.name, trigger="schedule",
                              slot=cron.slot(job.name, minute))
                ran.append(job.name)
        return ran

    async def _loop(self) -> None:
        last: dt.datetime | None = None
        while True:
            now = dt.datetime.now()
            nxt = (now + dt.timedelta(minutes=1)).replace(second=0, microsecond=0)
            await asyncio.sleep((nxt - now).total_seconds())
            if not self.try_lock():
                last = None
                continue
            # Minutes passed while a long job ran are caught up (at most an hour back); the
            # unique slot keeps a minute from running twice.
            minute = nxt if last is None else max(last + dt.timedelta(minutes=1), nxt - dt.timedelta(hours=1))
            while minute <= nxt:
                try:
                    await self.tick(minute)
                except Exception:  # a broken job must not stop the scheduler
                    log.exception("scheduled jobs at %s failed", minute)
                minute += dt.timedelta(minutes=1)
            last = nxt
