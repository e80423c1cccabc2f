"""Built-in plugin `imports`: spreadsheet import and export routes of every screen's entity, the
import batches and the transfer jobs (imports.yaml); at start-up, uploads left by an interrupted
job are deleted (runtime/data/uploads.py); old error workbooks and exports are purged (retention.py)."""
from __future__ import annotations

import contextlib
from pathlib import Path

from specadmin.runtime.data.uploads import sweep
from specadmin.runtime.imports import retention
from specadmin.runtime.imports.routes import transfer_handlers
from specadmin.runtime.plugin import Plugin


def _routes(ctx, options) -> list:
    return transfer_handlers([e.name for e in ctx.app.entities if ctx.app.screens_of(e.name)])


@contextlib.asynccontextmanager
async def _uploads_swept(ctx, options):
    await sweep(ctx)
    yield


plugin = Plugin(name="imports", label="导入导出", builtin=True, order=50,
                modules=(Path(__file__).with_name("imports.yaml"),), routes=_routes,
                lifespan=(_uploads_swept, retention.lifespan))
