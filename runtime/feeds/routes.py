"""/ext/feeds/<name>: the inbound push API, behind the same gate as /ext/api.

POST creates, PUT updates (or upserts when the feed declares `upsert`), DELETE deletes by the
feed's key. The body is one record, a list, or {"records": [...]}; the answer lists one
result per record: created / updated / deleted (with id), error (with reasons per field,
`__all__` for the record), or not_written (an all-or-nothing batch that had errors: 422).
Authentication, rate limit, nonce and the operation-log row per call are CallerAuthMiddleware's.
"""
from __future__ import annotations

from litestar import MediaType, Request, Response, Router, delete, post, put
from litestar.middleware import DefineMiddleware

from specadmin.runtime.api_callers.middleware import CallerAuthMiddleware
from specadmin.runtime.errors import BadRequest, NotFound
from specadmin.runtime.feeds.inbound import Intake, records_of, resolve_op

FEEDS_PREFIX = "/ext/feeds"


async def _push(request: Request, name: str) -> Response:
    ctx = request.app.state.ctx
    feed = next((f for f in ctx.app.feeds if f.kind == "inbound" and f.name == name), None)
    if feed is None:
        raise NotFound(f"没有名为 {name} 的数据接口")
    op = resolve_op(feed, request.method)
    try:
        body = await request.json()
    except Exception:
        raise BadRequest("请求体应为 JSON") from None
    intake = Intake(ctx, feed, request.user)
    intake.authorize(op)
    status, answer = await intake.run(op, records_of(body))
    dispatcher = getattr(request.app.state, "feed_dispatcher", None)
    if answer["written"] and dispatcher is not None:
        dispatcher.wake()  # committed: push the new deliveries now rather than at the next poll
    return Response(answer, status_code=status, media_type=MediaType.JSON)


@post("/{feed_name:str}", status_code=200, operation_id="ext_feed_create", summary="外部调用：数据推送（新增）", tags=["外部接口"])
async def feed_post(request: Request, feed_name: str) -> Response:
    return await _push(request, feed_name)


@put("/{feed_name:str}", status_code=200, operation_id="ext_feed_update", summary="外部调用：数据推送（修改/新增或修改）",
     tags=["外部接口"])
async def feed_put(request: Request, feed_name: str) -> Response:
    return await _push(request, feed_name)


@delete("/{feed_name:str}", status_code=200, operation_id="ext_feed_delete", summary="外部调用：数据推送（删除）",
        tags=["外部接口"])
async def feed_delete(request: Request, feed_name: str) -> Response:
    return await _push(request, feed_name)


def feeds_router() -> Router:
    return Router(path=FEEDS_PREFIX, route_handlers=[feed_post, feed_put, feed_delete], middleware=[DefineMiddleware(CallerAuthMiddleware)])
