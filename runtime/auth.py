"""Sessions and who is logged in: JSON login/logout, the principal loader and the auth middleware."""
from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from litestar import Request, get, post
from litestar.connection import ASGIConnection
from litestar.exceptions import NotAuthorizedException
from litestar.middleware import AbstractAuthenticationMiddleware, AuthenticationResult
from piccolo.columns.combination import Or

from . import audit
from .principal import Principal, effective_grants

if TYPE_CHECKING:
    from .context import AppContext

PRINCIPAL_TTL = 10.0  # seconds a loaded principal is reused; writes to users/grants clear it at once
SEEN_RESOLUTION = 60  # refresh the session's last-seen stamp at most once a minute
PUBLIC_PREFIXES = ("/login", "/api/auth/login", "/static/", "/favicon.ico", "/admin")


async def load_principal(ctx: "AppContext", user_id: int) -> Principal | None:
    cached = ctx.principals.get(user_id)
    if cached and time.monotonic() - cached[0] < PRINCIPAL_TTL:
        return cached[1]
    user = ctx.table("user")
    rows = await user.select().where(user.id == user_id, user.active == True)  # noqa: E712
    if not rows:
        return None
    row = rows[0]
    roles_join = ctx.join_table("user", "roles")
    role = ctx.table("role")
    role_rows = await role.select(role.id, role.code).where(
        role.id.is_in(roles_join.select(roles_join.target).where(roles_join.owner == user_id)), role.active == True)  # noqa: E712
    role_ids = [r["id"] for r in role_rows]
    grant = ctx.table("grant")
    condition = grant.user == user_id
    if role_ids:
        condition = Or(condition, grant.role.is_in(role_ids))
    stored = [(g["screen"], g["actions"]) for g in await grant.select(grant.screen, grant.actions).where(condition)]
    codes = tuple(r["code"] for r in role_rows)
    org_id = row.get("org")
    principal = Principal(
        user_id=row["id"], username=row["username"], name=row.get("name") or row["username"], org_id=org_id,
        org_name=ctx.org_names.get(org_id, "") if org_id else "", superuser=bool(row["superuser"]), roles=codes,
        grants=effective_grants(ctx.app, codes, bool(row["superuser"]), stored),
        attrs={k: v for k, v in row.items() if k not in ("password",)},
    )
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
            raise NotAuthorizedException("请先登录")
        now = int(time.time())
        if now - int(session.get("seen", 0)) > idle_limit(ctx):
            connection.scope["session"] = {}
            raise NotAuthorizedException("登录已超时，请重新登录")
        if now - int(session.get("seen", 0)) > SEEN_RESOLUTION:
            session["seen"] = now
        await ctx.caches_fresh()
        principal = await load_principal(ctx, int(uid))
        if principal is None:
            connection.scope["session"] = {}
            raise NotAuthorizedException("账号已停用")
        return AuthenticationResult(user=principal, auth=uid)


def user_summary(ctx: "AppContext", p: Principal) -> dict[str, Any]:
    return {"id": p.user_id, "username": p.username, "name": p.name, "org": p.org_id, "org_label": p.org_name,
            "roles": list(p.roles), "superuser": p.superuser,
            "screens": {name: sorted(g.actions) for name, g in sorted(p.grants.items())}}


async def verify_password(ctx: "AppContext", username: str, password: str) -> int | None:
    user = ctx.table("user")
    return await user.login(username=username, password=password)


async def start_session(request: Request, user_id: int) -> Principal | None:
    ctx: AppContext = request.app.state.ctx
    request.scope["session"] = {"uid": user_id, "seen": int(time.time())}
    principal = await load_principal(ctx, user_id)
    await audit.record(ctx, principal, "login", "user", user_id, principal.username if principal else user_id)
    return principal


@post("/api/auth/login", tags=["认证"], summary="登录", status_code=200)
async def api_login(request: Request, data: dict[str, Any]) -> dict[str, Any]:
    ctx: AppContext = request.app.state.ctx
    username, password = str(data.get("username", "")), str(data.get("password", ""))
    user_id = await verify_password(ctx, username, password) if username and password else None
    if user_id is None:
        raise NotAuthorizedException("用户名或密码错误")
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
