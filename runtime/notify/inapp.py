"""In-app messages (`channel: inapp`): one `message` row per recipient user per group per day.

A run groups the rows matching `where` by `group_by` (Kaiping: the supervising unit), counts
them, and writes the templated title/text/link for every active user at the end of `to_users`
(a ref to org: each active user of that org; a ref to user: that user), optionally only users
holding one of `roles`. The unique `dedupe_key` ("<notification>:<group>:<user>:<day>") makes a
re-run, a restart or a second worker write nothing new that day, like the SMS outbox.
Templates may use {count}, {group}, {group_id} and {day}; values are substituted literally.
"""
from __future__ import annotations

import datetime as dt
import logging
import sqlite3
from collections import defaultdict
from typing import TYPE_CHECKING, Any

import asyncpg

from specadmin.runtime.data.where import where_of
from specadmin.runtime.notify.paths import column_of, target_of
from specadmin.specs.placeholders import render

# What a unique-key clash raises: sqlite3 through aiosqlite, asyncpg on PostgreSQL.
DUPLICATE = (sqlite3.IntegrityError, asyncpg.UniqueViolationError)

if TYPE_CHECKING:
    from specadmin.runtime.app.context import AppContext

log = logging.getLogger("specadmin.notify")


async def groups(ctx: AppContext, name: str) -> dict[int, dict[str, Any]]:
    """{group id: {count, label, targets}} for the groups that currently have matching rows."""
    n = ctx.app.notification(name)
    table = ctx.table(n.entity)
    g_col, t_col = column_of(table, n.group_by), column_of(table, n.to_users)
    query = table.select(g_col.as_alias("g"), t_col.as_alias("t"))
    if n.where:
        query = query.where(where_of(table, n.where))
    out: dict[int, dict[str, Any]] = defaultdict(lambda: {"count": 0, "targets": set(), "label": None})
    for row in await query:
        if row["g"] is None:
            continue
        out[row["g"]]["count"] += 1
        if row["t"] is not None:
            out[row["g"]]["targets"].add(row["t"])
    target = ctx.app.entity(target_of(ctx, n.entity, n.group_by))
    gt = ctx.table(target.name)
    if out:
        for r in await gt.select(gt.id, getattr(gt, target.display).as_alias("label")).where(gt.id.is_in(sorted(out))):
            out[r["id"]]["label"] = r["label"]
    return dict(out)


async def users_of(ctx: AppContext, name: str, targets: set[int]) -> list[int]:
    """Active users reached by `to_users` targets (orgs or users), filtered by `roles`."""
    n = ctx.app.notification(name)
    if not targets:
        return []
    return await active_users(ctx, target_of(ctx, n.entity, n.to_users), targets, n.roles)


async def active_users(ctx: AppContext, kind: str | None, targets: set[int] | None, roles) -> list[int]:
    """Active users of the `targets` orgs (kind "org") or the target users themselves (kind "user"),
    only holders of one of `roles` when given; `targets` None: every active user holding `roles`."""
    user = ctx.table("user")
    query = user.select(user.id).where(user.active == True)
    if targets is not None:
        by = user.org if kind == "org" else user.id
        query = query.where(by.is_in(sorted(targets)))
    if roles:
        link, role = ctx.join_table("user", "roles"), ctx.table("role")
        holders = link.select(link.owner).where(link.target.is_in(role.select(role.id).where(role.code.is_in(list(roles)))))
        query = query.where(user.id.is_in(holders))
    return sorted(r["id"] for r in await query)


async def send_inapp(ctx: AppContext, name: str, day: dt.date | None = None) -> dict[str, Any]:
    n = ctx.app.notification(name)
    day = day or dt.date.today()
    box = ctx.table("message")
    created = skipped = 0
    now = dt.datetime.now().replace(microsecond=0)
    for group, info in sorted((await groups(ctx, name)).items()):
        values = {"count": str(info["count"]), "group": info["label"] or "", "group_id": str(group),
                  "day": day.isoformat()}
        title, text, link = render(n.title, values), render(n.text, values), render(n.link, values) or None
        for user_id in await users_of(ctx, name, info["targets"]):
            key = f"{name}:{group}:{user_id}:{day.isoformat()}"
            if await box.exists().where(box.dedupe_key == key):
                skipped += 1
                continue
            try:
                await box.insert(box(recipient=user_id, title=title, body=text, link=link, sent_at=now, read_at=None,
                                     notification=name, day=day, dedupe_key=key))
            except DUPLICATE:  # unique dedupe_key: another worker wrote it between our check and insert
                skipped += 1
                continue
            created += 1
    log.info("notification %s: %s in-app messages, %s already there", name, created, skipped)
    return {"created": created, "sent": created, "failed": 0, "skipped": skipped}
