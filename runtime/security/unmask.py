"""Who sees sensitive values in clear (明文查看), decided here once, and the record of each time.

Masking is the default (runtime/data/rows.py RowShape.convert masks unless told otherwise). Clear
view needs the `unmask` action (specs/unmask.py) on every grant a read goes through: a request that
names its screen needs it on that screen; one that names none reads through each screen of the
entity the user may use (the union of their scopes), so it needs it on each of them. Superusers
hold it on every screen that offers it.

Every read that shows a value in clear is written to the operation log (type 明文查看) without
the values: the screens, how (list, read, export, bulk-query export), the row ids (a page, one
row) or the row count (an export), and which fields were in clear.
"""
from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

from specadmin.runtime.data import audit

if TYPE_CHECKING:
    from specadmin.runtime.app.context import AppContext
    from specadmin.runtime.security.principal import EffectiveGrant, Principal
    from specadmin.specs.model import Entity

OP_TYPE = "unmask"  # the operation log's type 明文查看 (runtime/logs/logs.yaml, dictionary oplog_type)
MAX_LOGGED_IDS = 200  # a page is at most this long; a longer list is logged by its count only


def granted(grants: Iterable[EffectiveGrant | None]) -> bool:
    """True when every grant the read goes through holds `unmask` (none given: masked)."""
    found = list(grants)
    return bool(found) and all(g is not None and g.clear_view for g in found)


def may_unmask(principal: Principal, screen: str) -> bool:
    """Whether this person sees the screen's sensitive values in clear (forms, error workbooks)."""
    return granted([principal.grant(screen)])


async def record_view(ctx: AppContext, principal: Principal, entity: Entity, screens: Sequence[str], how: str, *,
                      fields: Sequence[str], ids: Sequence[int] | None = None, rows: int | None = None,
                      extra: dict[str, Any] | None = None) -> None:
    """One operation-log entry for a read that showed `fields` of `entity` in clear. Nothing is
    written when no sensitive field was shown or no row was read."""
    count = len(ids) if ids is not None else rows
    if not fields or not count:
        return
    after: dict[str, Any] = {"screens": sorted(set(screens)), "by": how, "fields": list(fields), "rows": count}
    if ids is not None and len(ids) <= MAX_LOGGED_IDS:
        after["ids"] = list(ids)
    after.update(extra or {})
    one = ids[0] if ids is not None and len(ids) == 1 else None
    await audit.record(ctx, principal, OP_TYPE, entity.name, one, entity.label, None, after)
