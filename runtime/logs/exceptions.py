"""The exception log (系统异常分析): every unhandled server error, stored with its stack trace.

Messages are stored scrubbed (`scrub`): quoted values and long digit runs become `***`, so a
driver error about a cell (`invalid input ... '440783199001011234'`) does not put the ID number
in the log; the code path (files, lines, functions) is kept whole.

The crash handler of the app calls :func:`record_exception`, shows the user only the short
error id it returns, and lets the row be written after the answer is sent (a background
task of the 500 response). Recording never raises: when the database is unreachable the
whole record goes to stderr through the ``specadmin`` logger instead, so nothing is lost
silently and the user still gets a clean 500 page.
"""
from __future__ import annotations

import datetime as dt
import logging
import re
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


# Values inside exception messages: quoted literals ('…', "…", “…”, ‘…’) and runs of 6+ digits
# (ID numbers, phones). Identifiers in quotes ('NoneType', 'place_code') say where, not what: kept.
_QUOTED = re.compile(r"""'([^'\n]{0,2000})'|"([^"\n]{0,2000})"|“([^”\n]{0,2000})”|‘([^’\n]{0,2000})’""")
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z_.]{0,63}")
_DIGITS = re.compile(r"\d{6,}[\dXx]*")
HIDDEN = "***"


def _quoted(match: re.Match) -> str:
    inner = next(g for g in match.groups() if g is not None)
    if _IDENTIFIER.fullmatch(inner):
        return match.group(0)
    return match.group(0)[0] + HIDDEN + match.group(0)[-1]


def scrub(message: str) -> str:
    """An exception message without the values it quotes: the exception log is read by operators,
    and a driver or parser error quotes the cell or field value that failed (an ID number, a name)."""
    return _DIGITS.sub(HIDDEN, _QUOTED.sub(_quoted, message))


def scrubbed_trace(exc: BaseException) -> str:
    """The stack trace as Python prints it (chained exceptions included), each exception's message scrubbed.
    Frames show file, line and source line, never a local variable's value."""
    chain: list[BaseException] = []
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        chain.append(current)
        cause = current.__cause__
        current = cause if cause is not None else (None if current.__suppress_context__ else current.__context__)
    parts: list[str] = []
    for i, item in enumerate(reversed(chain)):
        if i:
            parts.append("\nThe above exception was the direct cause of the following exception:\n\n"
                         if item.__cause__ is chain[len(chain) - i] else
                         "\nDuring handling of the above exception, another exception occurred:\n\n")
        if item.__traceback__ is not None:
            parts.append("Traceback (most recent call last):\n")
            parts.extend(traceback.format_tb(item.__traceback__))
        name = f"{type(item).__module__}.{type(item).__qualname__}".removeprefix("builtins.")
        message = scrub(str(item))
        parts.append(f"{name}: {message}\n" if message else f"{name}\n")
    return "".join(parts)


def describe(request: "Request", exc: BaseException, error_id: str) -> dict[str, Any]:
    """The row to store. Only the path is kept, not the query string, which may carry ID numbers;
    the messages are scrubbed of the values they quote (cell values, field values)."""
    user = request.scope.get("user")
    detail = scrubbed_trace(exc)
    return {
        "error_id": error_id,
        "at": dt.datetime.now().replace(microsecond=0),
        "exc_type": f"{type(exc).__module__}.{type(exc).__qualname__}"[:200],
        "method": (request.method or "")[:10],
        "url": request.url.path[:500],
        "operator": getattr(user, "user_id", None) or None,  # an API caller's principal has no user row (id 0)
        "message": scrub(str(exc))[:MESSAGE_LIMIT],
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
