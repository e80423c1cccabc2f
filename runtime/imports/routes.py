"""HTTP routes, generic per entity (registered by app_factory, not generated per entity):

GET  /api/{entity}/import/template?screen=      the .xlsx template
POST /api/{entity}/import?screen=&mode=&force=  multipart `file` -> job (runs in the background)
GET  /api/imports/{job}                         progress and result (counts, error workbook link)
GET  /api/imports/{job}/errors                  the error workbook
GET  /api/{entity}/delete-range?field=&start=&end=&screen=   count preview
POST /api/{entity}/delete-range                 {field, start, end, screen, confirm, expected}
GET  /api/{entity}/latest?field=&screen=        newest value of a date field (newest 采集时间)
GET  /api/{entity}/export.xlsx | export.csv     streaming export; background=1 -> job
GET  /api/exports/{job}, /api/exports/{job}/file
"""
from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from litestar import Request, Response, get, post
from litestar.response import File

from specadmin.runtime.data import transfer_jobs, uploads
from specadmin.runtime.exports import background as exports
from specadmin.runtime.errors import BadRequest, NotFound
from specadmin.runtime.imports import ranges
from specadmin.runtime.imports.engine import Job, execute, finish, prepare
from specadmin.runtime.imports.template import build_template
from specadmin.runtime.security import levels
from specadmin.runtime.security.levels import LEVEL_PARAM
from specadmin.runtime.sheets.writer import bytes_response, file_response

INLINE_BYTES = 512 * 1024  # smaller uploads finish inside the request; larger ones run in the background


def _entity(request: Request) -> str:
    return request.url.path.split("/")[2]  # /api/<entity>/...: static paths, one per entity


def _service(request: Request, entity: str | None = None):
    entity = entity or _entity(request)
    service = request.app.state.services.get(entity)
    if service is None:
        raise NotFound(f"没有名为 {entity} 的数据对象")
    return service


async def import_template(request: Request, screen: str | None = None) -> Response:
    service = _service(request)
    from specadmin.runtime.imports.plan import import_screen

    entity = service.entity.name
    chosen, _ = import_screen(service.ctx, entity, screen)
    service.grants(request.user, "import", chosen.name)
    name, data = build_template(service.ctx, entity, chosen.name)
    return bytes_response(data, name)


def _run_in_thread(job: Job) -> None:
    """A private event loop on a worker thread: the import's own connection lives there."""
    asyncio.run(execute(job))


_FLAGS = {"1": True, "true": True, "yes": True, "on": True, "0": False, "false": False, "no": False, "off": False}


async def import_file(request: Request) -> dict[str, Any]:
    """The grant is checked before the body or the parameters are parsed: a user who may not
    import gets 403 whatever they send, and learns nothing from validation messages. The body is
    streamed to the job's upload file (runtime/data/uploads.py); the job's state is in the database."""
    service = _service(request)
    ctx, entity = service.ctx, service.entity.name
    params = request.query_params
    screen, mode = params.get("screen") or None, params.get("mode") or None
    from specadmin.runtime.imports.plan import MODES, import_screen

    chosen, spec = import_screen(ctx, entity, screen)
    service.grants(request.user, "import", chosen.name)
    force = _FLAGS.get(str(params.get("force", "false")).lower())
    if force is None:
        raise BadRequest("force 参数应为 true 或 false")
    if mode is not None and mode not in MODES:
        raise BadRequest(f"未知的导入方式 {mode}（mode 应为 {'、'.join(MODES)}）")
    if mode is not None and mode not in spec.choices:  # the spec's `import.modes` pins what may be chosen
        raise BadRequest(f"“{chosen.label}”不允许以 {mode} 方式导入（mode 可选：{'、'.join(spec.choices)}）")
    token = await transfer_jobs.create(ctx, "import", request.user, entity=entity, mode=mode or spec.mode)
    upload = None
    try:
        upload = await uploads.receive(request, ctx, token, missing="请选择要导入的文件")
        await transfer_jobs.save(ctx, token, file_name=upload.filename[:255], upload_file=str(upload.path))
        job = await prepare(ctx, request.user, entity, upload.path, screen=screen, mode=mode, force=force,
                            file_name=upload.filename, file_hash=upload.sha256)
    except BaseException as exc:
        uploads.remove(upload.path if upload else None)
        await transfer_jobs.drop(ctx, token)
        if isinstance(exc, ValueError):
            raise BadRequest(str(exc)) from exc
        raise
    job.id = token
    task = transfer_jobs.launch(_background(job))
    if upload.size <= INLINE_BYTES:
        await asyncio.shield(task)
    return transfer_jobs.public(await transfer_jobs.owned(ctx, request.user, token, ("import",), NO_JOB))


async def _background(job: Job) -> None:
    """Run the import on a worker thread; its progress and outcome go to the job's row."""
    reporter = transfer_jobs.Reporter(job.ctx, job.id)
    job.progress = lambda total, bad: reporter.report(total=total, ok_count=job.ok, bad_count=bad)
    try:
        await asyncio.to_thread(_run_in_thread, job)
        await finish(job)
    except Exception as exc:  # recorded on the job for the page; unless committed, the data is rolled back
        if job.status in ("running", "error"):
            job.status = "error"
            job.message = job.message or f"导入出错：{type(exc).__name__}"
    finally:
        uploads.remove(job.path)  # the upload never outlives its job
        await reporter.finish(**job.outcome(), upload_file=None)


NO_JOB = "没有这个导入任务"


@get("/api/imports/{job_id:str}")
async def import_status(request: Request, job_id: str) -> dict[str, Any]:
    ctx = request.app.state.ctx
    return transfer_jobs.public(await transfer_jobs.owned(ctx, request.user, job_id, ("import", "upload"), NO_JOB))


@get("/api/imports/{job_id:str}/errors")
async def import_errors(request: Request, job_id: str) -> File:
    job = await transfer_jobs.owned(request.app.state.ctx, request.user, job_id, ("import",), NO_JOB)
    if not job["result_file"]:
        raise NotFound("没有错误报告")
    return file_response(job["result_file"], f"导入错误-{Path(job['file_name'] or 'import').stem}.xlsx")


async def delete_range_preview(request: Request, field: str, start: str, end: str,
                               screen: str | None = None) -> dict[str, Any]:
    return await ranges.preview(_service(request), request.user, screen=screen, field=field,
                                start=start, end=end)


async def delete_range(request: Request, data: dict[str, Any]) -> dict[str, Any]:
    if data.get("confirm") is not True:
        raise BadRequest("请先预览数量并确认删除")
    expected = data.get("expected")
    return await ranges.delete(_service(request), request.user, screen=data.get("screen"),
                               field=str(data.get("field")), start=data.get("start"), end=data.get("end"),
                               expected=int(expected) if expected is not None else None)


async def latest_value(request: Request, field: str, screen: str | None = None) -> dict[str, Any]:
    service = _service(request)
    if not service.entity.has_field(field) or service.entity.field(field).type not in ("date", "datetime"):
        raise BadRequest("只能查询日期字段的最新值")
    return {"field": field, "latest": await ranges.latest(service, request.user, screen=screen, field=field)}


async def _export(request: Request, fmt: str) -> Any:
    service = _service(request)
    params = dict(request.query_params)
    screen, tab, q = params.pop("screen", None), params.pop("tab", None), params.pop("q", None)
    sort = (params.pop("sort", None) or "").strip()[:64] or None
    background = params.pop("background", None) in ("1", "true")
    level = levels.chosen(params.pop(LEVEL_PARAM, None))  # a bad one is a 400 now, not a failed job
    filters = exports.typed_filters(service, screen, params)
    kw = {"screen": screen, "tab": tab, "q": q, "sort": sort, "filters": filters, "level": level,
          "narrow": service.narrowing(request)}  # a drilled list exports what it lists
    if background:
        return exports.public(await exports.start_background(service, request.user, fmt, **kw))
    path = exports.temp_path(f".{fmt}")
    try:
        await exports.write_export(service, request.user, path, **kw)
    except Exception:
        path.unlink(missing_ok=True)
        raise
    return file_response(path, service.export_name(screen, fmt), delete=True)


async def export_xlsx(request: Request) -> Any:
    return await _export(request, "xlsx")


async def export_csv_file(request: Request) -> Any:
    return await _export(request, "csv")


async def _own_export(request: Request, job_id: str) -> dict[str, Any]:
    return await transfer_jobs.owned(request.app.state.ctx, request.user, job_id, ("export",), "没有这个导出任务")


@get("/api/exports/{job_id:str}")
async def export_status(request: Request, job_id: str) -> dict[str, Any]:
    return exports.public(await _own_export(request, job_id))


@get("/api/exports/{job_id:str}/file")
async def export_file(request: Request, job_id: str) -> File:
    job = await _own_export(request, job_id)
    if job["status"] != "done":
        raise NotFound("导出尚未完成")
    return file_response(job["result_file"], job["file_name"])


def transfer_handlers(entities: list[str]) -> list:
    """Static paths per entity: /api/<entity>/... would otherwise be taken by the generated
    controllers' /{row_id:int} routes (Litestar's router does not backtrack)."""
    def paths(suffix: str) -> list[str]:
        return [f"/api/{e}/{suffix}" for e in entities]

    return [
        get(paths("import/template"))(import_template),
        # No framework body limit: runtime/data/uploads.py streams the body and applies app.yaml's.
        post(paths("import"), status_code=200, request_max_body_size=None)(import_file),
        get(paths("delete-range"))(delete_range_preview),
        post(paths("delete-range"), status_code=200)(delete_range),
        get(paths("latest"))(latest_value),
        get(paths("export.xlsx"))(export_xlsx),
        get(paths("export.csv"))(export_csv_file),
        import_status, import_errors, export_status, export_file,
    ]
