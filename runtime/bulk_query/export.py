"""导出结果 / 未查询导出 of one batch: the items screen's export (its grant, street scope, export
columns, masking unless that grant holds `unmask` — EntityService.export_rows, which then logs the
clear view), written by runtime.sheets.writer."""
from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from specadmin.runtime.data import audit
from specadmin.runtime.data.export import write_batches
from specadmin.runtime.entities.service import EntityService
from specadmin.runtime.errors import NotFound
from specadmin.runtime.bulk_query.engine import bulk_screen
from specadmin.runtime.sheets.writer import SheetWriter

if TYPE_CHECKING:
    from specadmin.runtime.app.context import AppContext
    from specadmin.runtime.security.principal import Principal


async def export_batch(ctx: AppContext, principal: Principal, screen_name: str, batch_id: int, path: Path, *,
                       pending_only: bool = False) -> int:
    """Write the batch's items (only the ones not matched with pending_only) to `path`; returns the row count."""
    screen, spec = bulk_screen(ctx, screen_name)
    if not spec.items_screen:
        raise NotFound("该批量查询没有配置结果页面")
    batches = EntityService(ctx, screen.entity)
    await batches._fetch_raw(principal, batches.grants(principal, "list", screen.name), batch_id)  # 404 outside scope
    service = EntityService(ctx, spec.items)
    filters = {spec.batch_field: batch_id} | ({"queried": False} if pending_only else {})
    columns, chunks = await service.export_rows(principal, screen=spec.items_screen, filters=filters,
                                                how="bulk_query_export")
    await audit.record(ctx, principal, "action", spec.items, None, service.entity.label, None,
                       {"export": spec.items_screen, "format": "xlsx", "batch": batch_id, "pending_only": pending_only})
    title = ("未查询" if pending_only else "") + service.entity.label
    with SheetWriter(path, "xlsx", [c["label"] for c in columns], title=title) as writer:
        return await write_batches(writer, columns, chunks)
