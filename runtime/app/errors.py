"""How errors become HTTP answers: JSON for the API, an HTML page for browsers, Chinese messages,
never a stack trace (unhandled errors get an error id from the exception log)."""
from __future__ import annotations

import logging
from typing import Any

from litestar import MediaType, Request, Response
from litestar.exceptions import (
    HTTPException,
    NotAuthorizedException,
    ValidationException,
)
from litestar.response import Redirect
from specadmin.runtime.data.values import Invalid
from specadmin.runtime.errors import BadRequest, Conflict, Denied, NotFound
from specadmin.runtime.logs.exceptions import record_exception

log = logging.getLogger("specadmin")


def _wants_json(request: Request) -> bool:
    return request.url.path.startswith(("/api/", "/ext/")) or "application/json" in request.headers.get("accept", "")


def _error(request: Request, status: int, message: str, errors: dict | None = None) -> Response:
    if _wants_json(request):
        body: dict[str, Any] = {"detail": message, "status_code": status}
        if errors:
            body["errors"] = errors
        return Response(body, status_code=status, media_type=MediaType.JSON)
    from specadmin.runtime.pages.common import render_error

    return render_error(request, status, message)


def exception_handlers() -> dict:
    def denied(request: Request, exc: Denied) -> Response:
        return _error(request, 403, exc.message)

    def not_found(request: Request, exc: NotFound) -> Response:
        return _error(request, 404, exc.message)

    def invalid(request: Request, exc: Invalid) -> Response:
        return _error(request, 422, "数据校验失败", exc.errors)

    def conflict(request: Request, exc: Conflict) -> Response:
        return _error(request, 409, exc.message, exc.errors)

    def bad_request(request: Request, exc: BadRequest) -> Response:
        return _error(request, 400, exc.message)

    def not_authorized(request: Request, exc: NotAuthorizedException) -> Response:
        if _wants_json(request):
            return _error(request, 401, exc.detail or "请先登录")
        return Redirect(f"/login?next={request.url.path}")

    def validation(request: Request, exc: ValidationException) -> Response:
        return _error(request, 400, "请求参数不正确", {"params": str(exc.extra)[:500]} if exc.extra else None)

    def http(request: Request, exc: HTTPException) -> Response:
        return _error(request, exc.status_code, exc.detail)

    def crash(request: Request, exc: Exception) -> Response:
        # The stack trace goes to the exception log (and stderr), never to the client: it gets the error id.
        error_id, store = record_exception(request, exc)
        message = f"服务器内部错误，请稍后再试（错误编号 {error_id}）"
        if _wants_json(request):
            response = Response({"detail": message, "error_id": error_id, "status_code": 500}, status_code=500,
                                media_type=MediaType.JSON)
        else:
            response = _error(request, 500, message)
        response.background = store
        return response

    def bad_value(request: Request, exc: Exception) -> Response:
        # PostgreSQL's "data exception" class (a NUL in text, a number out of range): the client sent a
        # value no column can hold. Its own fault, answered 400 without the driver's words.
        log.warning("database refused a value on %s %s: %s", request.method, request.url.path, type(exc).__name__)
        return _error(request, 400, "请求参数不正确")

    from asyncpg.exceptions import DataError as PgDataError

    return {Denied: denied, NotFound: not_found, Invalid: invalid, Conflict: conflict, BadRequest: bad_request,
            NotAuthorizedException: not_authorized, ValidationException: validation, HTTPException: http,
            PgDataError: bad_value, Exception: crash}
