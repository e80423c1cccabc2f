"""核对 (reconcile) a surveyed camera against the video private network's own camera list.

Seed 000 §二.3, public toilets step (2): every camera found by the offline survey is compared
with the video-network rows (`source: video_net`, loaded from the network's export) by network
ID. A camera is playable when the network knows it and reports it online; the outcome is written
on the surveyed row (核对结果) so step (3) binds only playable cameras. The network rows are
reference data: they are read whatever the actor's scope, but only the surveyed row (which the
action reached through its grant and scope) is changed.
"""
from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from specadmin.runtime.entities.service import ActionCall

MATCHED, OFFLINE, MISSING, NO_ID, SELF = "一致（在线）", "专网离线", "专网无此编号", "缺少视频专网编号", "专网数据无需核对"


async def reconcile(call: "ActionCall") -> dict[str, Any]:
    row = call.row
    camera = call.service.table
    if row.get("source") == "video_net":
        return {"changed": {}, "result": SELF}
    network_id = (row.get("network_id") or "").strip()
    online = None
    if network_id:
        found = await camera.select(camera.online).where(
            camera.network_id == network_id, camera.source == "video_net").limit(1)
        online = found[0]["online"] if found else None
    note = NO_ID if not network_id else MISSING if online is None else MATCHED if online else OFFLINE
    changed = {"reconciled": True, "playable": bool(online), "reconcile_note": note,
               "reconciled_at": dt.datetime.now().replace(microsecond=0)}
    await camera.update({getattr(camera, k): v for k, v in changed.items()}).where(camera.id == row["id"])
    return {"changed": changed, "result": note}
