"""Geo filters in SQL: radius (`<field>_near`) and polygon (`<field>_within`) on a geo field's two
double columns `<field>_lng` / `<field>_lat`, and the grid cell of a point for map clusters.

Pure arithmetic, the same on SQLite and PostgreSQL, every value a parameter:
- near: a bounding box on the two columns (an index on them can serve it), then the equirectangular
  distance `((lng - lng0) * kx)^2 + ((lat - lat0) * ky)^2 <= r^2`, kx = 111320 m * cos(lat0) per
  degree of longitude, ky = 110540 m per degree of latitude (within 0.5 % up to tens of km);
- within: a bounding box, then ray casting: per edge (xi, yi)-(xj, yj) not horizontal,
  `CASE WHEN (lat < yi) <> (lat < yj) AND lng < slope * (lat - yi) + xi THEN 1 ELSE 0 END`;
  the edges crossed to the east of the point are summed, an odd sum is inside.
"""
from __future__ import annotations

import math
from typing import Any

from piccolo.columns.combination import WhereRaw
from piccolo.querystring import QueryString

from specadmin.runtime.data.where import combine_and

KX = 111320.0  # metres per degree of longitude at the equator
KY = 110540.0  # metres per degree of latitude



def columns(table, field: str) -> tuple[Any, Any]:
    return getattr(table, f"{field}_lng"), getattr(table, f"{field}_lat")


def in_box(table, field: str, west: float, south: float, east: float, north: float) -> Any:
    lng, lat = columns(table, field)
    return combine_and([lng >= west, lng <= east, lat >= south, lat <= north])


def near(table, field: str, lng0: float, lat0: float, meters: float) -> Any:
    """The rows whose point lies within `meters` of (lng0, lat0)."""
    kx = KX * max(math.cos(math.radians(lat0)), 1e-6)
    dlng, dlat = meters / kx, meters / KY
    lng, lat = columns(table, field)
    distance = WhereRaw("(({} - {}) * {}) * (({} - {}) * {}) + (({} - {}) * {}) * (({} - {}) * {}) <= {}",
                        lng, lng0, kx, lng, lng0, kx, lat, lat0, KY, lat, lat0, KY, meters * meters)
    return combine_and([in_box(table, field, lng0 - dlng, lat0 - dlat, lng0 + dlng, lat0 + dlat), distance])


def within(table, field: str, points: list[tuple[float, float]]) -> Any:
    """The rows whose point lies inside the polygon (vertices in order, not closed)."""
    lng, lat = columns(table, field)
    total: QueryString | None = None
    for (xi, yi), (xj, yj) in zip(points, points[1:] + points[:1]):
        if yi == yj:  # a horizontal edge is never crossed by the eastward ray
            continue
        term = QueryString("CASE WHEN ({} < {}) <> ({} < {}) AND {} < {} * ({} - {}) + {} THEN 1 ELSE 0 END",
                           lat, yi, lat, yj, lng, (xj - xi) / (yj - yi), lat, yi, xi)
        total = term if total is None else QueryString("{} + {}", total, term)
    xs, ys = [p[0] for p in points], [p[1] for p in points]
    box = in_box(table, field, min(xs), min(ys), max(xs), max(ys))
    if total is None:  # every edge horizontal: a polygon with no area
        return combine_and([box, table._meta.primary_key < 0])
    return combine_and([box, WhereRaw("({}) % 2 = 1", total)])
