"""Build the Litestar app of one spec directory: the entity API, then whatever the app's plugins add.

The factory knows no feature by name. Every capability (login and security headers, identity,
logs, imports, statistics, feeds, pages, the ops console, ...) is a plugin, built-in or listed in
app.yaml, bound here as a Litestar `InitPluginProtocol`.
"""
from __future__ import annotations

import inspect
import os
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

from litestar import Litestar, Request
from litestar.contrib.jinja import JinjaTemplateEngine
from litestar.datastructures import State
from litestar.openapi import OpenAPIConfig
from litestar.template.config import TemplateConfig

from specadmin.runtime.app.context import AppContext
from specadmin.runtime.app.errors import exception_handlers
from specadmin.runtime.data import db
from specadmin.runtime.entities.service import EntityService
from specadmin.runtime.pages.support import TEMPLATE_DIRS
from specadmin.runtime.plugin import AppOptions
from specadmin.runtime.plugin.bound import BoundPlugin, enter_lifespans


def _flag(name: str) -> bool:
    return os.environ.get(name, "0") == "1"


def _before_request(ctx: AppContext):
    hooks = [hook for plugin in ctx.plugins for hook in plugin.request_hooks]

    async def before_request(request: Request) -> Any:
        for hook in hooks:
            answer = await hook(request)
            if answer is not None:
                return answer
        return None

    return before_request if hooks else None


def _template_globals(ctx: AppContext):
    def engine_callback(engine: JinjaTemplateEngine) -> None:
        for plugin in ctx.plugins:
            if plugin.template_globals is not None:  # `(engine)`, or `(engine, ctx)` for the app's own values
                takes_ctx = len(inspect.signature(plugin.template_globals).parameters) > 1
                plugin.template_globals(*((engine, ctx) if takes_ctx else (engine,)))

    return engine_callback


def create_app(app_dir: Path | str, database_url: str | None = None, *, with_admin: bool = True,
               secure_cookies: bool | None = None, run_jobs: bool | None = None) -> Litestar:
    ctx = AppContext.open(Path(app_dir), database_url)
    options = AppOptions(
        with_admin=with_admin,
        secure_cookies=_flag("SPECADMIN_SECURE_COOKIES") if secure_cookies is None else secure_cookies,
        # `specadmin serve` sets SPECADMIN_RUN_JOBS=1; tests and imports leave it off
        run_jobs=_flag("SPECADMIN_RUN_JOBS") if run_jobs is None else run_jobs,
    )
    lifespans = AsyncExitStack()

    async def on_startup(app: Litestar) -> None:
        await db.start(ctx.engine)
        await ctx.refresh_caches()
        await enter_lifespans(lifespans, ctx, options)

    async def on_shutdown(app: Litestar) -> None:
        await lifespans.aclose()
        await db.stop(ctx.engine)

    plugin_templates = [p.templates for p in ctx.plugins if p.templates is not None]
    app = Litestar(
        route_handlers=list(ctx.package.api.CONTROLLERS),
        plugins=[BoundPlugin(p, ctx, options) for p in ctx.plugins],
        on_startup=[on_startup], on_shutdown=[on_shutdown],
        template_config=TemplateConfig(directory=[*plugin_templates, *TEMPLATE_DIRS(ctx.app.theme)],
                                       engine=JinjaTemplateEngine, engine_callback=_template_globals(ctx)),
        openapi_config=OpenAPIConfig(title=f"{ctx.app.label} API", version="1.0.0", path="/schema"),
        exception_handlers=exception_handlers(),
        before_request=_before_request(ctx),
        state=State({"ctx": ctx, "services": {e.name: EntityService(ctx, e.name) for e in ctx.app.entities}}),
        debug=False,
    )
    return app
