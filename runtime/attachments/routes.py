"""The API of a row's files: `/api/<entity>/<id>/files/<field>` lists (GET) and uploads (POST, multipart,
field `file`); `.../files/<field>/<file id>` downloads (GET; images, PDF, video and audio inline with their own
Content-Type unless `?download=1`; everything else, and never HTML or SVG, as an octet-stream attachment)
and deletes (DELETE).

Every route reaches the files through their row: listing and downloading need the row readable
under the user's grants and data scope (`read`), uploading and deleting need it writable (`update`),
and the field shown on a screen granting that (EntityService.reach): outside, 404 and nothing told.
"""
from __future__ import annotations

from typing import Any
from urllib.parse import quote

from litestar import Request, Response, delete, get, post

from specadmin.runtime.attachments import store
from specadmin.runtime.errors import Denied, NotFound
from specadmin.specs import attachments as types


def _entity(request: Request) -> str:
    return request.url.path.split("/")[2]


async def reach(request: Request, action: str, row_id: int, field: str, entity: str | None = None):
    service = request.app.state.services.get(entity or _entity(request))
    if service is None:
        raise NotFound()
    spec = store.file_field(service.entity, field)
    screen = request.query_params.get("screen") or None
    row = await service.reach(request.user, action, row_id, field, screen=screen)
    return service, spec, row


async def list_files(request: Request, row_id: int, field: str) -> dict[str, Any]:
    service, spec, row = await reach(request, "read", row_id, field)
    records = await store.files_of(service.ctx, service.entity.name, row["id"], spec.name)
    return {"field": spec.name, "label": spec.label, "items": [store.describe(r) for r in records]}


async def upload_file(request: Request, row_id: int, field: str) -> dict[str, Any]:
    service, spec, row = await reach(request, "update", row_id, field)
    writable(spec)
    return await store.attach(service.ctx, request, request.user, service.entity, row, spec)


def writable(spec) -> None:
    if spec.readonly:
        raise Denied(f"“{spec.label}”只能由操作上传，不能直接上传或删除")


def disposition(name: str, inline: bool) -> str:
    ascii_name = name.encode("ascii", "replace").decode("ascii").replace('"', "_").replace("?", "_")
    return f"{'inline' if inline else 'attachment'}; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(name)}"


# An inline PDF is shown in an <iframe> of the detail page (same origin only); nothing it holds may run script.
FRAMED_CSP = "default-src 'none'; img-src 'self' data:; style-src 'unsafe-inline'; object-src 'self'; frame-ancestors 'self'"


def file_headers(name: str, inline: bool, framed: bool) -> dict[str, str]:
    """Headers of a served file: inline or attachment, never sniffed, never cached; a `framed` one
    (an inline PDF) may be framed by the app's own pages and nothing else."""
    headers = {"content-disposition": disposition(name, inline), "x-content-type-options": "nosniff",
               "cache-control": "private, no-store"}
    if framed:
        headers |= {"x-frame-options": "SAMEORIGIN", "content-security-policy": FRAMED_CSP}
    return headers


async def download_file(request: Request, row_id: int, field: str, file_id: int) -> Response:
    service, spec, row = await reach(request, "read", row_id, field)
    record = await store.record_of(service.ctx, service.entity.name, row["id"], spec.name, file_id)
    data = await store.content(service.ctx, record)
    ext = types.extension(record["name"])
    inline = types.previewable(ext) and request.query_params.get("download") in (None, "", "0")
    return Response(data, media_type=types.content_type(ext) if inline else "application/octet-stream",
                    headers=file_headers(record["name"], inline, inline and types.preview_kind(ext) == "pdf"))


async def delete_file(request: Request, row_id: int, field: str, file_id: int) -> None:
    service, spec, row = await reach(request, "update", row_id, field)
    writable(spec)
    await store.detach(service.ctx, request.user, service.entity, row, spec, file_id)


async def stage_file(request: Request, param: str) -> dict[str, Any]:
    """A file for a custom action's file parameter, uploaded before the action runs (its id goes in
    the action's `params`); the actor must hold the action (optionally `?screen=`)."""
    parts = request.url.path.split("/")
    return await _stage(request, parts[2], parts[4], request.query_params.get("screen") or None, param)


async def stage_page_file(request: Request, name: str, action: str, param: str) -> dict[str, Any]:
    """The same from an action's dialog on a page: `/s/<screen>/action/<action>/files/<param>`."""
    screen = next((s for s in request.app.state.ctx.app.screens if s.name == name), None)
    if screen is None:
        raise NotFound(f"没有名为 {name} 的页面")
    return await _stage(request, screen.entity, action, name, param)


async def _stage(request: Request, entity: str, action: str, screen: str | None, param: str) -> dict[str, Any]:
    service = request.app.state.services.get(entity)
    if service is None:
        raise NotFound()
    grants = service.grants(request.user, action, screen)
    spec = next((a for s, _ in grants for a in s.custom_actions if a.name == action), None)
    if spec is None:
        raise NotFound(f"没有名为 {action} 的操作")
    return await store.stage(service.ctx, request, request.user, service.entity, spec, param)


def action_file_handlers(actions: list[tuple[str, str]]) -> list:
    """POST /api/<entity>/actions/<action>/files/<param> for each (entity, action) with file parameters
    (static paths beside the generated /actions/<action> routes)."""
    if not actions:
        return []
    paths = [f"/api/{e}/actions/{a}/files/{{param:str}}" for e, a in actions]
    return [post(paths, tags=["附件"], summary="上传操作的附件参数（multipart/form-data，字段 file）", status_code=201,
                 request_max_body_size=None)(stage_file),
            post("/s/{name:str}/action/{action:str}/files/{param:str}", status_code=201, request_max_body_size=None,
                 include_in_schema=False)(stage_page_file)]


def file_handlers(entities: list[str]) -> list:
    """Static entity paths: /api/<entity>/{row_id:int} of the generated controllers would take a
    parameter segment here (Litestar's router does not backtrack)."""
    if not entities:
        return []
    many = [f"/api/{e}/{{row_id:int}}/files/{{field:str}}" for e in entities]
    one = [f"/api/{e}/{{row_id:int}}/files/{{field:str}}/{{file_id:int}}" for e in entities]
    tags = ["附件"]
    return [
        get(many, tags=tags, summary="记录的附件列表")(list_files),
        # No framework body limit: runtime/data/uploads.py streams the body within the field's max_mb.
        post(many, tags=tags, summary="上传附件（multipart/form-data，字段 file）", status_code=201,
             request_max_body_size=None)(upload_file),
        get(one, tags=tags, summary="下载或预览附件")(download_file),
        delete(one, tags=tags, summary="删除附件", status_code=204)(delete_file),
    ]
