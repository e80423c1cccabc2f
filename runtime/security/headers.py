"""Hardening headers on every response: CSP against injected scripts, no sniffing, no framing.

One relaxation, for the ops console at /admin/ only: piccolo-admin's bundle inserts <style>
elements (Font Awesome's icon CSS, a component's CSS), so there `style-src` also allows inline
styles. Scripts stay `'self'` everywhere: no inline script, no eval (the bundle's one eval probe,
a global-object shim inside try/catch, falls back to `window` when refused).
"""
from __future__ import annotations

from litestar.middleware import MiddlewareProtocol
from litestar.types import ASGIApp, Message, Receive, Scope, Send

CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
       "object-src 'none'; base-uri 'self'; form-action 'self'; frame-ancestors 'none'")
ADMIN_CSP = CSP.replace("style-src 'self'", "style-src 'self' 'unsafe-inline'")
HEADERS = {
    "content-security-policy": CSP,
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "referrer-policy": "same-origin",
    "cache-control": "no-store",
}


_RAW = [(name.encode(), value.encode()) for name, value in HEADERS.items()]  # as ASGI sends them
_RAW_ADMIN = [(n, ADMIN_CSP.encode() if n == b"content-security-policy" else v) for n, v in _RAW]


def with_headers(headers: list, raw: list) -> list:
    """The response's headers without `server`, plus each hardening header it does not set itself."""
    own = {name.lower() for name, _ in headers}
    if not own.isdisjoint(_NAMES):
        headers = [(n, v) for n, v in headers if n.lower() != b"server"]
        return headers + [(n, v) for n, v in raw if n not in own]
    return headers + raw


_NAMES = {b"server", *(n for n, _ in _RAW)}


class SecurityHeadersMiddleware(MiddlewareProtocol):
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        # Litestar runs this after routing: inside a mount the path is the mount's own, so the
        # raw path says whether the request is for the console.
        path = scope.get("raw_path") or scope.get("path", "").encode()
        raw = _RAW_ADMIN if path == b"/admin" or path.startswith(b"/admin/") else _RAW

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":  # the headers as bytes, built once (no parsing)
                message["headers"] = with_headers(list(message.get("headers") or ()), raw)
            await send(message)

        await self.app(scope, receive, send_with_headers)
