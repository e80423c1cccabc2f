"""Background transfer jobs (imports, exports, bulk-query uploads) kept in the database.

A job's state lives in the `transfer_job` table (runtime/imports/imports.yaml), not in one worker
process's memory, so with several workers any of them answers a poll; only the job's owner (or a
superuser) sees it. The process running a job posts its progress and, at least every HEARTBEAT
seconds, a heartbeat. A job whose process is gone (killed, restarted) is found by `recover` at
start-up — its process no longer runs on this host, or its heartbeat is older than STALE — and
marked as interrupted; a poll shows such a job as interrupted too.
"""
from __future__ import annotations

import asyncio
import datetime as dt
import json
import os
import socket
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any

from specadmin.runtime.errors import Denied, NotFound

if TYPE_CHECKING:
    from specadmin.runtime.app.context import AppContext
    from specadmin.runtime.security.principal import Principal

TABLE = "transfer_job"
HEARTBEAT = 30.0  # seconds: a running job's row is written at least this often
STALE = 600  # seconds without a heartbeat after which a running job counts as lost
INTERRUPTED = "任务已中断（处理它的服务进程已停止），未写入任何数据，请重新提交"
INSTANCE = uuid.uuid4().hex[:12]  # this process, even if a restart reuses its pid


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{INSTANCE}"


def _now() -> dt.datetime:
    return dt.datetime.now().replace(microsecond=0)


def _alive(worker: str | None) -> bool | None:
    """Whether the process that runs a job still runs: None when it runs on another host."""
    host, _, rest = (worker or "").partition(":")
    pid, _, instance = rest.partition(":")
    if host != socket.gethostname() or not pid.isdigit():
        return None
    if int(pid) == os.getpid():
        return instance == INSTANCE
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _lost(row: dict[str, Any], now: dt.datetime) -> bool:
    if row["status"] != "running":
        return False
    alive = _alive(row.get("worker"))
    if alive is False:
        return True
    beat = row.get("heartbeat") or row.get("started_at")
    if isinstance(beat, str):
        beat = dt.datetime.fromisoformat(beat)
    return beat is None or (now - beat).total_seconds() > STALE


async def create(ctx: AppContext, kind: str, principal: Principal, **values: Any) -> str:
    """A new running job of `principal`; returns its token (the job id the API shows)."""
    table = ctx.table(TABLE)
    token = uuid.uuid4().hex
    now = _now()
    row = dict(token=token, kind=kind, owner=principal.user_id, status="running", total=0, ok_count=0, bad_count=0,
               worker=worker_name(), started_at=now, heartbeat=now, created_by=principal.user_id, created_at=now,
               updated_at=now)
    row.update(values)
    await table.insert(table(_ignore_missing=True, **row))
    return token


async def save(ctx: AppContext, token: str, **values: Any) -> None:
    """Write a job's progress or outcome (and its heartbeat)."""
    table = ctx.table(TABLE)
    now = _now()
    values.update(heartbeat=now, updated_at=now)
    await table.update({getattr(table, k): v for k, v in values.items()}, force=True).where(table.token == token)


async def drop(ctx: AppContext, token: str) -> None:
    """Forget a job that never started (its request was refused)."""
    table = ctx.table(TABLE)
    await table.delete().where(table.token == token)


async def load(ctx: AppContext, token: str) -> dict[str, Any] | None:
    table = ctx.table(TABLE)
    rows = await table.select().where(table.token == token)
    return rows[0] if rows else None


async def owned(ctx: AppContext, principal: Principal, token: str, kinds: tuple[str, ...], missing: str) -> dict:
    """The job, for its owner or a superuser (403 for anyone else, 404 when there is no such job)."""
    row = await load(ctx, token) if isinstance(token, str) and len(token) <= 32 else None
    if row is None or row["kind"] not in kinds:
        raise NotFound(missing)
    if row["owner"] != principal.user_id and not principal.superuser:
        raise Denied()
    if _lost(row, _now()):
        row.update(status="error", message=INTERRUPTED)
    return row


async def recover(ctx: AppContext) -> list[Path]:
    """At start-up: mark the running jobs whose process is gone as interrupted; returns their uploads."""
    table = ctx.table(TABLE)
    now, uploads = _now(), []
    for row in await table.select().where(table.status == "running"):
        if _lost(row, now):
            await save(ctx, row["token"], status="error", message=INTERRUPTED)
            if row.get("upload_file"):
                uploads.append(Path(row["upload_file"]))
    return uploads


ERROR_LINKS = {"import": "/api/imports/{}/errors", "upload": "/api/bulk_query/errors/{}"}  # error workbooks
_TASKS: set[asyncio.Task] = set()


def dump_problems(problems: list[dict[str, Any]]) -> str | None:
    """The first bad rows of a job (row, column, reason: no cell values) as its row keeps them."""
    return json.dumps(problems, ensure_ascii=False) if problems else None


def _problems(raw: str | None) -> list[dict[str, Any]]:
    try:
        found = json.loads(raw) if raw else []
    except ValueError:
        return []
    return found if isinstance(found, list) else []


def public(row: dict[str, Any]) -> dict[str, Any]:
    """What the API shows of an import or upload job (never server paths): counts, the first bad
    rows (`problems`: row as Excel numbers it, column, reason) and the error workbook's link."""
    link = ERROR_LINKS.get(row["kind"])
    return {"job": row["token"], "batch": row["batch"], "status": row["status"], "total": row["total"] or 0,
            "ok": row["ok_count"] or 0, "bad": row["bad_count"] or 0, "mode": row["mode"],
            "error_file": link.format(row["token"]) if link and row["result_file"] else None,
            "problems": _problems(row.get("problems")), "message": row["message"]}


def launch(work) -> asyncio.Task:
    """Run a job's coroutine as a task of the app's loop, kept referenced until it ends."""
    task = asyncio.get_running_loop().create_task(work)
    _TASKS.add(task)
    task.add_done_callback(_TASKS.discard)
    return task


class Reporter:
    """Posts a running job's progress from the event loop that owns the database engine.

    The work (often on a worker thread) calls `report(**values)`; the latest values are written
    one at a time, at least every HEARTBEAT seconds, until `finish(**outcome)` writes the end."""

    def __init__(self, ctx: AppContext, token: str):
        self.ctx, self.token = ctx, token
        self.loop = asyncio.get_running_loop()
        self.pending: dict[str, Any] = {}
        self.wake = asyncio.Event()
        self.stopping = False
        self.task = self.loop.create_task(self._run())

    def report(self, **values: Any) -> None:
        """Thread-safe: remember the newest values and wake the poster."""
        def remember() -> None:
            self.pending.update(values)
            self.wake.set()

        if _on_loop(self.loop):
            remember()
        else:
            self.loop.call_soon_threadsafe(remember)

    async def _run(self) -> None:
        while not self.stopping:
            try:
                await asyncio.wait_for(self.wake.wait(), HEARTBEAT)
            except asyncio.TimeoutError:
                pass
            self.wake.clear()
            if self.stopping:
                break
            values, self.pending = self.pending, {}
            try:
                await save(self.ctx, self.token, **values)
            except Exception:  # progress is best effort (e.g. a busy database); the outcome is not
                self.pending = {**values, **self.pending}

    async def finish(self, **outcome: Any) -> None:
        self.stopping = True
        self.wake.set()
        await self.task
        for attempt in range(3):
            try:
                await save(self.ctx, self.token, **{**self.pending, **outcome})
                return
            except Exception:
                if attempt == 2:
                    raise
                await asyncio.sleep(1)


def _on_loop(loop: asyncio.AbstractEventLoop) -> bool:
    try:
        return asyncio.get_running_loop() is loop
    except RuntimeError:
        return False
