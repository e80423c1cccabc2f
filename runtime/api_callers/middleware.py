"""ASGI middleware on the /ext router: authenticate the caller, answer refusals, log every call.

It runs instead of the browser machinery (session cookie, login, CSRF), which app_factory
excludes for /ext/. On success `request.user` is the caller's Principal, so the handlers use
the same EntityService code path (grants, data scope, masking) as the browser API.
Each call leaves one operation-log row (op_type `action`, subject `api_caller`); the query
string is left out of it because filters may carry personal data. Refused calls that name no
known caller are logged at most `REFUSALS_LOGGED` times per client address and minute, then
answered 429 with one summary row, so bogus requests cannot fill the append-only log.
"""
from __future__ import annotations

import json
import logging
import time
from typing import Any

from litestar import Request
from litestar.types import ASGIApp, Message, Receive, Scope, Send
from specadmin.runtime.api_callers.gate import CallerGate, Rejected, request_path
from specadmin.runtime.data import audit
from specadmin.runtime.errors import Denied
from specadmin.runtime.identity.functions import check_address

log = logging.getLogger("specadmin.api_callers")
REFUSALS_LOGGED = 30  # per client address and minute, for calls that name no known caller
TOO_MANY_REFUSALS = "被拒绝的请求过多，请稍后再试"


def _subject(caller: dict | None, claimed: str | None) -> tuple[Any, Any]:
    if caller is not None:
        return caller["id"], caller["code"]
    return None, (claimed or "（未知调用方）")[:64]


async def _record(ctx, scope: Scope, caller: dict | None, claimed: str | None, after: dict[str, Any]) -> None:
    subject_id, subject_name = _subject(caller, claimed)
    entry = {"method": scope.get("method"), "path": request_path(scope)[:200], **after}
    try:
        await audit.record(ctx, None, "action", "api_caller", subject_id, subject_name, None, entry)
    except Exception:  # a failing log write must not turn a served call into a 500
        log.exception("could not write the operation log for an API call")


async def _refuse(scope: Scope, send: Send, rejected: Rejected) -> None:
    body = json.dumps({"detail": rejected.reason, "status_code": rejected.status}, ensure_ascii=False).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    if rejected.status == 429:
        headers.append((b"retry-after", str(60 - int(time.time()) % 60).encode()))
    elif rejected.status == 401:
        headers.append((b"www-authenticate", b'Bearer, SM2-SM3 realm="specadmin"'))
    await send({"type": "http.response.start", "status": rejected.status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def _open_address(ctx, scope: Scope, caller: dict) -> None:
    """An API resource marked not valid (接口服务网址资源) answers 403 to callers too."""
    try:
        await check_address(ctx, scope["path"])
    except Denied as exc:
        raise Rejected(exc.message, 403, caller) from None


class CallerAuthMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    @staticmethod
    async def _refused(gate: CallerGate, scope: Scope, send: Send, rejected: Rejected) -> None:
        entry = {"status": rejected.status, "reason": rejected.reason}
        if rejected.caller is None:  # nobody known: count per client address
            address = (scope.get("client") or ("?",))[0]
            count = await gate.limiter.count(f"refused:{address}")
            if count > REFUSALS_LOGGED:
                if count == REFUSALS_LOGGED + 1:
                    await _record(gate.ctx, scope, None, rejected.claimed,
                                  {**entry, "address": address, "summary": f"本分钟内超过 {REFUSALS_LOGGED} 次的被拒请求不再逐条记录"})
                await _refuse(scope, send, Rejected(TOO_MANY_REFUSALS, 429))
                return
            entry["address"] = address
        await _record(gate.ctx, scope, rejected.caller, rejected.claimed, entry)
        await _refuse(scope, send, rejected)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        gate = CallerGate.of(scope["app"])
        # Request caches the body in the scope, so the handler can still read it after we hashed it.
        request: Request = Request(scope, receive)
        try:
            identity = await gate.authenticate(request)
            await _open_address(gate.ctx, scope, identity.caller)
        except Rejected as rejected:
            await self._refused(gate, scope, send, rejected)
            return
        scope["user"] = identity.principal
        scope["auth"] = identity
        status: dict[str, int] = {}

        async def send_capturing(message: Message) -> None:
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
            await send(message)

        try:
            await self.app(scope, request.receive, send_capturing)
        finally:
            await _record(gate.ctx, scope, identity.caller, None,
                          {"auth": identity.method, "status": status.get("code", 500)})
