"""Built-in plugin `attachments`: the files of `type: file` fields (runtime/attachments/store.py):
their records table, their API routes, their removal with their row (a hook on every entity), and
at start-up the sweep of blobs no record names."""
from __future__ import annotations

import contextlib

from specadmin.runtime.attachments.routes import file_handlers
from specadmin.runtime.attachments.store import forget_row, sweep
from specadmin.runtime.attachments.table import attachment_table
from specadmin.runtime.plugin import EntityHooks, Plugin


def _routes(ctx, options) -> list:
    return file_handlers([e.name for e in ctx.app.entities if any(f.type == "file" for f in e.fields)])


async def _row_deleted(event) -> None:
    await forget_row(event.ctx, event.entity, event.row_id)


@contextlib.asynccontextmanager
async def _swept(ctx, options):
    await sweep(ctx)
    yield


plugin = Plugin(name="attachments", label="附件", builtin=True, order=55, routes=_routes,
                hooks={"*": EntityHooks(after_delete=_row_deleted)}, tables=(attachment_table,),
                lifespan=(_swept,))
