"""HTTP routes of map pages (registered by the `maps` plugin):

GET /api/<entity>/map?screen=S&bbox=w,s,e,n&zoom=z&<filters>   points or clusters in view (runtime/maps/query.py)
GET /s/<screen>/map?<list parameters>                          the map page (Leaflet, static/map.js)

Both check the screen's `list` grant; the rows are those of the screen's list for the same tab,
keyword and filters, inside the user's data scope.
"""
from __future__ import annotations

import json
from typing import Any

from litestar import Request, Response, get
from litestar.response import Template

from specadmin.runtime.errors import NotFound
from specadmin.runtime.maps.query import map_rows
from specadmin.runtime.maps.settings import map_settings
from specadmin.runtime.pages.common import PAGE_ERRORS, grant_for, screen_of
from specadmin.runtime.pages.support import ctx_of, layout

LEAFLET = ("vendor/leaflet/leaflet.js", "vendor/leaflet/leaflet.css")


def map_api(entity: str, label: str) -> Any:
    @get(f"/api/{entity}/map", operation_id=f"map_{entity}", tags=[label],
         summary=f"{label}：地图（bbox=西,南,东,北 与 zoom；点位不超过 1000 个时逐点返回，否则按网格聚合）")
    async def rows_on_map(request: Request) -> dict[str, Any]:
        service = request.app.state.services[entity]
        return await map_rows(request.app.state.ctx, service, request.user, entity, request.query_params)

    return rows_on_map


@get("/s/{name:str}/map", name="page_map", exception_handlers=PAGE_ERRORS)
async def map_page(request: Request, name: str) -> Response:
    ctx = ctx_of(request)
    screen = screen_of(request, name)
    spec = ctx.app.screen(name)
    if spec.map is None:
        raise NotFound("这个页面没有地图")
    grant_for(request, name, "list")
    settings = map_settings(ctx.app)
    query = str(request.url.query or "")
    field = ctx.app.entity(spec.entity).field(spec.map.field)
    config = {"api": f"/api/{spec.entity}/map", "screen": name, "query": query, "field": spec.map.field,
              "detail": f"/s/{name}/", "list": f"/s/{name}", **settings}
    context = layout(request, name, title=f"{screen['label']} 地图", screen=screen, screen_name=name,
                     step="地图", screen_url=f"/s/{name}", list_url=f"/s/{name}" + (f"?{query}" if query else ""),
                     field_label=field.label, map_config=json.dumps(config, ensure_ascii=False), leaflet=LEAFLET)
    return Template(template_name="map.html", context=context)
