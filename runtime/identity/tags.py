"""Org tags drive rules, e.g. only orgs tagged 镇街城运中心 may escalate to the city centre.
Tags are stored as one comma-separated string (，、; also split) and compared whole."""
from __future__ import annotations

import re
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from specadmin.runtime.app.context import AppContext

SEPARATORS = re.compile(r"[,，、;；\s]+")


def split_tags(raw: str | None) -> set[str]:
    return {t for t in SEPARATORS.split(raw or "") if t}


async def org_has_tag(ctx: "AppContext", org_id: int | None, tag: str) -> bool:
    if org_id is None:
        return False
    org = ctx.table("org")
    rows = await org.select(org.tags).where(org.id == org_id, org.active == True)  # noqa: E712
    return bool(rows) and tag in split_tags(rows[0]["tags"])


async def orgs_tagged(ctx: "AppContext", tag: str) -> list[int]:
    """Ids of active orgs carrying the tag (the LIKE narrows, the split decides)."""
    org = ctx.table("org")
    rows = await org.select(org.id, org.tags).where(org.tags.like(f"%{tag}%"), org.active == True)  # noqa: E712
    return [r["id"] for r in rows if tag in split_tags(r["tags"])]
