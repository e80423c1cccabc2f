"""HTTP routes of bulk-query batch screens (registered by app_factory via `bulk_query_handlers`):

POST /api/bulk_query/{screen}/upload      multipart `file` (.xlsx/.csv) -> a new batch (import grant); a
                                          large file runs in the background, polled at /api/imports/{job}
GET  /api/bulk_query/{screen}/template    the upload template (.xlsx with the upload columns)
GET  /api/bulk_query/{screen}/export.xlsx?batch=&pending=   导出结果 / 未查询导出 of one batch
GET  /api/bulk_query/errors/{job_id}      the error workbook of an upload (its uploader only)
GET  /s/{screen}                          the batch page: the list page plus upload, links and exports

查询/重新查询 and 删除 go through EntityService (custom actions, batch delete), so grants and the
street scope apply as on every screen; results are exported by the items screen's export.
"""
from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from litestar import Request, Response, get, post
from litestar.response import File, Template

from specadmin.runtime.data import transfer_jobs, uploads
from specadmin.runtime.errors import BadRequest, NotFound
from specadmin.runtime.bulk_query.engine import bulk_screen
from specadmin.runtime.bulk_query.upload import MODES, upload
from specadmin.runtime.imports.readers import Limits, check_file
from specadmin.runtime.imports.page import mode_choices
from specadmin.runtime.sheets.writer import bytes_response, file_response, write_sheet

INLINE_BYTES = 512 * 1024  # smaller files are answered in the request; larger ones run in the background
NO_JOB = "没有这个错误报告"


# No framework body limit: runtime/data/uploads.py streams the body and applies app.yaml's.
@post("/api/bulk_query/{screen:str}/upload", status_code=200, request_max_body_size=None,
      tags=["批量查询"], summary="上传批量查询文件（multipart 字段 file）")
async def upload_batch(request: Request, screen: str, mode: str = "all_or_nothing") -> dict[str, Any]:
    ctx = request.app.state.ctx
    chosen, _ = bulk_screen(ctx, screen)
    request.app.state.services[chosen.entity].grants(request.user, "import", chosen.name)  # before reading
    if mode not in MODES:
        raise BadRequest(f"未知的导入方式 {mode}（mode 应为 {'、'.join(MODES)}）")
    token = await transfer_jobs.create(ctx, "upload", request.user, entity=chosen.entity, mode=mode)
    received = None
    try:
        received = await uploads.receive(request, ctx, token)
        await transfer_jobs.save(ctx, token, file_name=received.filename[:255], upload_file=str(received.path))
        # A file that is no workbook, or over the app's limits, is refused (400) before the job starts.
        await asyncio.to_thread(check_file, received.path, Limits.of(ctx.app))
    except BaseException:
        uploads.remove(received.path if received else None)
        await transfer_jobs.drop(ctx, token)
        raise
    task = transfer_jobs.launch(_background(ctx, request.user, screen, token, received, mode))
    if received.size <= INLINE_BYTES:
        await asyncio.shield(task)
    job = transfer_jobs.public(await transfer_jobs.owned(ctx, request.user, token, ("upload",), NO_JOB))
    if received.size <= INLINE_BYTES and job["status"] == "error":  # answered in the request: say it as a 400
        raise BadRequest(job["message"] or "上传出错")
    return job


async def _background(ctx, principal, screen: str, token: str, received: uploads.Upload, mode: str) -> None:
    """Parse and write the batch on a worker thread; the outcome goes to the job's row."""
    reporter = transfer_jobs.Reporter(ctx, token)
    outcome: dict[str, Any] = {}
    try:
        result = await upload(ctx, principal, screen, received.path, file_name=received.filename, mode=mode,
                              progress=lambda total, ok, bad: reporter.report(total=total, ok_count=ok, bad_count=bad))
        outcome = {"status": result["status"], "batch": result["batch"], "total": result["total"],
                   "ok_count": result["ok"], "bad_count": result["bad"], "message": result["message"],
                   "result_file": result["error_file"], "problems": transfer_jobs.dump_problems(result["problems"])}
    except ValueError as exc:  # no header row, a missing key column
        outcome = {"status": "error", "message": str(exc)[:500]}
    except Exception as exc:
        outcome = {"status": "error", "message": f"上传出错：{type(exc).__name__}"}
    finally:
        uploads.remove(received.path)  # the upload never outlives its job
        await reporter.finish(**outcome, upload_file=None)


@get("/api/bulk_query/{screen:str}/template", tags=["批量查询"], summary="批量查询上传模板")
async def upload_template(request: Request, screen: str) -> Response:
    ctx = request.app.state.ctx
    chosen, spec = bulk_screen(ctx, screen)
    request.app.state.services[chosen.entity].grants(request.user, "import", chosen.name)
    entity = ctx.app.entity(spec.items)
    data = write_sheet(None, "xlsx", [entity.field(n).label for n in spec.upload], [], title="批量查询")
    return bytes_response(data, f"{chosen.label}模板.xlsx")


@get("/api/bulk_query/{screen:str}/export.xlsx", tags=["批量查询"], summary="导出批次结果（未查询导出：pending=true）")
async def export_results(request: Request, screen: str, batch: int, pending: bool = False) -> File:
    from specadmin.runtime.exports.background import temp_path
    from specadmin.runtime.bulk_query.export import export_batch

    ctx = request.app.state.ctx
    path = temp_path(".xlsx")
    try:
        await export_batch(ctx, request.user, screen, batch, path, pending_only=pending)
    except Exception:
        path.unlink(missing_ok=True)
        raise
    batch_entity = ctx.table(bulk_screen(ctx, screen)[0].entity)
    rows = await batch_entity.select(batch_entity.batch_no).where(batch_entity._meta.primary_key == batch)
    name = f"{rows[0]['batch_no'] if rows else batch}-{'未查询' if pending else '查询结果'}.xlsx"
    return file_response(path, name, delete=True)


@get("/api/bulk_query/errors/{job_id:str}", tags=["批量查询"], summary="上传错误报告")
async def upload_errors(request: Request, job_id: str) -> File:
    job = await transfer_jobs.owned(request.app.state.ctx, request.user, job_id, ("upload",), NO_JOB)
    if not job["result_file"]:
        raise NotFound(NO_JOB)
    return file_response(job["result_file"], f"上传错误-{Path(job['file_name'] or 'upload').stem}.xlsx")


async def batch_page(request: Request) -> Response:
    """The generic list page of the batch screen, shown with bulk_batches.html: 上传 form, and
    per batch the links to its results, 导出结果, 未查询导出 (each only with the grant it needs)."""
    from specadmin.runtime.pages.lists import list_page

    name = request.url.path.rstrip("/").rsplit("/", 1)[-1]
    ctx = request.app.state.ctx
    _, spec = bulk_screen(ctx, name)
    response = await list_page.fn(request, name)
    if not isinstance(response, Template):
        return response
    context = dict(response.context)
    principal = request.user
    context["transfer"] = ({"import_url": f"/api/bulk_query/{name}/upload?screen={name}",
                            "template_url": f"/api/bulk_query/{name}/template",
                            **mode_choices(ctx, MODES, MODES[0])}
                           if principal.can(name, "import") else None)
    items = spec.items_screen
    context["bulk"] = {
        "items_url": f"/s/{items}?batch=" if items and principal.can(items, "list") else None,
        "export_url": f"/api/bulk_query/{name}/export.xlsx?batch=" if items and principal.can(items, "export")
        else None,
        "stats": [{"url": f"/s/{s.name}", "label": s.label} for s in ctx.app.screens_of(spec.items)
                  if s.stat is not None and principal.can(s.name, "list")],
    }
    return Template(template_name="bulk_batches.html", context=context)


def bulk_query_handlers(app) -> list:
    """The API routes, and a static /s/<screen> page per bulk-query screen (static paths win
    over the generic /s/{name} in Litestar's router)."""
    from specadmin.runtime.pages.common import PAGE_ERRORS

    pages = [f"/s/{s.name}" for s in app.screens if s.bulk_query is not None]
    handlers = [upload_batch, upload_template, export_results, upload_errors]
    if pages:
        handlers.append(get(pages, name="bulk_batch_page", exception_handlers=PAGE_ERRORS)(batch_page))
    return handlers
