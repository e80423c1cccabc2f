"""Hardening headers on every response: CSP against injected scripts, no sniffing, no framing.

One relaxation, for the ops console at /admin/ only: piccolo-admin's bundle inserts <style>
elements (Font Awesome's icon CSS, a component's CSS), so there `style-src` also allows inline
styles. Scripts stay `'self'` everywhere: no inline script, no eval (the bundle's one eval probe,
a global-object shim inside try/catch, falls back to `window` when refused).
"""
from __future__ import annotations

from litestar.datastructures import MutableScopeHeaders
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


class SecurityHeadersMiddleware(MiddlewareProtocol):
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        # Litestar runs this after routing: inside a mount the path is the mount's own, so the
        # raw path says whether the request is for the console.
        raw = scope.get("raw_path") or scope.get("path", "").encode()
        console = raw == b"/admin" or raw.startswith(b"/admin/")

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableScopeHeaders.from_message(message)
                for name, value in HEADERS.items():
                    if name not in headers:
                        headers[name] = ADMIN_CSP if console and name == "content-security-policy" else value
                if "server" in headers:
                    del headers["server"]
            await send(message)

        await self.app(scope, receive, send_with_headers)
