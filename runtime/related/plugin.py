"""Built-in plugin `related`: child rows listed (and charted) on a parent's detail page (screen key `related:`)."""
from __future__ import annotations

from specadmin.runtime.plugin import Plugin
from specadmin.runtime.related.panel import related_panels
from specadmin.runtime.related.routes import RELATED_HANDLERS

plugin = Plugin(name="related", label="关联列表", builtin=True, order=92,
                routes=lambda ctx, options: RELATED_HANDLERS, detail_panels=(related_panels,))
