"""The files of a row for API callers: `/ext/api/<entity>/<id>/files/<field>` lists (GET) and uploads
(POST, multipart, part `file`); `.../files/<field>/<file id>` downloads (GET) and deletes (DELETE).

The same handlers as the browser's `/api/<entity>/<id>/files/...` (runtime/attachments/routes.py),
behind the /ext caller gate (runtime/api_callers/middleware.py: token or SM2 signature, rate limit,
one operation-log row per call): the caller's Principal reaches the files only through a row its
role's grants and data scope let it read (`read`) or change (`update`); outside, 404 and nothing told.

An SM2-signed upload does not sign the multipart body (which is streamed, never held in memory):
it sends `X-SA-Content-SHA256: <hex SHA-256 of the file part's bytes>`, which the signature covers
in place of the body (runtime/api_callers/gate.py), and the received file must have that digest
(401 and nothing kept otherwise).
"""
from __future__ import annotations

from typing import Any

from litestar import Request, Response, Router, delete, get, post
from litestar.middleware import DefineMiddleware

from specadmin.runtime.api_callers.middleware import CallerAuthMiddleware
from specadmin.runtime.attachments import routes, store

EXT_PREFIX = "/ext/api"
MANY = "/{entity:str}/{row_id:int}/files/{field:str}"
ONE = MANY + "/{file_id:int}"
TAGS = ["外部接口"]


@get(MANY, operation_id="ext_files", summary="外部调用：记录的附件列表", tags=TAGS)
async def ext_list_files(request: Request, entity: str, row_id: int, field: str) -> dict[str, Any]:
    service, spec, row = await routes.reach(request, "read", row_id, field, entity)
    records = await store.files_of(service.ctx, service.entity.name, row["id"], spec.name)
    return {"field": spec.name, "label": spec.label, "items": [store.describe(r) for r in records]}


@post(MANY, operation_id="ext_file_upload", summary="外部调用：上传附件（multipart/form-data，字段 file）", tags=TAGS,
      status_code=201, request_max_body_size=None)
async def ext_upload_file(request: Request, entity: str, row_id: int, field: str) -> dict[str, Any]:
    service, spec, row = await routes.reach(request, "update", row_id, field, entity)
    routes.writable(spec)
    identity = request.scope.get("auth")
    signed = getattr(identity, "content_sha256", None)  # set for SM2-signed uploads only
    return await store.attach(service.ctx, request, request.user, service.entity, row, spec, sha256=signed)


@get(ONE, operation_id="ext_file_download", summary="外部调用：下载附件", tags=TAGS)
async def ext_download_file(request: Request, entity: str, row_id: int, field: str, file_id: int) -> Response:
    service, spec, row = await routes.reach(request, "read", row_id, field, entity)
    record = await store.record_of(service.ctx, service.entity.name, row["id"], spec.name, file_id)
    data = await store.content(service.ctx, record)
    return Response(data, media_type="application/octet-stream",
                    headers={"content-disposition": routes.disposition(record["name"], False),
                             "x-content-sha256": record["sha256"], "x-content-type-options": "nosniff",
                             "cache-control": "private, no-store"})


@delete(ONE, operation_id="ext_file_delete", summary="外部调用：删除附件", tags=TAGS, status_code=204)
async def ext_delete_file(request: Request, entity: str, row_id: int, field: str, file_id: int) -> None:
    service, spec, row = await routes.reach(request, "update", row_id, field, entity)
    routes.writable(spec)
    await store.detach(service.ctx, request.user, service.entity, row, spec, file_id)


def ext_file_router() -> Router:
    """The caller file routes, under the same gate as /ext/api (a fresh router per app)."""
    return Router(path=EXT_PREFIX, route_handlers=[ext_list_files, ext_upload_file, ext_download_file,
                                                   ext_delete_file],
                  middleware=[DefineMiddleware(CallerAuthMiddleware)])
