"""How errors become HTTP answers: JSON for the API, an HTML page for browsers, Chinese messages,
never a stack trace (the `logs` plugin answers unhandled errors with an error id)."""
from __future__ import annotations

import logging
import sqlite3
from http import HTTPStatus
from typing import Any

from litestar import MediaType, Request, Response
from litestar.exceptions import (
    HTTPException,
    NotAuthorizedException,
    ValidationException,
)
from litestar.response import Redirect
from specadmin.runtime.data.db import is_busy
from specadmin.runtime.data.values import Invalid
from specadmin.runtime.errors import BadRequest, Conflict, Denied, NotFound

log = logging.getLogger("specadmin")


def wants_json(request: Request) -> bool:
    return request.url.path.startswith(("/api/", "/ext/")) or "application/json" in request.headers.get("accept", "")


def error_response(request: Request, status: int, message: str, errors: dict | None = None) -> Response:
    if wants_json(request):
        body: dict[str, Any] = {"detail": message, "status_code": status}
        if errors:
            body["errors"] = errors
        return Response(body, status_code=status, media_type=MediaType.JSON)
    from specadmin.runtime.pages.common import render_error

    return render_error(request, status, message)


# Litestar's own refusals (no route, wrong method, body too large...) carry the English status phrase.
STOCK_DETAILS = {400: "请求不正确", 401: "请先登录", 403: "无权执行此操作", 404: "找不到请求的地址",
                 405: "该地址不支持 {method} 请求", 406: "无法提供所要求的格式", 413: "请求内容过大",
                 415: "不支持的请求内容格式", 429: "请求过于频繁，请稍后再试"}


def chinese_detail(request: Request, exc: HTTPException) -> str:
    """The exception's own message, or in Chinese when it is only the English status phrase."""
    try:
        stock = HTTPStatus(exc.status_code).phrase
    except ValueError:
        stock = None
    if exc.detail and exc.detail != stock:
        return exc.detail
    text = STOCK_DETAILS.get(exc.status_code, "请求未能完成")
    if exc.status_code == 404:
        return f"{text}：{request.url.path[:200]}"
    return text.format(method=request.method)


def exception_handlers() -> dict:
    def denied(request: Request, exc: Denied) -> Response:
        return error_response(request, 403, exc.message)

    def not_found(request: Request, exc: NotFound) -> Response:
        return error_response(request, 404, exc.message)

    def invalid(request: Request, exc: Invalid) -> Response:
        return error_response(request, 422, "数据校验失败", exc.errors)

    def conflict(request: Request, exc: Conflict) -> Response:
        return error_response(request, 409, exc.message, exc.errors)

    def bad_request(request: Request, exc: BadRequest) -> Response:
        return error_response(request, 400, exc.message)

    def not_authorized(request: Request, exc: NotAuthorizedException) -> Response:
        if wants_json(request):
            return error_response(request, 401, exc.detail or "请先登录")
        return Redirect(f"/login?next={request.url.path}")

    def validation(request: Request, exc: ValidationException) -> Response:
        # Litestar's checks of typed parameters and bodies, before any service runs: every field named, in Chinese.
        from specadmin.runtime.api.validation import answer

        detail, errors = answer(exc.extra)
        return error_response(request, 400, detail, errors)

    def http(request: Request, exc: HTTPException) -> Response:
        return error_response(request, exc.status_code, chinese_detail(request, exc))

    def bad_value(request: Request, exc: Exception) -> Response:
        # PostgreSQL's "data exception" class (a NUL in text, a number out of range): the client sent a
        # value no column can hold. Its own fault, answered 400 without the driver's words.
        log.warning("database refused a value on %s %s: %s", request.method, request.url.path, type(exc).__name__)
        return error_response(request, 400, "请求参数不正确")

    def busy(request: Request, exc: Exception) -> Response:
        # The database stayed busy (locked) beyond the wait: the request may simply be sent again.
        if is_busy(exc):
            log.warning("database busy on %s %s: %s", request.method, request.url.path, exc)
            response = error_response(request, 503, "系统繁忙，请稍后重试")
            response.headers["Retry-After"] = "5"
            return response
        crash = request.app.exception_handlers.get(Exception)  # any other database error: as unhandled
        if crash is not None:
            return crash(request, exc)
        return error_response(request, 500, "服务器内部错误，请稍后再试")

    from asyncpg.exceptions import DataError as PgDataError
    from asyncpg.exceptions import DeadlockDetectedError, LockNotAvailableError, TooManyConnectionsError

    return {Denied: denied, NotFound: not_found, Invalid: invalid, Conflict: conflict, BadRequest: bad_request,
            NotAuthorizedException: not_authorized, ValidationException: validation, HTTPException: http,
            PgDataError: bad_value, sqlite3.OperationalError: busy, DeadlockDetectedError: busy,
            LockNotAvailableError: busy, TooManyConnectionsError: busy}
