"""站内消息: each logged-in user's own messages, as pages (/messages) and JSON (/api/messages).

Every query filters on `recipient` = the session's user, so another user's message id answers
404 exactly like a missing one. Opening a message (POST, CSRF-checked) marks it read and
redirects to its link; only same-site paths ("/x", never "//host" or a scheme) are followed.
`unread_badge` (the app's before_request) puts the unread count on `request.state` for the page
header badge: one indexed COUNT per HTML page, none for API, static or admin requests.
"""
from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from litestar import Request, get, post
from litestar.params import Parameter
from litestar.response import Redirect, Template

from specadmin.runtime.errors import Denied, NotFound
from specadmin.runtime.pages.common import PAGE_ERRORS
from specadmin.runtime.pages.support import ctx_of, layout

TAGS = ["站内消息"]
PAGE_SIZE = 20
# Row ids are 32-bit serials: a larger path value is a bad request, not a database overflow.
MessageId = Annotated[int, Parameter(ge=1, le=2**31 - 1)]
SKIP_BADGE = ("/api/", "/static/", "/ext/", "/admin", "/schema", "/login")


def _me(request: Request) -> int:
    user = request.user
    if getattr(user, "anonymous", False) or user.user_id <= 0:
        raise Denied("请先登录")
    return user.user_id


def _table(request: Request):
    return ctx_of(request).table("message")


def safe_link(link: str | None) -> str | None:
    """A same-site path or None: a message must not send its reader to another host."""
    if not link or not link.startswith("/") or link.startswith("//") or "\\" in link:
        return None
    return link


async def unread_count(ctx, user_id: int) -> int:
    m = ctx.table("message")
    return await m.count().where(m.recipient == user_id, m.read_at.is_null())


async def unread_badge(request: Request) -> None:
    if request.method != "GET" or request.url.path.startswith(SKIP_BADGE):
        return
    user = request.scope.get("user")
    if user is None or getattr(user, "anonymous", False) or user.user_id <= 0:
        return
    request.state.unread_messages = await unread_count(ctx_of(request), user.user_id)


async def _page(request: Request, user_id: int, unread: bool, page: int) -> dict[str, Any]:
    m = _table(request)
    cond = [m.recipient == user_id] + ([m.read_at.is_null()] if unread else [])
    total = await m.count().where(*cond)
    rows = await m.select(m.id, m.title, m.body, m.link, m.sent_at, m.read_at, m.notification).where(*cond).order_by(
        m.id, ascending=False).limit(PAGE_SIZE).offset((page - 1) * PAGE_SIZE)
    for r in rows:
        r["link"] = safe_link(r["link"])
        r["read"] = r["read_at"] is not None
    return {"items": rows, "total": total, "page": page, "page_size": PAGE_SIZE,
            "unread": await unread_count(ctx_of(request), user_id)}


async def _mark_read(request: Request, user_id: int, message_id: MessageId) -> dict[str, Any]:
    m = _table(request)
    row = await m.select(m.id, m.link, m.read_at).where(m.id == message_id, m.recipient == user_id).first()
    if row is None:
        raise NotFound("消息不存在")
    if row["read_at"] is None:
        row["read_at"] = dt.datetime.now().replace(microsecond=0)
        await m.update({m.read_at: row["read_at"]}).where(m.id == message_id, m.recipient == user_id,
                                                           m.read_at.is_null())
    return row


async def _mark_all(request: Request, user_id: int) -> int:
    m = _table(request)
    now = dt.datetime.now().replace(microsecond=0)
    done = await m.update({m.read_at: now}).where(m.recipient == user_id, m.read_at.is_null()).returning(m.id)
    return len(done)


# -- JSON -----------------------------------------------------------------------
@get("/api/messages", tags=TAGS, summary="我的站内消息")
async def api_list(request: Request, unread: bool = False, page: int = Parameter(default=1, ge=1, le=10000)) -> dict:
    return await _page(request, _me(request), unread, page)


@get("/api/messages/unread-count", tags=TAGS, summary="未读消息数")
async def api_unread(request: Request) -> dict:
    return {"unread": await unread_count(ctx_of(request), _me(request))}


@get("/api/messages/unread-latest", tags=TAGS, summary="未读消息数与最新一条未读消息（页面弹窗提醒用）")
async def api_unread_latest(request: Request) -> dict:
    user_id = _me(request)
    m = _table(request)
    latest = await m.select(m.id, m.title, m.sent_at).where(m.recipient == user_id, m.read_at.is_null()).order_by(
        m.id, ascending=False).first()
    return {"unread": await unread_count(ctx_of(request), user_id), "latest": latest}


@get("/api/messages/{message_id:int}", tags=TAGS, summary="查看一条消息")
async def api_get(request: Request, message_id: MessageId) -> dict:
    m = _table(request)
    row = await m.select(m.id, m.title, m.body, m.link, m.sent_at, m.read_at, m.notification).where(
        m.id == message_id, m.recipient == _me(request)).first()
    if row is None:
        raise NotFound("消息不存在")
    row["link"] = safe_link(row["link"])
    return row


@post("/api/messages/{message_id:int}/read", tags=TAGS, summary="标为已读", status_code=200)
async def api_read(request: Request, message_id: MessageId) -> dict:
    row = await _mark_read(request, _me(request), message_id)
    return {"id": row["id"], "read_at": row["read_at"], "link": safe_link(row["link"])}


@post("/api/messages/read-all", tags=TAGS, summary="全部标为已读", status_code=200)
async def api_read_all(request: Request) -> dict:
    return {"updated": await _mark_all(request, _me(request))}


# -- pages ------------------------------------------------------------------------
@get("/messages", name="page_messages", exception_handlers=PAGE_ERRORS)
async def page_list(request: Request, unread: bool = False, page: int = Parameter(default=1, ge=1, le=10000)) -> Template:
    data = await _page(request, _me(request), unread, page)
    pages = max(1, -(-data["total"] // PAGE_SIZE))
    tabs = [{"name": "all", "label": "全部消息", "url": "/messages", "active": not unread},
            {"name": "unread", "label": f"未读（{data['unread']}）", "url": "/messages?unread=1", "active": unread}]
    base = "/messages?unread=1&" if unread else "/messages?"
    request.state.unread_messages = data["unread"]
    return Template(template_name="messages.html", context=layout(
        request, None, title="站内消息", tabs=tabs, pages=pages,
        prev_url=f"{base}page={page - 1}" if page > 1 else None,
        next_url=f"{base}page={page + 1}" if page < pages else None, **data))


@post("/messages/{message_id:int}/open", name="page_message_open", exception_handlers=PAGE_ERRORS)
async def page_open(request: Request, message_id: MessageId) -> Redirect:
    row = await _mark_read(request, _me(request), message_id)
    return Redirect(safe_link(row["link"]) or "/messages", status_code=303)


@post("/messages/{message_id:int}/read", name="page_message_read", exception_handlers=PAGE_ERRORS)
async def page_read(request: Request, message_id: MessageId) -> Redirect:
    await _mark_read(request, _me(request), message_id)
    return Redirect("/messages", status_code=303)


@post("/messages/read-all", name="page_messages_read_all", exception_handlers=PAGE_ERRORS)
async def page_read_all(request: Request) -> Redirect:
    await _mark_all(request, _me(request))
    return Redirect("/messages", status_code=303)


INAPP_HANDLERS = [api_list, api_unread, api_unread_latest, api_get, api_read, api_read_all, page_list, page_open, page_read,
                  page_read_all]
