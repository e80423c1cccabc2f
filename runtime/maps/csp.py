"""Images from the configured tile server: with app.yaml `map: {tiles}`, every page's CSP (the
security plugin's, runtime/security/headers.py) also allows images from the tiles' origin, so map
pages and the point pickers on forms can show them. Set before the security middleware, which
leaves a CSP already present alone; the ops console at /admin/ keeps its own."""
from __future__ import annotations

from litestar.datastructures import MutableScopeHeaders
from litestar.middleware import DefineMiddleware
from litestar.types import ASGIApp, Message, Receive, Scope, Send

from specadmin.runtime.maps.settings import map_settings, tile_origin
from specadmin.runtime.security.headers import CSP

HEADER = "content-security-policy"


def with_tiles(tiles: str) -> str:
    return CSP.replace("img-src 'self' data:", f"img-src 'self' data: {tile_origin(tiles)}")


class TileImagesMiddleware:
    def __init__(self, app: ASGIApp, policy: str) -> None:
        self.app, self.policy = app, policy

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        raw = scope.get("raw_path") or scope.get("path", "").encode()
        if scope["type"] != "http" or raw == b"/admin" or raw.startswith(b"/admin/"):
            await self.app(scope, receive, send)
            return

        async def send_with_policy(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableScopeHeaders.from_message(message)
                if HEADER not in headers:
                    headers[HEADER] = self.policy
            await send(message)

        await self.app(scope, receive, send_with_policy)


def tile_middleware(ctx, options) -> list:
    tiles = map_settings(ctx.app)["tiles"]
    return [DefineMiddleware(TileImagesMiddleware, policy=with_tiles(tiles))] if tiles else []
