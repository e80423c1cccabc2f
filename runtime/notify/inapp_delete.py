"""Deleting one's own 站内消息: one message, the selected ones (全选 on the page) or all read ones.

Every delete filters on `recipient` = the session's user, so another user's id deletes nothing:
a single foreign or missing id answers 404, and in a selection it is simply not counted. The
JSON API takes {"ids": [...]} or {"read": true}; the page posts the ticked `ids` checkboxes.
"""
from __future__ import annotations

from typing import Any

from litestar import Request, delete, post
from litestar.response import Redirect

from specadmin.runtime.errors import BadRequest, NotFound
from specadmin.runtime.notify.inapp_routes import TAGS, MessageId, _me, _table
from specadmin.runtime.pages.common import PAGE_ERRORS
from specadmin.runtime.pages.support import flash

MAX_IDS = 1000
MAX_ID = 2**31 - 1


def parse_ids(values: Any) -> list[int]:
    """The message ids of a request: a list of positive integers (numbers or digit strings)."""
    if not isinstance(values, list) or not values:
        raise BadRequest("参数 ids 须为非空的消息编号列表")
    if len(values) > MAX_IDS:
        raise BadRequest(f"参数 ids 最多 {MAX_IDS} 个")
    out = []
    for v in values:
        if isinstance(v, bool) or not (isinstance(v, int) or (isinstance(v, str) and v.isdigit() and len(v) < 11)):
            raise BadRequest(f"参数 ids 含无效的消息编号：{str(v)[:20]}")
        if not 1 <= int(v) <= MAX_ID:
            raise BadRequest(f"参数 ids 含无效的消息编号：{v}")
        out.append(int(v))
    return sorted(set(out))


async def delete_messages(request: Request, user_id: int, ids: list[int] | None = None, read: bool = False) -> int:
    """Delete the user's own messages with `ids`, or all their read ones; the number deleted."""
    if ids is None and not read:
        return 0
    m = _table(request)
    cond = [m.recipient == user_id, m.id.is_in(ids) if ids is not None else m.read_at.is_not_null()]
    done = await m.delete().where(*cond).returning(m.id)
    return len(done)


# -- JSON -----------------------------------------------------------------------
@delete("/api/messages/{message_id:int}", tags=TAGS, summary="删除一条消息", status_code=200)
async def api_delete_one(request: Request, message_id: MessageId) -> dict:
    if not await delete_messages(request, _me(request), [message_id]):
        raise NotFound("消息不存在")
    return {"deleted": 1}


@post("/api/messages/delete", tags=TAGS, summary="删除选中的或全部已读消息", status_code=200)
async def api_delete(request: Request, data: dict[str, Any]) -> dict:
    user_id = _me(request)
    if data.get("read") is True and "ids" not in data:
        return {"deleted": await delete_messages(request, user_id, read=True)}
    if "ids" not in data:
        raise BadRequest("请提供参数 ids（选中的消息）或 read: true（全部已读消息）")
    return {"deleted": await delete_messages(request, user_id, parse_ids(data["ids"]))}


# -- pages ------------------------------------------------------------------------
@post("/messages/delete", name="page_messages_delete", exception_handlers=PAGE_ERRORS)
async def page_delete(request: Request) -> Redirect:
    user_id = _me(request)
    form = await request.form()
    if form.get("scope") == "read":
        done = await delete_messages(request, user_id, read=True)
    else:
        values = form.getall("ids") if "ids" in form else []
        if not values:
            flash(request, "请先勾选要删除的消息", "error")
            return Redirect("/messages", status_code=303)
        try:
            done = await delete_messages(request, user_id, parse_ids(list(values)))
        except BadRequest as exc:
            flash(request, exc.message, "error")
            return Redirect("/messages", status_code=303)
    flash(request, f"已删除 {done} 条消息")
    return Redirect("/messages", status_code=303)


DELETE_HANDLERS = [api_delete_one, api_delete, page_delete]
