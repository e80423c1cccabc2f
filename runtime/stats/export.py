"""Export of a statistic: GET /api/stats/<screen>/export.xlsx | export.csv.

The same period, filters, sort and data scope as the page; needs the `export` grant on the
screen. Headers are the columns' Chinese labels, the last row is 合计. Every export is written
to the operation log like entity exports.
"""
from __future__ import annotations

import datetime as dt
from typing import Any

from litestar import Request, Response, get

from specadmin.runtime.data import audit
from specadmin.runtime.data.export import export_columns
from specadmin.runtime.sheets.writer import bytes_response, write_sheet


def columns_of(request: Request, screen_name: str) -> list[dict[str, Any]]:
    """The statistic's columns as every export decides them (its export_columns, else its list)."""
    ctx = request.app.state.ctx
    return export_columns(ctx, ctx.app.screen(screen_name))


def cell(item: dict[str, Any], column: dict[str, Any]) -> Any:
    """Numbers stay numbers (Excel can sum them); everything else reads as on the page."""
    from specadmin.runtime.pages.support import cell_text

    value = item.get(column["name"])
    if column.get("type") in ("integer", "decimal") and isinstance(value, (int, float)) and not isinstance(value, bool):
        return value
    return cell_text(item, column)


def table_rows(columns: list[dict], result: dict[str, Any]) -> list[list[Any]]:
    rows = [[cell(item, c) for c in columns] for item in result["items"]]
    totals = result.get("totals") or {}
    if rows:
        rows.append(["合计" if i == 0 else totals.get(c["name"], "") if c["name"] in totals else ""
                     for i, c in enumerate(columns)])
    return rows


def render(fmt: str, title: str, columns: list[dict], rows: list[list[Any]]) -> bytes:
    return write_sheet(None, fmt, [c["label"] for c in columns], rows, title=title)


async def _export(request: Request, screen: str, fmt: str, date_from: dt.date | None,
                  date_to: dt.date | None) -> Response:
    from specadmin.runtime.stats.params import stat_params

    p = stat_params(request, screen)
    service = request.app.state.stats
    # all groups (bounded by MAX_GROUPS), in the page's order
    result = await service.run(request, screen, date_from, date_to, p["filters"], sort=p["sort"], action="export",
                               level=p["level"])
    spec = request.app.state.ctx.app.screen(screen)
    columns = columns_of(request, screen)
    body = render(fmt, spec.label, columns, table_rows(columns, result))
    await audit.record(request.app.state.ctx, request.user, "action", spec.entity, None, spec.label, None,
                       {"export": screen, "format": fmt, "date_from": result["date_from"], "date_to": result["date_to"],
                        "filters": {k: str(v) for k, v in p["filters"].items() if v not in (None, "")}})
    return bytes_response(body, f"{spec.label}.{fmt}")


@get("/api/stats/{screen:str}/export.xlsx", tags=["统计"], summary="统计导出（Excel）")
async def stats_export_xlsx(request: Request, screen: str, date_from: dt.date | None = None,
                            date_to: dt.date | None = None) -> Response:
    return await _export(request, screen, "xlsx", date_from, date_to)


@get("/api/stats/{screen:str}/export.csv", tags=["统计"], summary="统计导出（CSV）")
async def stats_export_csv(request: Request, screen: str, date_from: dt.date | None = None,
                           date_to: dt.date | None = None) -> Response:
    return await _export(request, screen, "csv", date_from, date_to)


EXPORT_HANDLERS = [stats_export_xlsx, stats_export_csv]
