"""The exception log (系统异常分析): every unhandled server error, stored with its stack trace.

The crash handler of the app calls :func:`record_exception`, shows the user only the short
error id it returns, and lets the row be written after the answer is sent (a background
task of the 500 response). Recording never raises: when the database is unreachable the
whole record goes to stderr through the ``specadmin`` logger instead, so nothing is lost
silently and the user still gets a clean 500 page.
"""
from __future__ import annotations

import datetime as dt
import logging
import secrets
import traceback
from typing import TYPE_CHECKING, Any

from litestar.background_tasks import BackgroundTask

if TYPE_CHECKING:
    from litestar import Request

    from specadmin.runtime.app.context import AppContext

log = logging.getLogger("specadmin")

DETAIL_LIMIT = 20000  # characters of stack trace kept; deep recursion traces are cut at the end
MESSAGE_LIMIT = 500


def new_error_id() -> str:
    """Ten upper-case hex digits: short enough to read out over the phone, 2^40 apart."""
    return secrets.token_hex(5).upper()


def describe(request: "Request", exc: BaseException, error_id: str) -> dict[str, Any]:
    """The row to store. Only the path is kept, not the query string, which may carry ID numbers."""
    user = request.scope.get("user")
    detail = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    return {
        "error_id": error_id,
        "at": dt.datetime.now().replace(microsecond=0),
        "exc_type": f"{type(exc).__module__}.{type(exc).__qualname__}"[:200],
        "method": (request.method or "")[:10],
        "url": request.url.path[:500],
        "operator": getattr(user, "user_id", None),
        "message": str(exc)[:MESSAGE_LIMIT],
        "detail": detail[-DETAIL_LIMIT:] if len(detail) > DETAIL_LIMIT else detail,
    }


async def store(ctx: "AppContext", row: dict[str, Any]) -> bool:
    """Insert one exception row; on any failure log it to stderr and return False."""
    try:
        table = ctx.table("exception_log")
        values = dict(row)
        values.setdefault("created_at", values["at"])
        values.setdefault("updated_at", values["at"])
        await table.insert(table(**values))
        return True
    except Exception as exc:  # the log of errors must never become an error itself
        log.error("exception %s could not be stored in the exception log (%s: %s); it was:\n%s %s\n%s",
                  row.get("error_id"), type(exc).__name__, exc, row.get("method"), row.get("url"), row.get("detail"))
        return False


def record_exception(request: "Request", exc: BaseException) -> tuple[str, BackgroundTask | None]:
    """Name the error and prepare its row; returns (error id, task that stores it).

    Synchronous because Litestar calls exception handlers synchronously; the returned task
    belongs on the 500 response (``response.background``). Never raises.
    """
    error_id = new_error_id()
    try:
        row = describe(request, exc, error_id)
        ctx = request.app.state.ctx
    except Exception as inner:  # no app state (very early failure): stderr only
        log.error("exception %s could not be described (%s): %r", error_id, inner, exc)
        return error_id, None
    log.error("unhandled error %s on %s %s\n%s", error_id, row["method"], row["url"], row["detail"])
    return error_id, BackgroundTask(store, ctx, row)
