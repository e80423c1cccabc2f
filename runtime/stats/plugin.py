"""Built-in plugin `stats`: statistics screens (API, page, export), big-screen feeds, and the
drill-down of a stat cell into a list (`?stat=…`, runtime/stats/drill.py)."""
from __future__ import annotations

from specadmin.runtime.plugin import Plugin
from specadmin.runtime.stats.drill import kept, narrowing
from specadmin.runtime.stats.routes import STATS_HANDLERS, StatsService


def _configure(config, ctx, options) -> None:
    config.state["stats"] = StatsService(ctx)


plugin = Plugin(name="stats", label="统计与大屏", builtin=True, order=90,
                routes=lambda ctx, options: STATS_HANDLERS, configure=_configure,
                list_narrowing=narrowing, list_kept=kept)
