"""Build the Litestar app of one spec directory: API, pages, stats, admin, security middleware."""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from litestar import Litestar
from litestar.config.csrf import CSRFConfig
from litestar.contrib.jinja import JinjaTemplateEngine
from litestar.middleware import DefineMiddleware
from litestar.middleware.session.client_side import CookieBackendConfig
from litestar.openapi import OpenAPIConfig
from litestar.static_files import create_static_files_router
from litestar.template.config import TemplateConfig
from specadmin.runtime.api_callers.routes import ext_router
from specadmin.runtime.app.context import AppContext
from specadmin.runtime.app.errors import exception_handlers
from specadmin.runtime.bulk_query.routes import bulk_query_handlers
from specadmin.runtime.console.mount import admin_handlers
from specadmin.runtime.data import db
from specadmin.runtime.data.service import EntityService
from specadmin.runtime.feeds.dispatcher import FeedDispatcher
from specadmin.runtime.feeds.routes import feeds_router
from specadmin.runtime.imports.routes import transfer_handlers
from specadmin.runtime.logs.admin import guard_append_only
from specadmin.runtime.logs.handlers import LOG_HANDLERS, add_template_globals
from specadmin.runtime.notify.inapp_routes import INAPP_HANDLERS, unread_badge
from specadmin.runtime.related.routes import RELATED_HANDLERS
from specadmin.runtime.security.auth import (
    AUTH_HANDLERS,
    PUBLIC_PATHS,
    SessionAuthMiddleware,
)
from specadmin.runtime.security.headers import SecurityHeadersMiddleware
from specadmin.runtime.stats.routes import STATS_HANDLERS, StatsService

log = logging.getLogger("specadmin")


def create_app(app_dir: Path | str, database_url: str | None = None, *, with_admin: bool = True,
               secure_cookies: bool | None = None, run_jobs: bool | None = None) -> Litestar:
    import os

    from specadmin.runtime.pages.routes import PAGE_HANDLERS, STATIC_DIRS, TEMPLATE_DIRS

    ctx = AppContext.open(Path(app_dir), database_url)
    services = {e.name: EntityService(ctx, e.name) for e in ctx.app.entities}
    if secure_cookies is None:
        secure_cookies = os.environ.get("SPECADMIN_SECURE_COOKIES", "0") == "1"

    if run_jobs is None:  # `specadmin serve` sets SPECADMIN_RUN_JOBS=1; tests and imports leave it off
        run_jobs = os.environ.get("SPECADMIN_RUN_JOBS", "0") == "1"
    from specadmin.runtime.jobs.embedded import EmbeddedScheduler

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
        exception_handlers=exception_handlers(),
        before_request=unread_badge,  # 站内消息 badge count for the page header
        debug=False,
    )
    app.state.ctx = ctx
    app.state.services = services
    app.state.stats = StatsService(ctx)
    app.state.scheduler = scheduler
    app.state.feed_dispatcher = feed_dispatcher
    return app
