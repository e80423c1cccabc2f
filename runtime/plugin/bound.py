"""A plugin bound to one running app: the Litestar `InitPluginProtocol` the app factory installs."""
from __future__ import annotations

from contextlib import AsyncExitStack
from typing import TYPE_CHECKING

from litestar.config.app import AppConfig
from litestar.plugins import InitPluginProtocol

from specadmin.runtime.plugin.protocol import AppOptions, Plugin

if TYPE_CHECKING:
    from specadmin.runtime.app.context import AppContext


class BoundPlugin(InitPluginProtocol):
    """Adds a plugin's routes, middleware and Litestar settings when the app is built."""

    def __init__(self, plugin: Plugin, ctx: "AppContext", options: AppOptions):
        self.plugin, self.ctx, self.options = plugin, ctx, options

    def on_app_init(self, app_config: AppConfig) -> AppConfig:
        p = self.plugin
        if p.routes is not None:
            app_config.route_handlers.extend(p.routes(self.ctx, self.options))
        if p.middleware is not None:
            app_config.middleware.extend(p.middleware(self.ctx, self.options))
        if p.configure is not None:
            p.configure(app_config, self.ctx, self.options)
        return app_config

    def __repr__(self) -> str:
        return f"BoundPlugin({self.plugin.name})"


async def enter_lifespans(stack: AsyncExitStack, ctx: "AppContext", options: AppOptions) -> None:
    """Start every plugin's lifespan tasks, in plugin order (they stop in reverse)."""
    for plugin in ctx.plugins:
        for factory in plugin.lifespan:
            await stack.enter_async_context(factory(ctx, options))
