"""Built-in plugin `pages`: the end-user HTML pages of every screen, the theme's static files and
the API documentation page at /schema; the menu's plugin entries and badges (menu_extras.py)."""
from __future__ import annotations

import dataclasses

from litestar.static_files import create_static_files_router

from specadmin.runtime.pages.apidocs import LocalSwaggerUI
from specadmin.runtime.pages.menu_extras import menu_extras
from specadmin.runtime.pages.routes import PAGE_HANDLERS, STATIC_DIRS
from specadmin.runtime.plugin import Plugin


def _routes(ctx, options) -> list:
    statics = [p.static for p in ctx.plugins if p.static is not None]  # a plugin's own files win over the theme's
    return [*PAGE_HANDLERS, create_static_files_router(path="/static", directories=[*statics, *STATIC_DIRS(ctx.app.theme)])]


def _configure(config, ctx, options) -> None:
    if config.openapi_config is not None:
        config.openapi_config = dataclasses.replace(config.openapi_config,
                                                    render_plugins=[LocalSwaggerUI(ctx.app.theme)])


plugin = Plugin(name="pages", label="业务页面", builtin=True, order=95, routes=_routes, configure=_configure,
                request_hooks=(menu_extras,))
