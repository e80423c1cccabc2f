"""Export to .xlsx (openpyxl write-only, streamed to a temp file) and .csv, plus background jobs.

Rows come from EntityService.export_rows: the export grant, data scope, tab, keyword and
filters apply, and sensitive fields are masked unless the grant has clear_view. A large
export runs as an asyncio task writing under var/exports/; its job reports a download link.
"""
from __future__ import annotations

import asyncio
import csv
import datetime as dt
import os
import sys
import tempfile
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any

from specadmin.runtime.logs import audit
from specadmin.runtime.data.service import EntityService, _cell
from specadmin.runtime.data.values import coerce

if TYPE_CHECKING:
    from specadmin.runtime.app.context import AppContext
    from specadmin.runtime.security.principal import Principal

JOBS: dict[str, dict[str, Any]] = {}  # in-process background exports: id -> status


def typed_filters(service: EntityService, screen: str | None, params: dict[str, str]) -> dict[str, Any]:
    """Query-string filters of the screen, coerced to their field types (as the generated routes do)."""
    names = {n for s in service.screens.values() if screen in (None, s.name) for n in s.filters}
    out: dict[str, Any] = {}
    for key, raw in params.items():
        base = key[:-5] if key.endswith("_from") else key.removesuffix("_to")
        if base in names and raw not in (None, ""):
            f = service.entity.field(base)
            # refs too: PostgreSQL will not compare an integer id with text (coerce keeps keyed refs as text)
            out[key] = raw if f.type in ("dict", "string") else coerce(f, raw, None)
    return out


def _columns(service: EntityService, columns: list[dict], screen: str | None) -> list[dict]:
    chosen = next((s for s in service.screens.values() if screen in (None, s.name) and s.export_columns), None)
    if chosen is None:
        return columns
    wanted = set(chosen.export_columns)
    return [c for c in columns if c["name"] in wanted]


async def write_export(service: EntityService, principal: Principal, path: Path, *, screen=None, tab=None,
                       q=None, filters=None, progress=None) -> int:
    """Write every visible row to `path` (.xlsx or .csv); returns the row count."""
    columns, batches = await service.export_rows(principal, screen=screen, tab=tab, q=q, filters=filters)
    columns = _columns(service, columns, screen)
    count = 0
    await audit.record(service.ctx, principal, "action", service.entity.name, None, service.entity.label, None,
                       {"export": screen or "", "format": path.suffix[1:],
                        "filters": {k: str(v) for k, v in (filters or {}).items() if v not in (None, "")}})
    if path.suffix.lower() == ".csv":
        with open(path, "w", encoding="utf-8-sig", newline="") as fh:
            writer = csv.writer(fh)
            writer.writerow([c["label"] for c in columns])
            async for rows in batches:
                writer.writerows([_cell(item, c) for c in columns] for item in rows)
                count += len(rows)
                if progress:
                    progress(count)
        return count
    from openpyxl import Workbook

    book = Workbook(write_only=True)  # each row is serialised to a temp file as it is appended
    sheet = book.create_sheet(service.entity.label[:31])
    sheet.append([c["label"] for c in columns])
    async for rows in batches:
        for item in rows:
            sheet.append([_cell(item, c) for c in columns])
        count += len(rows)
        if progress:
            progress(count)
    book.save(path)
    return count


def export_dir(ctx: AppContext) -> Path:
    path = ctx.app_dir / "var" / "exports"
    path.mkdir(parents=True, exist_ok=True)
    return path


def start_background(service: EntityService, principal: Principal, fmt: str, **kw) -> dict[str, Any]:
    job_id = uuid.uuid4().hex
    name = f"{service.entity.name}-{dt.date.today().isoformat()}-{job_id[:8]}.{fmt}"
    path = export_dir(service.ctx) / name
    job = {"job": job_id, "status": "running", "rows": 0, "owner": principal.user_id, "file": str(path),
           "download": f"/api/exports/{job_id}/file", "name": name}
    JOBS[job_id] = job

    async def run() -> None:
        try:
            job["rows"] = await write_export(service, principal, path,
                                             progress=lambda n: job.__setitem__("rows", n), **kw)
            job["status"] = "done"
        except Exception as exc:  # the page shows the failure; the error goes to the log
            job["status"], job["message"] = "error", f"导出失败：{type(exc).__name__}"

    job["task"] = asyncio.get_running_loop().create_task(run())
    return job


def public(job: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in job.items() if k not in ("task", "file", "owner")}


async def run_cli(ctx: AppContext, entity: str, out: Path, *, screen: str | None, username: str | None) -> int:
    from specadmin.runtime.security.auth import load_principal

    user = ctx.table("user")
    query = user.select(user.id).where(user.username == username) if username else \
        user.select(user.id).where(user.superuser == True).order_by(user.id)
    rows = await query.limit(1)
    if not rows:
        print(f"error: 没有用户 {username or '（超级管理员）'}", file=sys.stderr)
        return 1
    principal = await load_principal(ctx, rows[0]["id"])
    count = await write_export(EntityService(ctx, entity), principal, out, screen=screen)
    print(f"已导出 {count} 行到 {out}")
    return 0


def temp_path(suffix: str) -> Path:
    fd, name = tempfile.mkstemp(suffix=suffix, prefix="specadmin-export-")
    os.close(fd)
    return Path(name)
