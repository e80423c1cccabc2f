"""Custom-action handlers of a bulk-query batch screen: 查询 and 重新查询.

They run through EntityService.run_action, so the action grant and the batch screen's data
scope were checked before (a batch outside the user's street is skipped, never queried), and
the work shares the action's transaction.
"""
from __future__ import annotations

from typing import Any

from specadmin.runtime.bulk_query.engine import run_query


def _screen_of(call) -> str:
    """The bulk-query screen of the batch entity among the grants that allowed the action."""
    for screen, _ in call.grants:
        if screen.bulk_query is not None:
            return screen.name
    raise LookupError("no bulk_query screen among the action's grants")


async def query_pending(call) -> dict[str, Any]:
    """查询: look up the items not matched yet (all of them after upload; the misses later)."""
    result = await run_query(call.ctx, _screen_of(call), call.row["id"], only_pending=True, principal=call.principal)
    return {"changed": {"status": "done", "queried_count": result["queried_count"]}, "result": result}


async def query_all(call) -> dict[str, Any]:
    """重新查询: look up every item again, refreshing results already found (newer tests)."""
    result = await run_query(call.ctx, _screen_of(call), call.row["id"], only_pending=False, principal=call.principal)
    return {"changed": {"status": "done", "queried_count": result["queried_count"]}, "result": result}
