"""piccolo-admin at /admin/: the ops console, for superusers only, labelled in Chinese.

Built once at start-up (building it per request costs 67-92 ms). It keeps its own login
(piccolo's session table); our middleware additionally requires a superuser session.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from litestar import Response, asgi
from litestar.response import Redirect
from litestar.types import Receive, Scope, Send
from piccolo_api.session_auth.tables import SessionsBase

from specadmin.runtime.data import db

if TYPE_CHECKING:
    from specadmin.runtime.app.context import AppContext


class AdminSession(SessionsBase, tablename="sys_admin_session"):
    pass


def build_admin(ctx: "AppContext"):
    from piccolo_admin.endpoints import create_admin

    db.bind_tables([AdminSession], ctx.engine)
    return create_admin(
        tables=ctx.package.admin.TABLE_CONFIGS, auth_table=ctx.table("user"), session_table=AdminSession,
        site_name=f"{ctx.app.short_label} 运维控制台", default_language_code="zh-CN", production=False,
        allowed_hosts=[],
    )


def admin_handlers(ctx: "AppContext") -> list:
    admin_app = build_admin(ctx)

    @asgi("/admin", is_mount=True, copy_scope=True)
    async def admin(scope: Scope, receive: Receive, send: Send) -> None:
        if scope.get("raw_path", b"").rstrip(b"?") == b"/admin":
            await Redirect("/admin/").to_asgi_response(app=None, request=None)(scope, receive, send)  # type: ignore[arg-type]
            return
        principal = await _principal_of(scope)
        if principal is None or not principal.superuser:
            response = Response(content="仅超级管理员可访问运维控制台", status_code=403, media_type="text/plain")
            await response.to_asgi_response(app=None, request=None)(scope, receive, send)  # type: ignore[arg-type]
            return
        await admin_app(scope, receive, send)

    return [admin]


async def _principal_of(scope: Scope):
    from specadmin.runtime.identity.sessions import session_principal

    return await session_principal(scope["app"].state.ctx, scope.get("session") or {})
