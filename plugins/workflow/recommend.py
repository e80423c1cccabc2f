"""推荐单位 of the 交办 picker: the orgs a list entity names for a row (a flow's `recommend:`).

`recommend: {entity: responsibility, match: {event_type: event_type}, orgs: orgs, requirement: requirement}`
reads the rows of `entity` whose `match` fields (theirs: the row's) equal the row's values; a matched ref to
a tree entity (one with `tree:` and a `path` field) also matches the value's ancestors, the nearest first, so
an entry on a parent type applies to its children. Each org appears once, with the requirement of the most
specific entry naming it.
"""
from __future__ import annotations

from typing import Any

from specadmin.plugins.workflow.views import labels


async def _candidates(ctx: Any, field: Any, value: Any) -> list:
    """The value, then its ancestors (nearest first) when the field refers to a tree with paths."""
    if field is None or field.type != "ref" or not isinstance(value, int):
        return [value]
    target = ctx.app.entity(field.to)
    if not getattr(target, "tree", None) or not target.has_field("path"):
        return [value]
    t = ctx.table(field.to)
    rows = await t.select(t.path).where(t._meta.primary_key == value)
    path = (rows[0]["path"] if rows else "") or ""
    ids = [int(p) for p in path.strip("/").split("/") if p.isdigit()]
    above = [i for i in reversed(ids) if i != value]
    return [value, *above]


async def recommended(ctx: Any, flow: Any, raw: dict) -> list[dict]:
    """[{org, org_name, requirement}] for the row; [] without `recommend:` or without a matching entry."""
    spec = flow.recommend
    if not spec:
        return []
    entity = ctx.app.entity(spec["entity"])
    table = ctx.table(spec["entity"])
    ours = ctx.app.entity(flow.entity)
    conditions, ranked = [], None
    for theirs, mine in spec["match"].items():
        value = raw.get(mine)
        if value is None:
            return []
        options = await _candidates(ctx, ours.field(mine) if ours.has_field(mine) else None, value)
        conditions.append(getattr(table, theirs).is_in(options))
        if len(options) > 1 and ranked is None:
            ranked = (theirs, options)
    requirement = spec.get("requirement")
    columns = [table._meta.primary_key] + [getattr(table, k) for k in spec["match"]]
    if requirement:
        columns.append(getattr(table, requirement))
    entries = await table.select(*columns).where(*conditions).order_by(table._meta.primary_key)
    if ranked:  # the most specific entry first
        entries.sort(key=lambda e: ranked[1].index(e[ranked[0]]))
    if not entries:
        return []
    join = ctx.join_table(spec["entity"], spec["orgs"])
    links = await join.select(join.owner, join.target).where(
        join.owner.is_in([e["id"] for e in entries])).order_by(join._meta.primary_key)
    by_entry: dict[int, list[int]] = {}
    for link in links:
        by_entry.setdefault(link["owner"], []).append(link["target"])
    names = await labels(ctx, entity.field(spec["orgs"]).to, {link["target"] for link in links})
    out, seen = [], set()
    for e in entries:
        for org in by_entry.get(e["id"], ()):
            if org not in seen:
                seen.add(org)
                out.append({"org": org, "org_name": names.get(org) or f"#{org}",
                            "requirement": (e.get(requirement) or "") if requirement else ""})
    return out
