"""The session cookie: a random id in an HttpOnly cookie, the session itself on the server
(`session_store`). Written only when the session changed, so a request does not cost a store
write; the id is replaced at login, so an id planted before login is worth nothing after it."""
from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from litestar.middleware.session.server_side import ServerSideSessionBackend, ServerSideSessionConfig
from litestar.types import Empty

if TYPE_CHECKING:
    from litestar.connection import ASGIConnection
    from litestar.types import Message, ScopeSession

COOKIE = "specadmin_session"
STORE = "sessions"
_LOADED = "specadmin.session_loaded"  # the session as loaded, to tell whether the request changed it
_NEW_ID = "specadmin.session_new_id"  # set at login: the session moves to a fresh id


def renew_id(scope: dict) -> None:
    """Give the session a fresh id when the response is sent (the old one is deleted)."""
    scope[_NEW_ID] = secrets.token_hex(32)


class RevocableSessionBackend(ServerSideSessionBackend):
    async def load_from_connection(self, connection: "ASGIConnection") -> dict[str, Any]:
        data = await super().load_from_connection(connection)
        connection.scope[_LOADED] = dict(data)  # type: ignore[literal-required]
        return data

    def get_session_id(self, connection: "ASGIConnection") -> str:
        return connection.scope.get(_NEW_ID) or super().get_session_id(connection)  # type: ignore[return-value]

    async def store_in_message(self, scope_session: "ScopeSession", message: "Message",
                               connection: "ASGIConnection") -> None:
        scope = connection.scope
        cookie_id = connection.cookies.get(self.config.key)
        has_cookie = bool(cookie_id) and cookie_id != "null"
        empty = scope_session is Empty or not scope_session
        renewed = scope.get(_NEW_ID) is not None
        if empty and not has_cookie:
            return  # a visitor without a session: nothing to store and no cookie to clear
        if not empty and not renewed and has_cookie and scope_session == scope.get(_LOADED):
            return  # unchanged: no write
        if renewed and has_cookie:
            await self.delete(cookie_id, store=self.config.get_store_from_app(scope["app"]))
        await super().store_in_message(Empty if empty else scope_session, message, connection)


@dataclass
class RevocableSessionConfig(ServerSideSessionConfig):
    _backend_class = RevocableSessionBackend  # type: ignore[assignment]
    store: str = STORE
    key: str = COOKIE
