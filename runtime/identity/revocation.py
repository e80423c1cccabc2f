"""What keeps a session valid: it is bound to its user's id, password hash and session stamp.

The session holds an HMAC of the three; every request recomputes it from the user's row, read
afresh from the database (so every worker sees a change at once, whoever made it: the API, the
console, the CLI or SQL). The same statement brings the shared cache generation (cache_state); with
the database session store it is the statement that reads the session (owner_columns), so a request's
session and checks cost one round trip. A new password, a new stamp
(`revoke`: on disable, role or superuser change), a deleted user or another user who later got
the same id all make the old sessions worthless.
"""
from __future__ import annotations

import hashlib
import hmac
import secrets
from typing import TYPE_CHECKING, Any, Iterable

from piccolo.querystring import QueryString

from specadmin.runtime.data.prepared import Prepared
from specadmin.runtime.identity import cache_state

_CHECK = "revocation.session_check"  # the compiled statement (ctx.extensions)

if TYPE_CHECKING:
    from specadmin.runtime.app.context import AppContext


def new_stamp() -> str:
    return secrets.token_hex(16)


def session_digest(ctx: "AppContext", user_id: int, row: dict[str, Any]) -> str:
    text = f"{user_id}|{row.get('session_stamp') or ''}|{row['password']}"
    return hmac.new(ctx.session_secret, text.encode(), hashlib.sha256).hexdigest()


async def current_row(ctx: "AppContext", user_id: int) -> dict[str, Any] | None:
    user = ctx.table("user")
    rows = await user.select(user.password, user.session_stamp, user.active).where(user.id == user_id)
    return rows[0] if rows else None


async def login_digest(ctx: "AppContext", user_id: int) -> str:
    """The digest a new session of this user carries (a stamp is made if the user has none yet)."""
    row = await current_row(ctx, user_id)
    if row is None:
        raise LookupError(user_id)
    if not row["session_stamp"]:
        user = ctx.table("user")
        row["session_stamp"] = new_stamp()
        await user.update({user.session_stamp: row["session_stamp"]}).where(user.id == user_id)
    return session_digest(ctx, user_id, row)


async def still_valid(ctx: "AppContext", user_id: int, digest: str | None) -> bool:
    return (await session_check(ctx, user_id, digest))[0]


OWNER = ("password", "session_stamp", "active")  # what of the user's row the check reads


def owner_columns(ctx: "AppContext", user_id: Any) -> list:
    """The check's columns read beside another table's (the session's, session_store.get_with_owner):
    the user's password hash, stamp and active flag, each a scalar subquery by primary key (NULL
    when no such user), and the shared cache generation."""
    user = ctx.table("user")
    return [QueryString("({})", user.select(getattr(user, name)).where(user.id == user_id).querystrings[0])
            .as_alias(f"owner_{name}") for name in OWNER] + [cache_state.generation_column(ctx)]


async def session_check(ctx: "AppContext", user_id: int, digest: str | None,
                        owner: dict[str, Any] | None = None) -> tuple[bool, int | None]:
    """(whether a session of this user carrying `digest` is still valid, the shared cache generation
    or None when the user has no row). `owner`: the user's columns as read with the session
    (owner_columns); without them the user's row is read here."""
    if owner is not None:
        row = {name: owner[f"owner_{name}"] for name in OWNER}
        row[cache_state.GENERATION] = owner[cache_state.GENERATION]
        if row["password"] is None:  # no such user
            return False, None
    else:
        check = ctx.extensions.get(_CHECK)
        if check is None:  # compiled once per app: every request without its owner's columns runs it
            user = ctx.table("user")
            check = ctx.extensions[_CHECK] = Prepared(user, lambda uid: user.select(
                *[getattr(user, name) for name in OWNER], cache_state.generation_column(ctx)).where(user.id == uid), 1)
        rows = await check(user_id)
        if not rows:
            return False, None
        row = rows[0]
    valid = bool(row["active"] and digest and hmac.compare_digest(digest, session_digest(ctx, user_id, row)))
    return valid, row[cache_state.GENERATION] or 0


async def revoke(ctx: "AppContext", user_ids: Iterable[int]) -> None:
    """End every session of these users, on every worker (in the caller's transaction)."""
    ids = sorted(set(user_ids))
    if ids:
        user = ctx.table("user")
        await user.update({user.session_stamp: new_stamp()}).where(user.id.is_in(ids))
