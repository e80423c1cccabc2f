"""A per-app background service (an object with `start()` and `async stop()`) as plugin parts."""
from __future__ import annotations

from contextlib import asynccontextmanager
from typing import Any, Callable


def background_service(key: str, make: Callable[[Any], Any]):
    """`(configure, lifespan)` for a plugin: the service is made when the app is built (kept in
    `ctx.extensions[key]` and `app.state[key]`), started with the app when it runs jobs
    (`specadmin serve`), and stopped with it."""

    def configure(config, ctx, options) -> None:
        config.state[key] = ctx.extensions[key] = make(ctx)

    @asynccontextmanager
    async def lifespan(ctx, options):
        service = ctx.extensions[key]
        if options.run_jobs:
            service.start()
        try:
            yield
        finally:
            await service.stop()

    return configure, lifespan
