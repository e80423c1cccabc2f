"""Build the Litestar app of one spec directory: API, pages, stats, admin, security middleware."""
from __future__ import annotations

import logging
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
from .api_callers import ext_router
from .auth import AUTH_HANDLERS, PUBLIC_PATHS, SessionAuthMiddleware
from .bulk_query.routes import bulk_query_handlers
from .context import AppContext
from .crud import EntityService
from .errors import BadRequest, Conflict, Denied, NotFound
from .feeds.dispatcher import FeedDispatcher
from .feeds.routes import feeds_router
from .imports.routes import transfer_handlers
from .logs import LOG_HANDLERS, add_template_globals, record_exception
from .logs.admin import guard_append_only
from .notify.inapp_routes import INAPP_HANDLERS, unread_badge
from .related import RELATED_HANDLERS
from .security_headers import SecurityHeadersMiddleware
from .stats import STATS_HANDLERS, StatsService
from .values import Invalid

log = logging.getLogger("specadmin")


def _wants_json(request: Request) -> bool:
    return request.url.path.startswith(("/api/", "/ext/")) or "application/json" in request.headers.get("accept", "")


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
        # The stack trace goes to the exception log (and stderr), never to the client: it gets the error id.
        error_id, store = record_exception(request, exc)
        message = f"服务器内部错误，请稍后再试（错误编号 {error_id}）"
        if _wants_json(request):
            response = Response({"detail": message, "error_id": error_id, "status_code": 500}, status_code=500,
                                media_type=MediaType.JSON)
        else:
            response = _error(request, 500, message)
        response.background = store
        return response

    def bad_value(request: Request, exc: Exception) -> Response:
        # PostgreSQL's "data exception" class (a NUL in text, a number out of range): the client sent a
        # value no column can hold. Its own fault, answered 400 without the driver's words.
        log.warning("database refused a value on %s %s: %s", request.method, request.url.path, type(exc).__name__)
        return _error(request, 400, "请求参数不正确")

    from asyncpg.exceptions import DataError as PgDataError

    return {Denied: denied, NotFound: not_found, Invalid: invalid, Conflict: conflict, BadRequest: bad_request,
            NotAuthorizedException: not_authorized, ValidationException: validation, HTTPException: http,
            PgDataError: bad_value, Exception: crash}


def create_app(app_dir: Path | str, database_url: str | None = None, *, with_admin: bool = True,
               secure_cookies: bool | None = None, run_jobs: bool | None = None) -> Litestar:
    import os

    from .pages import PAGE_HANDLERS, STATIC_DIRS, TEMPLATE_DIRS

    ctx = AppContext.open(Path(app_dir), database_url)
    services = {e.name: EntityService(ctx, e.name) for e in ctx.app.entities}
    if secure_cookies is None:
        secure_cookies = os.environ.get("SPECADMIN_SECURE_COOKIES", "0") == "1"

    if run_jobs is None:  # `specadmin serve` sets SPECADMIN_RUN_JOBS=1; tests and imports leave it off
        run_jobs = os.environ.get("SPECADMIN_RUN_JOBS", "0") == "1"
    from .jobs.embedded import EmbeddedScheduler

    scheduler = EmbeddedScheduler(ctx)
    feed_dispatcher = FeedDispatcher(ctx)

    async def on_startup(app: Litestar) -> None:
        await db.start(ctx.engine)
        await ctx.refresh_caches()
        if run_jobs:
            scheduler.start()
            feed_dispatcher.start()  # outbound feeds: deliver committed rows (runtime/feeds)

    async def on_shutdown(app: Litestar) -> None:
        await scheduler.stop()
        await feed_dispatcher.stop()
        await db.stop(ctx.engine)

    session = CookieBackendConfig(
        secret=ctx.session_secret[:32], key="specadmin_session", max_age=8 * 3600, httponly=True,
        samesite="lax", secure=secure_cookies, exclude=["^/static/", "^/ext/"],
    )
    # /ext/: API callers authenticate per request (api_callers), never with a session or CSRF token.
    auth = DefineMiddleware(SessionAuthMiddleware, exclude=[*PUBLIC_PATHS, "^/ext/"])
    csrf = CSRFConfig(secret=ctx.session_secret.hex(), cookie_name="csrftoken", header_name="x-csrftoken",
                      cookie_secure=secure_cookies, cookie_httponly=False, safe_methods={"GET", "HEAD", "OPTIONS"},
                      exclude=["^/api/auth/login$", "^/admin", "^/ext/"])
    handlers: list[Any] = [*ctx.package.api.CONTROLLERS, *AUTH_HANDLERS, *STATS_HANDLERS, *PAGE_HANDLERS, *LOG_HANDLERS,
                           *transfer_handlers([e.name for e in ctx.app.entities if ctx.app.screens_of(e.name)]),
                           *bulk_query_handlers(ctx.app), *RELATED_HANDLERS,
                           create_static_files_router(path="/static", directories=STATIC_DIRS(ctx.app.theme)),
                           ext_router(), feeds_router(), *INAPP_HANDLERS]
    if with_admin:
        guard_append_only(ctx, ctx.package.admin.TABLE_CONFIGS)  # logs stay read-only in /admin/ too
        handlers += admin_handlers(ctx)
    app = Litestar(
        route_handlers=handlers,
        on_startup=[on_startup], on_shutdown=[on_shutdown],
        middleware=[DefineMiddleware(SecurityHeadersMiddleware), session.middleware, auth],
        csrf_config=csrf,
        template_config=TemplateConfig(directory=TEMPLATE_DIRS(ctx.app.theme), engine=JinjaTemplateEngine,
                                       engine_callback=add_template_globals),
        openapi_config=OpenAPIConfig(title=f"{ctx.app.label} API", version="1.0.0", path="/schema"),
        exception_handlers=_handlers(),
        before_request=unread_badge,  # 站内消息 badge count for the page header
        debug=False,
    )
    app.state.ctx = ctx
    app.state.services = services
    app.state.stats = StatsService(ctx)
    app.state.scheduler = scheduler
    app.state.feed_dispatcher = feed_dispatcher
    return app
