"""Build the Litestar app of one spec directory: API, pages, stats, admin, security middleware."""
from __future__ import annotations

import logging
import traceback
from pathlib import Path
from typing import Any

from litestar import Litestar, MediaType, Request, Response
from litestar.config.csrf import CSRFConfig
from litestar.contrib.jinja import JinjaTemplateEngine
from litestar.exceptions import HTTPException, NotAuthorizedException, ValidationException
from litestar.middleware import DefineMiddleware
from litestar.middleware.session.client_side import CookieBackendConfig
from litestar.openapi import OpenAPIConfig
from litestar.response import Redirect
from litestar.static_files import create_static_files_router
from litestar.template.config import TemplateConfig

from . import db
from .admin_mount import admin_handlers
from .auth import AUTH_HANDLERS, PUBLIC_PREFIXES, SessionAuthMiddleware
from .context import AppContext
from .crud import EntityService
from .errors import BadRequest, Conflict, Denied, NotFound
from .security_headers import SecurityHeadersMiddleware
from .stats import STATS_HANDLERS, StatsService
from .values import Invalid

log = logging.getLogger("specadmin")


def _wants_json(request: Request) -> bool:
    return request.url.path.startswith("/api/") or "application/json" in request.headers.get("accept", "")


def _error(request: Request, status: int, message: str, errors: dict | None = None) -> Response:
    if _wants_json(request):
        body: dict[str, Any] = {"detail": message, "status_code": status}
        if errors:
            body["errors"] = errors
        return Response(body, status_code=status, media_type=MediaType.JSON)
    from .pages import render_error

    return render_error(request, status, message)


def _handlers() -> dict:
    def denied(request: Request, exc: Denied) -> Response:
        return _error(request, 403, exc.message)

    def not_found(request: Request, exc: NotFound) -> Response:
        return _error(request, 404, exc.message)

    def invalid(request: Request, exc: Invalid) -> Response:
        return _error(request, 422, "数据校验失败", exc.errors)

    def conflict(request: Request, exc: Conflict) -> Response:
        return _error(request, 409, exc.message, exc.errors)

    def bad_request(request: Request, exc: BadRequest) -> Response:
        return _error(request, 400, exc.message)

    def not_authorized(request: Request, exc: NotAuthorizedException) -> Response:
        if _wants_json(request):
            return _error(request, 401, exc.detail or "请先登录")
        return Redirect(f"/login?next={request.url.path}")

    def validation(request: Request, exc: ValidationException) -> Response:
        return _error(request, 400, "请求参数不正确", {"params": str(exc.extra)[:500]} if exc.extra else None)

    def http(request: Request, exc: HTTPException) -> Response:
        return _error(request, exc.status_code, exc.detail)

    def crash(request: Request, exc: Exception) -> Response:
        # Full details go to the log (the exception log comes with the security issue); never to the client.
        log.error("unhandled error on %s %s\n%s", request.method, request.url.path, traceback.format_exc())
        return _error(request, 500, "服务器内部错误，请稍后再试")

    return {Denied: denied, NotFound: not_found, Invalid: invalid, Conflict: conflict, BadRequest: bad_request,
            NotAuthorizedException: not_authorized, ValidationException: validation, HTTPException: http,
            Exception: crash}


def create_app(app_dir: Path | str, database_url: str | None = None, *, with_admin: bool = True,
               secure_cookies: bool | None = None) -> Litestar:
    import os

    from .pages import PAGE_HANDLERS, STATIC_DIR, TEMPLATE_DIRS

    ctx = AppContext.open(Path(app_dir), database_url)
    services = {e.name: EntityService(ctx, e.name) for e in ctx.app.entities}
    if secure_cookies is None:
        secure_cookies = os.environ.get("SPECADMIN_SECURE_COOKIES", "0") == "1"

    async def on_startup(app: Litestar) -> None:
        await db.start(ctx.engine)
        await ctx.refresh_caches()

    async def on_shutdown(app: Litestar) -> None:
        await db.stop(ctx.engine)

    session = CookieBackendConfig(
        secret=ctx.session_secret[:32], key="specadmin_session", max_age=8 * 3600, httponly=True,
        samesite="lax", secure=secure_cookies, exclude=["/static"],
    )
    auth = DefineMiddleware(SessionAuthMiddleware, exclude=[p.rstrip("/") for p in PUBLIC_PREFIXES] + ["/schema"])
    csrf = CSRFConfig(secret=ctx.session_secret.hex(), cookie_name="csrftoken", header_name="x-csrftoken",
                      cookie_secure=secure_cookies, cookie_httponly=False, safe_methods={"GET", "HEAD", "OPTIONS"},
                      exclude=["/api/auth/login", "/admin"])
    handlers: list[Any] = [*ctx.package.api.CONTROLLERS, *AUTH_HANDLERS, *STATS_HANDLERS, *PAGE_HANDLERS,
                           create_static_files_router(path="/static", directories=[STATIC_DIR(ctx.app.theme)])]
    if with_admin:
        handlers += admin_handlers(ctx)
    app = Litestar(
        route_handlers=handlers,
        on_startup=[on_startup], on_shutdown=[on_shutdown],
        middleware=[DefineMiddleware(SecurityHeadersMiddleware), session.middleware, auth],
        csrf_config=csrf,
        template_config=TemplateConfig(directory=TEMPLATE_DIRS(ctx.app.theme), engine=JinjaTemplateEngine),
        openapi_config=OpenAPIConfig(title=f"{ctx.app.label} API", version="1.0.0", path="/schema"),
        exception_handlers=_handlers(),
        debug=False,
    )
    app.state.ctx = ctx
    app.state.services = services
    app.state.stats = StatsService(ctx)
    return app
