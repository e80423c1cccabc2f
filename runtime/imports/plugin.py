"""Built-in plugin `imports`: spreadsheet import and export routes of every screen's entity, the
import batches (imports.yaml), and the purge of old error workbooks and exports (retention.py)."""
from __future__ import annotations

from pathlib import Path

from specadmin.runtime.imports import retention
from specadmin.runtime.imports.routes import transfer_handlers
from specadmin.runtime.plugin import Plugin


def _routes(ctx, options) -> list:
    return transfer_handlers([e.name for e in ctx.app.entities if ctx.app.screens_of(e.name)])


plugin = Plugin(name="imports", label="导入导出", builtin=True, order=50,
                modules=(Path(__file__).with_name("imports.yaml"),), routes=_routes, lifespan=(retention.lifespan,))
