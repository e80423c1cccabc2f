"""piccolo-admin at /admin/: the ops console, for superusers only, labelled in Chinese.

Built once at start-up (building it per request costs 67-92 ms). The mount in front of it:
- lets in only a superuser logged in to the app (the identity plugin's session middleware runs for
  /admin like for every page), and piccolo-admin trusts that login (console/sign_on.py): no
  second login form; piccolo-admin's own login is closed and its logout ends the app's session;
- serves piccolo-admin's page with the tables' Chinese names, and its schemas with the columns'
  Chinese names (console/labels.py);
- masks sensitive columns in every row it answers and refuses writes to them (console/sensitive.py);
- runs every write in one transaction with its operation-log entry (console/writes.py);
- refuses every other write piccolo-admin offers (its password change, forms, media): passwords
  are changed in the app, under its password rules.
"""
from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from litestar import Response, asgi
from litestar.response import Redirect
from litestar.types import Receive, Scope, Send
from piccolo_api.session_auth.tables import SessionsBase

from specadmin.runtime.console.labels import ConsoleLabels
from specadmin.runtime.console.relay import BodyTooLarge, answer, read_body, run_held
from specadmin.runtime.console.sensitive import Refused, SensitiveColumns
from specadmin.runtime.console.sign_on import PRINCIPAL_KEY, trust_app_sign_on
from specadmin.runtime.console.writes import OPS, ConsoleWrites
from specadmin.runtime.data import audit, db

if TYPE_CHECKING:
    from specadmin.runtime.app.context import AppContext

TABLE_PATH = re.compile(r"^/api/tables/(?P<table>[A-Za-z0-9_]+)/(?:(?P<rest>[^/]+)/)?$")
READ_PARTS = ("schema", "ids", "count", "references", "new")
REFUSED = "仅超级管理员可访问运维控制台"


class AdminSession(SessionsBase, tablename="sys_admin_session"):
    """piccolo-admin's own session table: create_admin needs one; with one sign-on it stays empty."""


def build_admin(ctx: "AppContext"):
    from piccolo_admin.endpoints import create_admin

    db.bind_tables([AdminSession], ctx.engine)
    admin_app = create_admin(
        tables=ctx.package.admin.TABLE_CONFIGS, auth_table=ctx.table("user"), session_table=AdminSession,
        site_name=site_name(ctx), default_language_code="zh-CN", production=False, allowed_hosts=[],
    )
    trust_app_sign_on(admin_app, ctx.table("user"))
    return admin_app


def site_name(ctx: "AppContext") -> str:
    return f"{ctx.app.short_label} 运维控制台"


class Console:
    """What the mount knows of piccolo-admin's tables: labels, sensitive columns, the write path."""

    def __init__(self, ctx: "AppContext", admin_app: Any):
        self.ctx, self.app = ctx, admin_app
        self.tables = {name: config.table_class for name, config in admin_app.table_config_map.items()}
        self.labels = ConsoleLabels(ctx)
        self.sensitive = SensitiveColumns(ctx)
        self.writes = ConsoleWrites(ctx, admin_app, self.tables, self.sensitive)
        self.page = self.labels.page(admin_app.template, site_name(ctx)).encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path, method = scope["path"], scope["method"]
        if path == "/" and method in ("GET", "HEAD"):
            await Response(content=self.page, media_type="text/html").to_asgi_response(
                app=None, request=None)(scope, receive, send)  # type: ignore[arg-type]
            return
        if path == "/public/logout/" and method == "POST":
            await self.logout(scope, receive, send)
            return
        match = TABLE_PATH.match(path)
        table = match and match["table"] in self.tables and match["table"]
        if method in ("GET", "HEAD", "OPTIONS"):
            if table and method == "GET":
                await self.read(scope, send, table, match["rest"])
            else:
                await self.app(scope, receive, send)
            return
        if not table or method not in OPS or (match["rest"] in READ_PARTS):
            await answer(scope, receive, send, 403, "运维控制台不提供该操作（修改密码等请在系统中进行）")
            return
        await self.write(scope, receive, send, table, match["rest"])

    async def read(self, scope: Scope, send: Send, table: str, rest: str | None) -> None:
        held = await run_held(self.app, scope, b"")
        data = held.json() if held.status == 200 else None
        if rest == "schema" and isinstance(data, dict):
            held.replaced(self.labels.schema(table, data, self.sensitive.columns(table)))
        elif rest is None and isinstance(data, dict) and isinstance(data.get("rows"), list):
            held.replaced({**data, "rows": self.sensitive.shown(table, data["rows"])})
        elif rest not in READ_PARTS and isinstance(data, dict):
            held.replaced(self.sensitive.shown(table, [data])[0])
        await held.send_to(send)

    async def write(self, scope: Scope, receive: Receive, send: Send, table: str, rest: str | None) -> None:
        row_id = None
        if rest is not None:
            try:
                row_id = int(rest)
            except ValueError:
                await answer(scope, receive, send, 404, "记录不存在")
                return
        elif scope["method"] != "POST":
            await answer(scope, receive, send, 403, "运维控制台不提供批量修改或删除")
            return
        try:
            body = await read_body(receive)
        except BodyTooLarge:
            await answer(scope, receive, send, 413, "请求内容过大")
            return
        try:
            held = await self.writes.run(scope, scope[PRINCIPAL_KEY], table, row_id, body)
        except Refused as exc:
            await answer(scope, receive, send, 403, exc.message)
            return
        await held.send_to(send)

    async def logout(self, scope: Scope, receive: Receive, send: Send) -> None:
        """piccolo-admin's 退出 ends the app's session (its CSRF token checked as piccolo-admin does)."""
        cookies = _cookies(scope)
        token = dict(scope.get("headers", [])).get(b"x-csrftoken", b"").decode(errors="replace")
        if not token or token != cookies.get("csrftoken"):
            await answer(scope, receive, send, 403, "CSRF 校验失败")
            return
        principal = scope[PRINCIPAL_KEY]
        try:
            await audit.record(self.ctx, principal, "logout", "user", principal.user_id, principal.username)
        except Exception:  # the log must not keep anyone logged in
            pass
        session = scope.get("session")
        if isinstance(session, dict):
            session.clear()  # the same dict the session middleware saves: the cookie is cleared
        await answer(scope, receive, send, 200, "已退出")


def _cookies(scope: Scope) -> dict[str, str]:
    from http.cookies import SimpleCookie

    jar: SimpleCookie = SimpleCookie()
    for key, value in scope.get("headers", []):
        if key == b"cookie":
            try:
                jar.load(value.decode("latin-1"))
            except Exception:  # a malformed cookie header: no cookies
                return {}
    return {k: m.value for k, m in jar.items()}


def admin_handlers(ctx: "AppContext") -> list:
    console = Console(ctx, build_admin(ctx))

    @asgi("/admin", is_mount=True, copy_scope=True)
    async def admin(scope: Scope, receive: Receive, send: Send) -> None:
        if scope.get("raw_path", b"").rstrip(b"?") == b"/admin":
            await Redirect("/admin/").to_asgi_response(app=None, request=None)(scope, receive, send)  # type: ignore[arg-type]
            return
        principal = scope.get("user")
        if principal is None or not getattr(principal, "superuser", False):
            response = Response(content=REFUSED, status_code=403, media_type="text/plain")
            await response.to_asgi_response(app=None, request=None)(scope, receive, send)  # type: ignore[arg-type]
            return
        scope[PRINCIPAL_KEY] = principal  # type: ignore[literal-required]
        await console(scope, receive, send)

    return [admin]
