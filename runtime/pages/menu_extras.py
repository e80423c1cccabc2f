"""What plugins add to the page menu: their own pages (`Plugin.menu_entries`) and red counts beside
entries (`Plugin.menu_badges`, e.g. the workflow's 待办数角标), read once per page request by a
before_request hook and kept on `request.state` for `support.menu_groups`."""
from __future__ import annotations

from typing import Any

SKIP = ("/api/", "/static/", "/ext/", "/admin", "/schema", "/login")


async def menu_extras(request: Any) -> None:
    if request.method != "GET" or request.url.path.startswith(SKIP):
        return
    user = request.scope.get("user")
    if user is None or getattr(user, "anonymous", False):
        return
    ctx = request.app.state.ctx
    request.state.menu_entries = ctx.plugins.menu_entries(ctx, user)
    request.state.menu_badges = await ctx.plugins.menu_badges(ctx, user)
