"""Built-in plugin `attachments`: the files of `type: file` fields (runtime/attachments/store.py):
their records table, their API routes, their removal with their row (a hook on every entity), the
files of custom actions' file parameters (uploaded first, attached by the action's `set`), and at
start-up the sweep of blobs no record names."""
from __future__ import annotations

import contextlib

from specadmin.runtime.attachments.ext_routes import ext_file_router
from specadmin.runtime.attachments.panels import file_views
from specadmin.runtime.attachments.routes import action_file_handlers, file_handlers
from specadmin.runtime.attachments.store import (attach_action_files, check_action_files, files_view, forget_row,
                                                 rotate_files, sweep)
from specadmin.runtime.attachments.table import attachment_table
from specadmin.runtime.plugin import EntityHooks, Plugin


def _routes(ctx, options) -> list:
    actions = sorted({(s.entity, a.name) for s in ctx.app.screens for a in s.custom_actions
                      if any(p.type == "file" for p in a.params)})
    entities = [e.name for e in ctx.app.entities if any(f.type == "file" for f in e.fields)]
    return file_handlers(entities) + action_file_handlers(actions) + ([ext_file_router()] if entities else [])


async def _row_deleted(event) -> None:
    await forget_row(event.ctx, event.entity, event.row_id)


@contextlib.asynccontextmanager
async def _swept(ctx, options):
    await sweep(ctx)
    yield


plugin = Plugin(name="attachments", label="附件", builtin=True, order=55, routes=_routes,
                hooks={"*": EntityHooks(after_delete=_row_deleted, before_update=check_action_files,
                                       after_update=attach_action_files)}, tables=(attachment_table,),
                lifespan=(_swept,), row_views=(files_view,), key_holders=(rotate_files,),
                field_views=(file_views,))
