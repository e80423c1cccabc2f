"""Which version of its flow a row runs on: a plugin table (`specadmin_workflow_run`), one row per started run.

A row's first action records the flow's published version; every later action of that row reads its
actions from the recorded version, so publishing a new version (a spec change and a restart) leaves
running rows on the one they started with while new rows start on the new one.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from piccolo.columns import BigInt, Varchar
from piccolo.table import Table

if TYPE_CHECKING:
    from specadmin.plugins.workflow.model import Flow
    from specadmin.runtime.app.context import AppContext

TABLE = "specadmin_workflow_run"


def run_table() -> type[Table]:
    class WorkflowRun(Table, tablename=TABLE):
        entity = Varchar(length=64, index=True)
        row_id = BigInt(index=True)
        flow = Varchar(length=64)
        version = Varchar(length=40)

    return WorkflowRun


async def version_of(ctx: "AppContext", flow: "Flow", row_id: int) -> str | None:
    """The version the row's run started on, or None before its first action."""
    t = ctx.runtime_table(TABLE)
    rows = await t.select(t.version).where(t.entity == flow.entity, t.row_id == row_id).limit(1)
    return rows[0]["version"] if rows else None


async def record_version(ctx: "AppContext", flow: "Flow", row_id: int) -> None:
    """Start the row's run on the published version (inside the action's transaction, after the row's claim)."""
    if await version_of(ctx, flow, row_id) is None:
        t = ctx.runtime_table(TABLE)
        await t.insert(t(entity=flow.entity, row_id=row_id, flow=flow.name, version=flow.published))
