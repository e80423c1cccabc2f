"""Deliver committed `feed_delivery` rows: httpx POST, retries with backoff, dead letters.

A row is due when its status is pending/failed (or a `sending` claim whose lease ran out,
i.e. a process died mid-delivery) and next_try_at has come. Before sending, a process claims
the row with a conditional update (same status and attempts as it read), so several
uvicorn workers, a Celery task and `specadmin serve` may all run this without sending a row
twice at once. A 2xx answer marks it sent; anything else (an error status, a refused
connection, a timeout) counts as a failed attempt and sets next_try_at = now + backoff x
2^(attempts-1); after the target's max_attempts it becomes a dead letter (死信), which only
重新推送 on 推送记录 brings back.

Runners: `FeedDispatcher` inside `specadmin serve` (started with the job scheduler; polls
every SPECADMIN_FEED_POLL seconds, default 1, and is woken after each inbound batch), or
`dispatch_job` as a job function (`function: specadmin.runtime.feeds.dispatcher.dispatch_job`)
for a Celery worker.
"""
from __future__ import annotations

import asyncio
import datetime as dt
import logging
import os
from typing import TYPE_CHECKING, Any

import httpx

from specadmin.runtime.plugin.background import BackgroundLoop
from specadmin.runtime.feeds.formats import signed_headers
from specadmin.runtime.feeds.targets import target

if TYPE_CHECKING:
    from specadmin.runtime.app.context import AppContext

log = logging.getLogger("specadmin.feeds")
BATCH = 100
LEASE_MARGIN = 30  # seconds beyond the target timeout before a claim counts as abandoned


def _now() -> dt.datetime:
    return dt.datetime.now().replace(microsecond=0)


async def due_rows(ctx: "AppContext", now: dt.datetime, limit: int = BATCH) -> list[dict[str, Any]]:
    table = ctx.table("feed_delivery")
    return await (table.select(table.id, table.target, table.payload, table.status, table.attempts,
                               table.next_try_at)
                  .where(table.status.is_in(["pending", "failed", "sending"]), table.next_try_at <= now)
                  .order_by(table.id).limit(limit))


async def _claim(ctx: "AppContext", row: dict[str, Any], lease_until: dt.datetime) -> bool:
    table = ctx.table("feed_delivery")
    claimed = await (table.update({table.status: "sending", table.next_try_at: lease_until}, force=True)
                     .where(table.id == row["id"], table.status == row["status"],
                            table.attempts == (row["attempts"] or 0))
                     .returning(table.id))
    return bool(claimed)


async def deliver_one(ctx: "AppContext", client: httpx.AsyncClient, row: dict[str, Any],
                      now: dt.datetime | None = None) -> str | None:
    """Try one due row; returns its new status, or None when another process claimed it first."""
    table = ctx.table("feed_delivery")
    now = now or _now()
    if row["target"] not in ctx.app.feed_targets:  # the target was removed from app.yaml since
        await table.update({table.status: "dead", table.last_error: "推送目标已不存在"}, force=True).where(
            table.id == row["id"])
        return "dead"
    dest = target(ctx.app, row["target"])
    if not await _claim(ctx, row, now + dt.timedelta(seconds=dest.timeout + LEASE_MARGIN)):
        return None
    attempts = (row["attempts"] or 0) + 1
    code, error = None, None
    try:
        body = row["payload"].encode("utf-8")
        headers = dest.headers | signed_headers(ctx.app.feed_targets[row["target"]], body)
        response = await client.post(dest.url, content=body, headers=headers, timeout=dest.timeout)
        code = response.status_code
        if not 200 <= code < 300:
            error = f"HTTP {code}: {response.text[:200]}"
    except httpx.HTTPError as exc:
        error = f"{exc.__class__.__name__}: {exc}"[:500] or exc.__class__.__name__
    done = _now()
    if error is None:
        values = {table.status: "sent", table.attempts: attempts, table.http_status: code, table.sent_at: done,
                  table.last_error: None, table.updated_at: done}
        status = "sent"
    else:
        status = "dead" if attempts >= dest.max_attempts else "failed"
        values = {table.status: status, table.attempts: attempts, table.http_status: code,
                  table.last_error: error, table.updated_at: done,
                  table.next_try_at: done + dt.timedelta(seconds=dest.delay(attempts))}
        log.warning("feed delivery %s to %s failed (%s/%s): %s", row["id"], dest.name, attempts,
                    dest.max_attempts, error)
    await table.update(values, force=True).where(table.id == row["id"])
    return status


async def run_once(ctx: "AppContext", now: dt.datetime | None = None,
                   client: httpx.AsyncClient | None = None) -> dict[str, int]:
    """Deliver every row due at `now`; returns counts by resulting status."""
    counts: dict[str, int] = {}
    own = client is None
    client = client or httpx.AsyncClient()
    try:
        while True:
            rows = await due_rows(ctx, now or _now())
            for row in rows:
                status = await deliver_one(ctx, client, row, now)
                if status:
                    counts[status] = counts.get(status, 0) + 1
            if len(rows) < BATCH:
                return counts
    finally:
        if own:
            await client.aclose()


async def dispatch_job(call) -> dict[str, Any]:
    """Job handler `feeds.dispatch` for a scheduled or Celery run: deliver what is due now."""
    counts = await run_once(call.ctx)
    return {"created": 0, **counts}


class FeedDispatcher(BackgroundLoop):
    """The in-process dispatcher of `specadmin serve`: a loop on the app's event loop."""

    def __init__(self, ctx: "AppContext"):
        self.ctx = ctx
        self.event: asyncio.Event | None = None
        self.poll = float(os.environ.get("SPECADMIN_FEED_POLL") or 1)

    def start(self) -> None:
        if self.task is None and any(f.kind == "outbound" for f in self.ctx.app.feeds):
            self.event = asyncio.Event()
            self.launch(self._loop())

    def wake(self) -> None:
        """Called after a commit that wrote deliveries (inbound batches): deliver without waiting."""
        if self.event is not None:
            self.event.set()

    async def _loop(self) -> None:
        async with httpx.AsyncClient() as client:
            while True:
                try:
                    await run_once(self.ctx, client=client)
                except asyncio.CancelledError:
                    raise
                except Exception:  # a broken row or a database hiccup must not stop deliveries
                    log.exception("feed dispatch failed")
                assert self.event is not None
                try:
                    await asyncio.wait_for(self.event.wait(), self.poll)
                except asyncio.TimeoutError:
                    pass
                self.event.clear()
