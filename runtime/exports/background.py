"""Export to .xlsx and .csv (runtime.sheets.writer, streamed to a file), plus background jobs.

Columns and rows come from EntityService.export_rows (runtime/data/export.py): the export grant,
data scope, tab, keyword, filters and sort apply, and sensitive fields are masked unless the
grant holds `unmask` (runtime/security/unmask.py). A large export runs as an asyncio task writing under var/exports/; its
job (a transfer_job row, runtime/data/transfer_jobs.py) reports progress and a download link.
"""
from __future__ import annotations

import logging
import os
import sys
import tempfile
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any

from specadmin.runtime.data import transfer_jobs
from specadmin.runtime.data.export import write_batches
from specadmin.runtime.entities.service import EntityService
from specadmin.runtime.data.list_query import parse
from specadmin.runtime.sheets.writer import SheetWriter
from specadmin.runtime.data.private_files import private_dir

if TYPE_CHECKING:
    from specadmin.runtime.app.context import AppContext
    from specadmin.runtime.security.principal import Principal

log = logging.getLogger("specadmin")


def typed_filters(service: EntityService, screen: str | None, params: dict[str, str]) -> dict[str, Any]:
    """The query-string filters of the screen (every screen of the entity when None), typed by
    runtime/data/list_query.py as every list request is; a value of the wrong type is a 400."""
    screens = [s for s in service.screens.values() if screen in (None, s.name)]
    given = {k: v for k, v in params.items() if k not in ("page", "page_size")}  # an export has no pages
    return parse(service.entity, screens, given).check().filters


async def write_export(service: EntityService, principal: Principal, path: Path, *, screen=None, tab=None,
                       q=None, sort=None, filters=None, progress=None, level=None, narrow=None) -> int:
    """Write every visible row to `path` (.xlsx or .csv) in the list's order; returns the row count."""
    columns, batches = await service.export_rows(principal, screen=screen, tab=tab, q=q, sort=sort, filters=filters,
                                                 level=level, narrow=narrow)
    fmt = "csv" if path.suffix.lower() == ".csv" else "xlsx"
    await service.log_export(principal, screen, fmt, filters)
    title = service.screens[screen].label if screen in service.screens else service.entity.label
    with SheetWriter(path, fmt, [c["label"] for c in columns], title=title) as writer:
        return await write_batches(writer, columns, batches, progress)


def export_dir(ctx: AppContext) -> Path:
    return private_dir(ctx.app_dir / "var" / "exports")


async def start_background(service: EntityService, principal: Principal, fmt: str, **kw) -> dict[str, Any]:
    """Start an export job (its state in the transfer_job table, so any worker answers a poll)."""
    ctx = service.ctx
    name = service.export_name(kw.get("screen"), fmt)  # what the download is called: 场所信息管理-2026-12-02.xlsx
    path = export_dir(ctx) / f"{service.entity.name}-{uuid.uuid4().hex}.{fmt}"
    token = await transfer_jobs.create(ctx, "export", principal, entity=service.entity.name, file_name=name,
                                       result_file=str(path))

    async def run() -> None:
        reporter = transfer_jobs.Reporter(ctx, token)
        outcome: dict[str, Any] = {}
        try:
            rows = await write_export(service, principal, path, progress=lambda n: reporter.report(total=n), **kw)
            outcome = {"status": "done", "total": rows}
        except Exception as exc:  # the page shows the failure; the error goes to the log
            log.warning("background export %s failed: %s", token, type(exc).__name__)
            path.unlink(missing_ok=True)
            outcome = {"status": "error", "message": f"导出失败：{type(exc).__name__}"}
        finally:
            await reporter.finish(**outcome)

    transfer_jobs.launch(run())
    return {"token": token, "status": "running", "total": 0, "file_name": name, "message": None}


def public(job: dict[str, Any]) -> dict[str, Any]:
    """What the API shows of an export job (a transfer_job row): never the server path or the owner."""
    return {"job": job["token"], "status": job["status"], "rows": job["total"] or 0,
            "download": f"/api/exports/{job['token']}/file", "name": job["file_name"], "message": job["message"]}


async def run_cli(ctx: AppContext, entity: str, out: Path, *, screen: str | None, username: str | None) -> int:
    from specadmin.runtime.identity.sessions import cli_principal

    principal = await cli_principal(ctx, username)
    if principal is None:
        print(f"error: 没有用户 {username or '（超级管理员）'}", file=sys.stderr)
        return 1
    count = await write_export(EntityService(ctx, entity), principal, out, screen=screen)
    print(f"已导出 {count} 行到 {out}")
    return 0


def temp_path(suffix: str) -> Path:
    fd, name = tempfile.mkstemp(suffix=suffix, prefix="specadmin-export-")
    os.close(fd)
    return Path(name)
