"""The related lists of a screen as a detail-page panel (`Plugin.detail_panels`): the rows below the
record's fields, each list with its chart, on the page of a row the reader has just read."""
from __future__ import annotations

from typing import Any

from specadmin.runtime.pages.support import cell_text, chart_assets
from specadmin.runtime.related.routes import related_for


async def related_panels(ctx: Any, request: Any, screen: str, row: dict) -> list[tuple[str, dict]]:
    lists = await related_for(request, screen, row["id"], read_checked=True)
    if not lists:
        return []
    related = [{**r, "rows": [[cell_text(i, c) for c in r["columns"]] for i in r["items"]]} for r in lists]
    charts = chart_assets(ctx) if any(r["chart"] for r in related) else {}
    return [("_related.html", {"related": related, **charts})]
