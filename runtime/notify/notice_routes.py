"""通知公告 for its readers: /notices/<id> (page), /api/notices/<id> (JSON), the attachments under
/notices/<id>/files/<file id> (images, PDF, video and audio inline, as on detail pages), 确认收到
(POST .../confirm, an optional short `reply`) and, for the sender, who confirmed and who has not
(/api/notices/<id>/receipts; also on the page). Only the sender and the recipients reach any of
it: everyone else gets 404, as for a notice that does not exist (runtime/notify/notices.py)."""
from __future__ import annotations

from typing import Annotated, Any

from litestar import Request, Response, get, post
from litestar.params import Parameter
from litestar.response import Redirect, Template

from specadmin.runtime.attachments import store
from specadmin.runtime.attachments.panels import size_text
from specadmin.runtime.attachments.routes import file_headers
from specadmin.runtime.data.values import Invalid
from specadmin.runtime.errors import Denied
from specadmin.runtime.notify import notices
from specadmin.runtime.notify.inapp_routes import _me
from specadmin.runtime.pages.common import PAGE_ERRORS
from specadmin.runtime.pages.support import ctx_of, flash, layout
from specadmin.specs import attachments as types

TAGS = ["通知公告"]
NoticeId = Annotated[int, Parameter(ge=1, le=2**31 - 1)]
FileId = Annotated[int, Parameter(ge=1, le=2**62)]


async def _view(request: Request, notice_id: int) -> dict[str, Any]:
    ctx = ctx_of(request)
    row = await notices.readable(ctx, notice_id, _me(request))
    files = [store.describe(r) for r in await store.files_of(ctx, "notice", notice_id, "files")]
    for f in files:
        ext = types.extension(f["name"])
        f["kind"] = types.preview_kind(ext) if types.previewable(ext) else None
        f["preview"] = f["kind"] is not None
        f["url"] = f"/notices/{notice_id}/files/{f['id']}"
        f["download_url"] = f"{f['url']}?download=1"
        f["size_text"] = size_text(f["size"])
    out = {"id": row["id"], "title": row["title"], "kind": row["kind"],
           "kind_label": notices.kind_label(ctx, row["kind"]), "body": row["body"], "sent_at": row["sent_at"],
           "files": files, "is_sender": row["is_sender"], "receipt": row["receipt"]}
    if row["is_sender"]:
        out["receipts"] = await notices.receipts(ctx, notice_id)
    return out


# -- JSON -----------------------------------------------------------------------
@get("/api/notices/{notice_id:int}", tags=TAGS, summary="查看通知公告（发送人与接收人）")
async def api_notice(request: Request, notice_id: NoticeId) -> dict:
    return await _view(request, notice_id)


@post("/api/notices/{notice_id:int}/confirm", tags=TAGS, summary="确认收到", status_code=200)
async def api_confirm(request: Request, notice_id: NoticeId, data: dict[str, Any] | None = None) -> dict:
    return await notices.confirm(ctx_of(request), notice_id, _me(request), (data or {}).get("reply"))


@get("/api/notices/{notice_id:int}/receipts", tags=TAGS, summary="确认收到情况（发送人）")
async def api_receipts(request: Request, notice_id: NoticeId) -> dict:
    view = await _view(request, notice_id)
    if not view["is_sender"]:
        raise Denied("只有发送人可以查看确认情况")
    return view["receipts"]


# -- pages ------------------------------------------------------------------------
@get("/notices/{notice_id:int}", name="page_notice", exception_handlers=PAGE_ERRORS)
async def page_notice(request: Request, notice_id: NoticeId) -> Template:
    view = await _view(request, notice_id)
    files = {"name": "files", "label": "附件", "upload_url": None,
             "items": [{**f, "size": f["size_text"]} for f in view["files"]]}
    return Template(template_name="notice.html", context=layout(request, None, title=view["title"], notice=view,
                                                                files=files))


@post("/notices/{notice_id:int}/confirm", name="page_notice_confirm", exception_handlers=PAGE_ERRORS)
async def page_confirm(request: Request, notice_id: NoticeId) -> Redirect:
    form = await request.form()
    try:
        await notices.confirm(ctx_of(request), notice_id, _me(request), str(form.get("reply") or ""))
        flash(request, "已确认收到")
    except Invalid as exc:
        flash(request, "；".join(exc.errors.values()), "error")
    return Redirect(f"/notices/{notice_id}", status_code=303)


@get("/notices/{notice_id:int}/files/{file_id:int}", name="page_notice_file", exception_handlers=PAGE_ERRORS)
async def page_file(request: Request, notice_id: NoticeId, file_id: FileId) -> Response:
    ctx = ctx_of(request)
    await notices.readable(ctx, notice_id, _me(request))
    record = await store.record_of(ctx, "notice", notice_id, "files", file_id)
    data = await store.content(ctx, record)
    ext = types.extension(record["name"])
    inline = types.previewable(ext) and request.query_params.get("download") in (None, "", "0")
    return Response(data, media_type=types.content_type(ext) if inline else "application/octet-stream",
                    headers=file_headers(record["name"], inline, inline and types.preview_kind(ext) == "pdf"))


NOTICE_HANDLERS = [api_notice, api_confirm, api_receipts, page_notice, page_confirm, page_file]
