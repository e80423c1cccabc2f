"""A per-app background service (an object with `start()` and `async stop()`) as plugin parts, and
`BackgroundLoop`, the one asyncio task such a service runs (the job scheduler, the feed and SMS
dispatchers): started once on the app's loop, stopped by cancelling it."""
from __future__ import annotations

import asyncio
from collections.abc import Coroutine
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


class BackgroundLoop:
    task: asyncio.Task | None = None

    def launch(self, loop: Coroutine[Any, Any, None]) -> None:
        """Run `loop` on the running event loop, unless a task already runs."""
        if self.task is None:
            self.task = asyncio.get_running_loop().create_task(loop)
        else:
            loop.close()

    async def stop(self) -> None:
        if self.task is not None:
            self.task.cancel()
            try:
                await self.task
            except asyncio.CancelledError:
                pass
            self.task = None
