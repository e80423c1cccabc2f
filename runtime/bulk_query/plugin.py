"""Built-in plugin `bulk_query`: upload a list of keys, look them up, export the results (screen key `bulk_query:`)."""
from __future__ import annotations

from specadmin.runtime.bulk_query import actions
from specadmin.runtime.bulk_query.routes import bulk_query_handlers
from specadmin.runtime.plugin import Plugin

plugin = Plugin(name="bulk_query", label="批量查询", builtin=True, order=91,
                handlers={"query_pending": actions.query_pending, "query_all": actions.query_all},
                routes=lambda ctx, options: bulk_query_handlers(ctx.app))
