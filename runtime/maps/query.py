"""The rows of a map view: points when few, clusters counted in SQL when many.

`GET /api/<entity>/map?screen=S&bbox=w,s,e,n&zoom=z&<list parameters>` reads the rows the screen's
list would show (grant, data scope, tab, level, keyword and filters through EntityService's one list
condition) whose point lies in the view. Up to MAX_POINTS of them come back as points
`{id, lng, lat, label}`; beyond that, as clusters `{lng, lat, count}`: the rows grouped on a grid of
cells (a quarter of a 256-pixel tile at that zoom, and never more than GRID x GRID cells in the view),
each at the mean of its points. (A cell number is CAST to an integer, which SQLite truncates and
PostgreSQL rounds: the grid sits half a cell apart on the two, every row still in exactly one cell.) `total` is always the number of rows in the view, and the counts of
the clusters add up to it: nothing is cut off silently.
"""
from __future__ import annotations

from typing import Any

from piccolo.querystring import QueryString
from specadmin.specs import geo
from specadmin.specs.model import Screen

from specadmin.runtime.data import geo_sql, list_query
from specadmin.runtime.data.where import combine_and
from specadmin.runtime.errors import BadRequest, NotFound

MAX_POINTS = 1000
GRID = 64
MAP_PARAMS = ("bbox", "zoom")


def map_screen(ctx, entity: str, name: str | None) -> Screen:
    """The screen named, of this entity, with a `map:`; 404 otherwise."""
    if not name:
        raise BadRequest("缺少参数 screen（带地图的页面）")
    screen = next((s for s in ctx.app.screens_of(entity) if s.name == name and s.map), None)
    if screen is None:
        raise NotFound(f"没有带地图的页面 {name}")
    return screen


def cell_size(zoom: int, box: tuple[float, float, float, float]) -> float:
    w, s, e, n = box
    return max(360.0 / 2 ** zoom / 4, (e - w) / GRID, (n - s) / GRID)


def read_zoom(text: str | None) -> int:
    try:
        zoom = int((text or "").strip())
    except ValueError:
        zoom = -1
    if not 0 <= zoom <= 20:
        raise BadRequest("查询参数 zoom 的值不正确（应为 0 到 20 之间的整数）")
    return zoom


async def map_rows(ctx, service, principal, entity: str, params) -> dict[str, Any]:
    screen = map_screen(ctx, entity, params.get("screen"))
    grants = service.grants(principal, "list", screen.name)
    try:
        box = geo.parse_bbox(params.get("bbox") or "")
    except ValueError as exc:
        raise BadRequest(f"查询参数 bbox 的值不正确（{exc}）") from None
    zoom = read_zoom(params.get("zoom"))
    given = {k: params.get(k) for k in params if k not in MAP_PARAMS and k not in ("page", "page_size")}
    query = list_query.parse(service.entity, [screen], given).check()
    table, field = service.table, screen.map.field
    where = combine_and([service.list_condition(principal, grants, tab=query.tab, q=query.q, filters=query.filters,
                                                level=query.level),
                         geo_sql.in_box(table, field, *box)])
    total = await table.count().where(where)
    lng, lat = geo_sql.columns(table, field)
    if total <= MAX_POINTS:
        label = _label(ctx, service, principal, grants, screen, table)
        rows = await table.select(table._meta.primary_key.as_alias("id"), lng.as_alias("lng"), lat.as_alias("lat"),
                                  label.as_alias("label")).where(where)
        points = [{"id": r["id"], "lng": r["lng"], "lat": r["lat"],
                   "label": "" if r["label"] is None else str(r["label"])} for r in rows]
        return {"total": total, "points": points, "clusters": []}
    cell = cell_size(zoom, box)
    inner = table.select(QueryString("CAST(({} - {}) / {} AS INTEGER)", lng, box[0], cell).as_alias("cx"),
                         QueryString("CAST(({} - {}) / {} AS INTEGER)", lat, box[1], cell).as_alias("cy"),
                         lng.as_alias("lng"), lat.as_alias("lat")).where(where)
    groups = await table.raw(
        "SELECT cx, cy, COUNT(*) AS n, AVG(lng) AS lng, AVG(lat) AS lat FROM ({}) AS cells GROUP BY cx, cy",
        inner.querystrings[0])
    clusters = [{"lng": g["lng"], "lat": g["lat"], "count": g["n"]} for g in groups]
    return {"total": total, "points": [], "clusters": clusters, "cell": cell}


def _label(ctx, service, principal, grants, screen: Screen, table) -> Any:
    """The label column: the field (a ref: its target's display field), or the id when the user's
    grant hides the field."""
    name = screen.map.label
    visible = service.visible_fields(principal, grants)
    if visible is not None and name not in visible:
        return table._meta.primary_key
    f = service.entity.field(name)
    if f.type == "ref" and not f.key:
        target = ctx.app.entity(f.to)
        return getattr(getattr(table, name), target.display)
    return getattr(table, name)
