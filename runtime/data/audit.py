"""The operation log: who changed what, when, with before and after. Append-only: who acted is
kept as written (id and name), also after the account is deleted."""
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


def operator_name(principal: "Principal | None") -> str | None:
    """“姓名（账号）” of whoever acted, as the log keeps it."""
    if principal is None or principal.anonymous:
        return None
    return f"{principal.name}（{principal.username}）"[:120]


async def record(ctx: "AppContext", principal: "Principal | None", op_type: str, subject_type: str,
                 subject_id: Any, subject_name: Any, before: dict | None = None, after: dict | None = None) -> None:
    oplog = ctx.table("oplog")
    if principal is not None and not principal.user_id and principal.attrs.get("api_caller"):
        # An API caller (data feeds) has no user row: keep who it was in the entry instead.
        after = {**(after or {}), "api_caller": principal.username}
    user_id = (principal.user_id or None) if principal else None
    await oplog.insert(oplog(
        at=dt.datetime.now().replace(microsecond=0), operator=user_id, operator_id=user_id,
        operator_name=operator_name(principal), op_type=op_type, subject_type=subject_type, subject_id=str(subject_id) if subject_id is not None else None,
        subject_name=str(subject_name)[:200] if subject_name is not None else None,
        before=_dump(before), after=_dump(after),
    ))
