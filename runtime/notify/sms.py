"""Send one message per group per day while the group has matching rows (requirements §2.9).

Kaiping: every supervising unit with ≥1 未接收 “扫码”预警 gets the fixed text on its head's
mobile once a day. The recipients come from one query joining the spec paths (alert → place →
supervisor → head_phone, decrypted). The outbox row is the claim: its `dedupe_key`
("<notification>:<group id>:<day>") is unique, so a second run, a restart or a second worker
finds the key taken and sends nothing. A failed row is claimed again (status failed → pending)
by the next run of the day; each run tries up to `retries` times with doubling pauses.
"""
from __future__ import annotations

import asyncio
import datetime as dt
import logging
from collections import Counter
from typing import TYPE_CHECKING, Any

from specadmin.runtime.data.where import where_of
from specadmin.runtime.notify.gateway import HttpGateway
from specadmin.runtime.notify.inapp import DUPLICATE, send_inapp
from specadmin.runtime.notify.paths import column_of, final_field
from specadmin.specs.placeholders import render

if TYPE_CHECKING:
    from specadmin.runtime.app.context import AppContext

log = logging.getLogger("specadmin.notify")


async def recipients(ctx: AppContext, name: str) -> dict[int, tuple[str | None, str | None, int]]:
    """{group id: (group label, recipient, matching rows)} for groups that currently have matching rows."""
    n = ctx.app.notification(name)
    table = ctx.table(n.entity)
    query = table.select(column_of(table, n.group_by).as_alias("g"), column_of(table, n.to).as_alias("to"))
    if n.where:
        query = query.where(where_of(table, n.where))
    to_field, _ = final_field(ctx, n.entity, n.to)
    group_field, _ = final_field(ctx, n.entity, n.group_by)
    target = ctx.app.entity(group_field.to)
    gt = ctx.table(target.name)
    rows = [r for r in await query if r["g"] is not None]
    counts = Counter(r["g"] for r in rows)
    labels = {}
    if rows:
        labels = {r["id"]: r["label"] for r in await gt.select(gt.id, getattr(gt, target.display).as_alias("label"))
                  .where(gt.id.is_in(sorted(counts)))}
    out: dict[int, tuple[str | None, str | None, int]] = {}
    for r in rows:
        phone = ctx.sensitive.decode(r["to"]) if to_field.sensitive else r["to"]
        out[r["g"]] = (labels.get(r["g"]), phone, counts[r["g"]])
    return out


async def _claim(ctx: AppContext, name: str, group: int, label: str | None, phone: str | None, text: str,
                 day: dt.date) -> int | None:
    """The outbox row id this process may send, or None when the message is someone else's or done."""
    n = ctx.app.notification(name)
    box = ctx.table("notification_outbox")
    key = f"{name}:{group}:{day.isoformat()}"
    existing = await box.select(box.id, box.status).where(box.dedupe_key == key).first()
    if existing is None:
        values = ctx.sensitive.encode(ctx.app.entity("notification_outbox"), {
            "notification": name, "channel": n.channel, "dedupe_key": key, "group_id": group, "group_label": label,
            "recipient": phone, "body": text, "day": day, "status": "pending", "attempts": 0})
        try:
            return (await box.insert(box(**values)).returning(box.id))[0]["id"]
        except DUPLICATE:  # unique dedupe_key: another run or worker inserted it first
            return None
    if existing["status"] != "failed":
        return None
    claimed = await box.update({box.status: "pending"}).where(box.id == existing["id"], box.status == "failed").returning(box.id)
    return existing["id"] if claimed else None


async def send_notification(ctx: AppContext, name: str, day: dt.date | None = None,
                            gateway: HttpGateway | None = None) -> dict[str, Any]:
    n = ctx.app.notification(name)
    day = day or dt.date.today()
    if n.channel == "inapp":  # same job and dedupe idea, but rows in `message` instead of an SMS
        return await send_inapp(ctx, name, day)
    gateway = gateway or HttpGateway.from_config(ctx.app.sms)
    sent = failed = skipped = 0
    for group, (label, phone, count) in sorted((await recipients(ctx, name)).items()):
        text = render(n.text, {"count": str(count), "group": label or "", "group_id": str(group), "day": day.isoformat()})
        row_id = await _claim(ctx, name, group, label, phone, text, day)
        if row_id is None:
            skipped += 1
            continue
        ok = await deliver(ctx, row_id, phone, text, gateway)
        sent += ok
        failed += not ok
    return {"created": sent, "sent": sent, "failed": failed, "skipped": skipped}


async def deliver(ctx: AppContext, row_id: int, phone: str | None, text: str, gateway: HttpGateway,
                  attempts: int | None = None) -> bool:
    """Send one claimed outbox row: up to `retries` attempts with doubling pauses, each recorded
    (counted on from `attempts`, else from the row)."""
    box = ctx.table("notification_outbox")
    if attempts is None:
        attempts = (await box.select(box.attempts).where(box.id == row_id).first())["attempts"] or 0
    ok, error = False, None
    for attempt in range(gateway.retries):
        error = None
        try:
            if not phone:
                raise ValueError("接收单位没有负责人手机号")
            await gateway.send(phone, text)
            ok = True
        except Exception as exc:  # noqa: BLE001 - any failure (gateway, network, no phone) is a failed attempt
            error = str(exc) or exc.__class__.__name__
        attempts += 1
        await box.update({box.attempts: attempts, box.last_error: error,
                          box.status: "sent" if ok else ("failed" if attempt == gateway.retries - 1 else "pending"),
                          box.sent_at: dt.datetime.now().replace(microsecond=0) if ok else None}
                         ).where(box.id == row_id)
        if ok or not phone:
            break
        await asyncio.sleep(gateway.backoff * 2 ** attempt)
    if not ok:
        await box.update({box.status: "failed"}).where(box.id == row_id)
        log.warning("outbox row %s failed: %s", row_id, error)
    return ok
