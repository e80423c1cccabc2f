"""Built-in plugin `console`: piccolo-admin at /admin/ for superusers, logs kept read-only there too."""
from __future__ import annotations

from pathlib import Path

from specadmin.runtime.console.mount import admin_handlers
from specadmin.runtime.logs.admin import guard_append_only
from specadmin.runtime.plugin import Plugin


def _routes(ctx, options) -> list:
    if not options.with_admin:
        return []
    guard_append_only(ctx, ctx.package.admin.TABLE_CONFIGS)
    return admin_handlers(ctx)


plugin = Plugin(name="console", label="运维控制台", builtin=True, order=99, routes=_routes,
                static=Path(__file__).resolve().parent / "static")
