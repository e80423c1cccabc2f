"""Sessions and who is logged in: JSON login/logout, the principal loader and the auth middleware.

Login goes through identity.lockout (failed-attempt throttles); the session lives on the server
(session_store, session_cookie) under a fresh id, bound to the user's id, password and session
stamp (revocation); it ends at logout, after `security.session_idle_minutes` without a request,
and when revoked. Visitors without a session reach only the pages and API of 无需登录可访问
functions; disabled API/URL resources answer 403 to everyone.
"""
from __future__ import annotations

import datetime as dt
import time
from typing import TYPE_CHECKING, Any

from litestar import Request, get, post
from litestar.connection import ASGIConnection
from litestar.exceptions import NotAuthorizedException
from litestar.middleware import AbstractAuthenticationMiddleware, AuthenticationResult
from specadmin.runtime.data import audit
from specadmin.runtime.errors import Denied
from specadmin.runtime.identity import cache_state, revocation
from specadmin.runtime.identity.access import build_principal
from specadmin.runtime.identity.functions import anonymous_principal, check_address
from specadmin.runtime.identity.lockout import FAILED, attempt_login
from specadmin.runtime.identity.session_cookie import OWNER, renew_id
from specadmin.runtime.security.principal import Principal

if TYPE_CHECKING:
    from specadmin.runtime.app.context import AppContext

PRINCIPAL_TTL = 10.0  # seconds a loaded principal is reused; writes to users/grants clear it at once (cache_state)
SEEN_RESOLUTION = 60  # refresh the session's last-seen stamp at most once a minute
# Anchored regexes: Litestar matches exclude patterns anywhere in the path, so an unanchored
# "/admin" would also open a future "/api/admin_division" to anonymous requests.
PUBLIC_PATHS = ("^/login$", "^/api/auth/login$", "^/static/", "^/favicon.ico$")
clock = time.time  # tests move it to prove the idle timeout and the lock expiry


async def cli_principal(ctx: "AppContext", username: str | None) -> Principal | None:
    """Whom a CLI command acts as (grants and scope apply): the named user, else the first superuser."""
    user = ctx.table("user")
    query = user.select(user.id).where(user.username == username) if username else \
        user.select(user.id).where(user.superuser == True).order_by(user.id)  # noqa: E712
    rows = await query.limit(1)
    return await load_principal(ctx, rows[0]["id"]) if rows else None


async def load_principal(ctx: "AppContext", user_id: int) -> Principal | None:
    cached = ctx.principals.get(user_id)
    if cached and time.monotonic() - cached[0] < PRINCIPAL_TTL:
        return cached[1]
    user = ctx.table("user")
    rows = await user.select().where(user.id == user_id, user.active == True)  # noqa: E712
    if not rows:
        return None
    principal = await build_principal(ctx, rows[0])
    ctx.principals[user_id] = (time.monotonic(), principal)
    return principal


def idle_limit(ctx: "AppContext") -> int:
    return int(ctx.app.security.get("session_idle_minutes", 30)) * 60


class SessionAuthMiddleware(AbstractAuthenticationMiddleware):
    """Resolve the session's user id into a Principal; reject stale or anonymous sessions."""

    async def authenticate_request(self, connection: ASGIConnection) -> AuthenticationResult:
        ctx: AppContext = connection.app.state.ctx
        session = connection.scope.get("session") or {}
        uid = session.get("uid")
        if not uid:
            visitor = await anonymous_principal(ctx, connection.scope.get("method", "GET"), connection.scope["path"])
            if visitor is None:
                raise NotAuthorizedException("请先登录")
            return AuthenticationResult(user=visitor, auth=None)
        now = int(clock())
        if now - int(session.get("seen", 0)) > idle_limit(ctx):
            connection.scope["session"] = {}
            raise NotAuthorizedException("登录已超时，请重新登录")
        read = connection.scope.get(OWNER)  # the owner's row, read with the session (session_cookie)
        owner = read[1] if read is not None and read[0] == int(uid) else None
        valid, generation = await revocation.session_check(ctx, int(uid), session.get("auth"), owner)
        if not valid:
            connection.scope["session"] = {}
            raise NotAuthorizedException("登录已失效，请重新登录")
        if now - int(session.get("seen", 0)) > SEEN_RESOLUTION:
            session["seen"] = now
        await cache_state.sync(ctx, generation)
        principal = await load_principal(ctx, int(uid))
        if principal is None:
            connection.scope["session"] = {}
            raise NotAuthorizedException("账号已停用")
        await check_address(ctx, connection.scope["path"])
        return AuthenticationResult(user=principal, auth=uid)


def user_summary(ctx: "AppContext", p: Principal) -> dict[str, Any]:
    return {"id": p.user_id, "username": p.username, "name": p.name, "org": p.org_id, "org_label": p.org_name,
            "roles": list(p.roles), "superuser": p.superuser, "org_admin": p.org_admin,
            "screens": {name: sorted(g.actions) for name, g in sorted(p.grants.items())}}


def client_address(request: Request) -> str:
    return request.client.host if request.client else ""


async def login_attempt(ctx: "AppContext", username: str, password: str, address: str = "") -> tuple[int | None, str]:
    """(user id, "") or (None, message): 用户名或密码错误, 账号已锁定…, 登录失败次数过多…, 账号已停用."""
    if not username or not password:
        return None, FAILED
    return await attempt_login(ctx, username, password, dt.datetime.fromtimestamp(clock()), address)


async def verify_password(ctx: "AppContext", username: str, password: str) -> int | None:
    return (await login_attempt(ctx, username, password))[0]


async def start_session(request: Request, user_id: int) -> Principal | None:
    """A new server-side session under a fresh id, bound to the user (see revocation)."""
    ctx: AppContext = request.app.state.ctx
    renew_id(request.scope, user_id)
    request.scope["session"] = {"uid": user_id, "auth": await revocation.login_digest(ctx, user_id),
                                "seen": int(clock())}
    principal = await load_principal(ctx, user_id)
    await audit.record(ctx, principal, "login", "user", user_id, principal.username if principal else user_id)
    return principal


def cross_site(request: Request) -> bool:
    """A browser says the request comes from another site (the login API has no CSRF token to
    check, so a page elsewhere must not be able to log a visitor in as someone else)."""
    if request.headers.get("sec-fetch-site", "").lower() == "cross-site":
        return True
    origin = request.headers.get("origin")
    own = f"{request.url.scheme}://{request.url.netloc}"
    return origin is not None and origin.rstrip("/") != own


@post("/api/auth/login", tags=["认证"], summary="登录", status_code=200)
async def api_login(request: Request, data: dict[str, Any]) -> dict[str, Any]:
    ctx: AppContext = request.app.state.ctx
    if cross_site(request):
        raise Denied("不接受来自其他网站的登录请求")
    username, password = str(data.get("username", "")), str(data.get("password", ""))
    user_id, message = await login_attempt(ctx, username[:100], password[:200], client_address(request))
    if user_id is None:
        raise NotAuthorizedException(message)
    principal = await start_session(request, user_id)
    return {"user": user_summary(ctx, principal)}


@post("/api/auth/logout", tags=["认证"], summary="退出", status_code=200)
async def api_logout(request: Request) -> dict[str, Any]:
    ctx: AppContext = request.app.state.ctx
    await audit.record(ctx, request.user, "logout", "user", request.user.user_id, request.user.username)
    request.clear_session()
    return {"ok": True}


@get("/api/auth/me", tags=["认证"], summary="当前用户")
async def api_me(request: Request) -> dict[str, Any]:
    return {"user": user_summary(request.app.state.ctx, request.user)}


AUTH_HANDLERS = [api_login, api_logout, api_me]
