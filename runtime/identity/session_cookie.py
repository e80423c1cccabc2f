"""The session cookie: a random id in an HttpOnly cookie, the session itself on the server
(`session_store`). Written only when the session changed, so a request does not cost a store
write; the id is replaced at login, so an id planted before login is worth nothing after it."""
from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from litestar.middleware.session.server_side import ServerSideSessionBackend, ServerSideSessionConfig
from litestar.types import Empty

from specadmin.runtime.data.db import is_busy

if TYPE_CHECKING:
    from litestar.connection import ASGIConnection
    from litestar.types import Message, ScopeSession

COOKIE = "specadmin_session"
STORE = "sessions"
_LOADED = "specadmin.session_loaded"  # the session as loaded, to tell whether the request changed it
_NEW_ID = "specadmin.session_new_id"  # set at login: the session moves to a fresh id
STAMPS = ("seen",)  # what a request refreshes in a session on its own (runtime/identity/sessions.py)
log = logging.getLogger(__name__)


OWNER = "specadmin.session_owner"  # (user id, the owner's columns read with the session), see load_from_connection
_ID_DIGITS = 9  # a user id in a session id: at most this many digits (inside a 32-bit id column; a
# longer one, which no session of ours carries, is read the way an id without one is)


def renew_id(scope: dict, owner: int) -> None:
    """Give the session a fresh id when the response is sent (the old one is deleted): the owner's
    user id, a dot and 32 random bytes, so the store can read the owner's row with the session."""
    scope[_NEW_ID] = f"{int(owner)}.{secrets.token_hex(32)}"


def owner_of(session_id: str | None) -> int | None:
    """The user id a session id starts with (None for an id without one, such as an older session's)."""
    head, dot, _ = (session_id or "").partition(".")
    if dot and head.isascii() and head.isdigit() and len(head) <= _ID_DIGITS:
        return int(head)
    return None


class RevocableSessionBackend(ServerSideSessionBackend):
    async def load_from_connection(self, connection: "ASGIConnection") -> dict[str, Any]:
        """The session, and with the database store its owner's row in the same statement (kept in
        the scope under OWNER for the revocation check, runtime/identity/sessions.py)."""
        session_id = connection.cookies.get(self.config.key)
        owner = owner_of(session_id)
        store = self.config.get_store_from_app(connection.scope["app"]) if owner is not None else None
        read = store.get_with_owner if getattr(store, "reads_owner", False) else None
        if read is None:
            data = await super().load_from_connection(connection)
        else:
            max_age = int(self.config.max_age) if self.config.max_age is not None else None
            found = await read(session_id, owner, renew_for=max_age if self.config.renew_on_access else None)
            data = {} if found is None else self.deserialize_data(found[0])
            if found is not None:
                connection.scope[OWNER] = (owner, found[1])  # type: ignore[literal-required]
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
        try:
            await super().store_in_message(Empty if empty else scope_session, message, connection)
        except Exception as exc:
            # The response's work is done (an action has committed); a refresh of the last-seen stamp
            # that finds the database busy waits for a later request rather than answer 503 for it.
            if not (is_busy(exc) and has_cookie and not empty and not renewed
                    and _unstamped(scope_session) == _unstamped(scope.get(_LOADED))):
                raise
            log.warning("session stamp not refreshed, database busy: %s", exc)


def _unstamped(session: Any) -> dict:
    return {k: v for k, v in dict(session or {}).items() if k not in STAMPS}


@dataclass
class RevocableSessionConfig(ServerSideSessionConfig):
    _backend_class = RevocableSessionBackend  # type: ignore[assignment]
    store: str = STORE
    key: str = COOKIE
