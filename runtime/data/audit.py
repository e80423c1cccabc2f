"""The operation log: who changed what, when, with before and after. Append-only."""
from __future__ import annotations

import datetime as dt
import json
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from specadmin.runtime.app.context import AppContext
    from specadmin.runtime.security.principal import Principal


def _dump(values: dict[str, Any] | None) -> str | None:
    if values is None:
        return None
    return json.dumps(values, ensure_ascii=False, default=str, sort_keys=True)


async def record(ctx: "AppContext", principal: "Principal | None", op_type: str, subject_type: str,
                 subject_id: Any, subject_name: Any, before: dict | None = None, after: dict | None = None) -> None:
    oplog = ctx.table("oplog")
    if principal is not None and not principal.user_id and principal.attrs.get("api_caller"):
        # An API caller (data feeds) has no user row: keep who it was in the entry instead.
        after = {**(after or {}), "api_caller": principal.username}
    await oplog.insert(oplog(
        at=dt.datetime.now().replace(microsecond=0), operator=(principal.user_id or None) if principal else None,
        op_type=op_type, subject_type=subject_type, subject_id=str(subject_id) if subject_id is not None else None,
        subject_name=str(subject_name)[:200] if subject_name is not None else None,
        before=_dump(before), after=_dump(after),
    ))
