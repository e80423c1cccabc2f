"""app.yaml `map: {tiles, attribution, center, zoom}`: the base map of every map page and point picker.

Without `tiles` (or when its tiles fail to load) the pages draw a plain coordinate grid, so they work
offline. `tiles` is a Leaflet URL template (`https://.../{z}/{x}/{y}.png`); its origin is added to the
pages' img-src (runtime/maps/csp.py; the CSP allows only the app's own images otherwise).
"""
from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

APP_KEY = "map"
DEFAULT_CENTER = (116.397, 39.909)  # 天安门
DEFAULT_ZOOM = 12
APP_SCHEMA = {"type": "object", "additionalProperties": False,
              "description": "base map of map pages and point pickers (runtime/maps)",
              "properties": {
                  "tiles": {"type": "string", "maxLength": 500,
                            "description": "tile URL template with {z}, {x}, {y}; none: a coordinate grid"},
                  "attribution": {"type": "string", "maxLength": 200},
                  "center": {"type": "array", "minItems": 2, "maxItems": 2, "items": {"type": "number"},
                             "description": "[lng, lat] shown first"},
                  "zoom": {"type": "integer", "minimum": 1, "maximum": 18}}}


def map_settings(app: Any) -> dict[str, Any]:
    raw = app.section(APP_KEY).get("app.yaml") or {}
    return {"tiles": raw.get("tiles") or "", "attribution": raw.get("attribution") or "",
            "center": list(raw.get("center") or DEFAULT_CENTER), "zoom": raw.get("zoom") or DEFAULT_ZOOM}


def tiles_problem(tiles: str) -> str | None:
    parts = urlsplit(tiles)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return "must be an http(s) URL"
    missing = [p for p in ("{z}", "{x}", "{y}") if p not in tiles]
    return f"lacks {', '.join(missing)}" if missing else None


def tile_origin(tiles: str) -> str:
    """The origin the CSP must allow images from (`{s}` subdomains: any subdomain of the host)."""
    parts = urlsplit(tiles)
    host = parts.netloc.replace("{s}.", "*.")
    return f"{parts.scheme}://{host}"


def check_tiles(spec):
    """SA217: app.yaml `map: {tiles}` an http(s) template with {z}, {x} and {y}."""
    tiles = (spec.app.section(APP_KEY).get("app.yaml") or {}).get("tiles")
    if tiles:
        problem = tiles_problem(tiles)
        if problem:
            yield spec.error(None, (APP_KEY, "tiles"), f"map tiles {problem} (with {{z}}, {{x}} and {{y}})")
