"""Geo filters of a `type: geo` field, as text (pure helpers; SQL in runtime/data/geo_sql.py).

A geo field listed in a screen's `filters:` is filtered by two query parameters:
- `<field>_near=lng,lat,meters`: the points within `meters` of (lng, lat);
- `<field>_within=lng,lat;lng,lat;...`: the points inside a polygon of 3 to MAX_VERTICES vertices.
A malformed value is a ValueError with the problem in Chinese (the list parser makes it a 400).
"""
from __future__ import annotations

from typing import Any

MAX_VERTICES = 200
MAX_METERS = 1_000_000  # 1000 km: beyond it the flat-earth distance is no longer honest
TEXT_LIMIT = MAX_VERTICES * 50  # a polygon's text is never cut short: longer is refused
KINDS = ("near", "within")
NEAR_PROBLEM = "格式应为 经度,纬度,半径（米），如 116.37,39.91,500"
WITHIN_PROBLEM = f"格式应为 经度,纬度;经度,纬度;...（3 到 {MAX_VERTICES} 个顶点）"


def geo_filter(entity: Any, key: str) -> tuple[str, str] | None:
    """(field, kind) when `key` is `<geo field>_near` or `<geo field>_within` of the entity."""
    for kind in KINDS:
        base = key[: -len(kind) - 1]
        if key.endswith("_" + kind) and base and entity.has_field(base) and entity.field(base).type == "geo":
            return base, kind
    return None


def _point(text: str, problem: str) -> tuple[float, float]:
    parts = text.split(",")
    if len(parts) != 2:
        raise ValueError(problem)
    return _coords(parts[0], parts[1], problem)


def _coords(lng_text: str, lat_text: str, problem: str) -> tuple[float, float]:
    try:
        lng, lat = float(lng_text), float(lat_text)
    except ValueError:
        raise ValueError(problem) from None
    if not (-180 <= lng <= 180 and -90 <= lat <= 90):  # also refuses nan and inf
        raise ValueError("经度应在 -180 到 180 之间，纬度应在 -90 到 90 之间")
    return lng, lat


def parse_near(text: str) -> tuple[float, float, float]:
    """(lng, lat, meters) of a `_near` value."""
    parts = text.strip().split(",")
    if len(parts) != 3:
        raise ValueError(NEAR_PROBLEM)
    lng, lat = _coords(parts[0], parts[1], NEAR_PROBLEM)
    try:
        meters = float(parts[2])
    except ValueError:
        raise ValueError(NEAR_PROBLEM) from None
    if not 0 < meters <= MAX_METERS:
        raise ValueError(f"半径应大于 0 且不超过 {MAX_METERS} 米")
    return lng, lat, meters


def parse_within(text: str) -> list[tuple[float, float]]:
    """The vertices of a `_within` value (a closing vertex equal to the first is dropped)."""
    text = text.strip()
    if len(text) > TEXT_LIMIT:
        raise ValueError(f"多边形过长（最多 {MAX_VERTICES} 个顶点）")
    points = [_point(p, WITHIN_PROBLEM) for p in text.strip(";").split(";")]
    if len(points) > 1 and points[0] == points[-1]:
        points.pop()
    if not 3 <= len(points) <= MAX_VERTICES:
        raise ValueError(WITHIN_PROBLEM)
    return points


def check(kind: str, text: str) -> str:
    """The value's text once it parses (ValueError otherwise), as links echo it."""
    (parse_near if kind == "near" else parse_within)(text)
    return text.strip()


def parse_bbox(text: str) -> tuple[float, float, float, float]:
    """(west, south, east, north) of a map view's `bbox=w,s,e,n`."""
    parts = text.strip().split(",")
    problem = "格式应为 西,南,东,北（经纬度）"
    if len(parts) != 4:
        raise ValueError(problem)
    w, s = _coords(parts[0], parts[1], problem)
    e, n = _coords(parts[2], parts[3], problem)
    if not (w < e and s < n):
        raise ValueError("范围应西小于东、南小于北")
    return w, s, e, n
