"""Sending the SMS that event-driven notifications left pending in the outbox, after their commit.

`run_once` claims each pending outbox row of an event notification (compare-and-set on its
attempt count, so two workers never send one row twice) and delivers it through the gateway
(runtime/notify/sms.py `deliver`: retries, pauses, the outcome on the row). It runs as the job
handler `notify.dispatch`, and inside `specadmin serve` as a loop every SPECADMIN_SMS_POLL seconds
(default 5) while the app has SMS notifications with `trigger:`.
"""
from __future__ import annotations

import asyncio
import logging
import os
from typing import TYPE_CHECKING, Any

from specadmin.runtime.plugin.background import BackgroundLoop
from specadmin.runtime.notify.gateway import HttpGateway
from specadmin.runtime.notify.sms import deliver

if TYPE_CHECKING:
    from specadmin.runtime.app.context import AppContext

log = logging.getLogger("specadmin.notify")


def event_sms(ctx: "AppContext") -> list[str]:
    return [n.name for n in ctx.app.notifications if n.trigger is not None and n.channel == "sms"]


async def run_once(ctx: "AppContext", gateway: HttpGateway | None = None,
                   names: list[str] | None = None) -> dict[str, int]:
    """Send the pending rows of `names` (default: the app's event-driven SMS notifications; a plugin
    that writes its own pending SMS rows, e.g. the workflow's 短信配置, passes the name it writes)."""
    names = event_sms(ctx) if names is None else names
    if not names:
        return {"sent": 0, "failed": 0}
    gateway = gateway or HttpGateway.from_config(ctx.app.sms)
    box = ctx.table("notification_outbox")
    rows = await box.select(box.id, box.attempts).where(box.status == "pending", box.notification.is_in(names)).order_by(box.id)
    sent = failed = 0
    for row in rows:
        attempts = row["attempts"] or 0
        claimed = await box.update({box.attempts: attempts + 1}).where(
            box.id == row["id"], box.status == "pending", box.attempts == attempts).returning(box.id)
        if not claimed:  # another worker took it
            continue
        full = await box.select(box.recipient, box.body).where(box.id == row["id"]).first()
        phone = ctx.sensitive.decode(full["recipient"]) if full["recipient"] else None
        ok = await deliver(ctx, row["id"], phone, full["body"], gateway, attempts=attempts)
        sent += ok
        failed += not ok
    return {"sent": sent, "failed": failed}


async def dispatch_job(call) -> dict[str, Any]:
    """Job handler `notify.dispatch`: send the pending SMS of event notifications now."""
    return {"created": 0, **await run_once(call.ctx)}


class SmsDispatcher(BackgroundLoop):
    """The in-process loop of `specadmin serve` (a background service of the notify plugin)."""

    def __init__(self, ctx: "AppContext"):
        self.ctx = ctx
        self.poll = float(os.environ.get("SPECADMIN_SMS_POLL") or 5)

    def start(self) -> None:
        if event_sms(self.ctx):
            self.launch(self._loop())

    async def _loop(self) -> None:
        while True:
            try:
                await run_once(self.ctx)
            except asyncio.CancelledError:
                raise
            except Exception:  # a database hiccup must not stop the SMS
                log.exception("SMS dispatch failed")
            await asyncio.sleep(self.poll)
