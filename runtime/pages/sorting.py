"""Sorting a list page by a column: `?sort=<field>` / `?sort=-<field>` read from the page's query
(the same parameter as the JSON API, runtime/data/queries.py `ordering`), and the header links that
choose it: a click sorts by the column ascending, a second click descending (▲ / ▼ shows which)."""
from __future__ import annotations

from typing import Any

from specadmin.runtime.data.queries import sortable
from specadmin.runtime.pages.support import with_params


def chosen_sort(entity, text: str | None) -> str | None:
    """The `sort` parameter when it names a sortable column, else None (the screen's own order)."""
    value = (text or "").strip()[:64]
    return value if value and sortable(entity, value.lstrip("-")) else None


def column_heads(entity, name: str, columns: list[dict[str, Any]], params: list[tuple[str, str]],
                 sort: str | None) -> list[dict[str, Any]]:
    """Each list column with `sort_url` (None when it cannot be sorted) and `sorted` ("asc"/"desc"
    when the list is ordered by it on the user's choice)."""
    out = []
    for c in columns:
        col = c["name"]
        state = "asc" if sort == col else "desc" if sort == f"-{col}" else None
        url = (f"/s/{name}?" + with_params(params, page=None, sort=f"-{col}" if state == "asc" else col)
               if sortable(entity, col) else None)
        out.append({**c, "sort_url": url, "sorted": state})
    return out
