"""Built-in plugin `maps`: a map page for screens with `map:` (points, clusters, a polygon-draw tool),
the point picker on forms with a geo field, and app.yaml `map:` (tiles, attribution, center, zoom; the tiles' origin allowed as an image source).
The radius and polygon filters themselves are list filters (runtime/data/geo_sql.py)."""
from __future__ import annotations

import json
from pathlib import Path

from specadmin.runtime.maps.csp import tile_middleware
from specadmin.runtime.maps.routes import LEAFLET, map_api, map_page
from specadmin.runtime.maps.settings import APP_KEY, APP_SCHEMA, check_tiles, map_settings
from specadmin.runtime.pages.support import STATIC_DIRS, add_screen_tool
from specadmin.runtime.plugin import Check, Plugin

HERE = Path(__file__).parent


def _routes(ctx, options) -> list:
    entities = sorted({s.entity for s in ctx.app.screens if s.map})
    return [map_page, *[map_api(e, ctx.app.entity(e).label) for e in entities]]


def _template_globals(engine, ctx) -> None:
    """地图 among the list tools of each screen with `map:` (keeping its filters), and what the form's
    point picker needs (form.html): Leaflet's files when installed, the base map settings."""
    for s in ctx.app.screens:
        if s.map:
            add_screen_tool(engine, s.name, "地图", f"/s/{s.name}/map", "btn-map", keep_query=True)
    have = all(any((d / f).is_file() for d in STATIC_DIRS(ctx.app.theme)) for f in LEAFLET)
    engine.engine.globals["geo_picker"] = {"leaflet": LEAFLET if have else None,
                                           "config": json.dumps(map_settings(ctx.app), ensure_ascii=False)}


plugin = Plugin(name="maps", label="地图", builtin=True, order=92, app_keys={APP_KEY: APP_SCHEMA},
                checks=(Check("SA217", check_tiles, "地图底图"),), routes=_routes, middleware=tile_middleware,
                templates=HERE / "templates", static=HERE / "static", template_globals=_template_globals)
