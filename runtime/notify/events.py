"""Event-driven notifications (`trigger:` create, update, {change: FIELD}, {action: NAME}).

The notify plugin's entity hooks on every entity ("*") call `notify_written` after a row is
created, updated or acted on, inside the writer's transaction: the messages (`message` rows for
in-app, pending `notification_outbox` rows for SMS) commit or roll back with the write. The SMS
themselves go out later, from the outbox (runtime/notify/dispatch.py). Recipients and the
placeholders of title/text/link (specs/placeholders.py) are spec paths from the written row, read
with one query each through the row's refs.
"""
from __future__ import annotations

import datetime as dt
import uuid
from typing import TYPE_CHECKING, Any

from specadmin.runtime.data.where import where_of
from specadmin.runtime.notify.inapp import active_users
from specadmin.runtime.notify.paths import column_of
from specadmin.specs.paths import resolve
from specadmin.specs.placeholders import EVENT, TEMPLATE_KEYS, names, render

if TYPE_CHECKING:
    from specadmin.runtime.plugin import WriteEvent
    from specadmin.specs.model import Notification


def triggered(n: "Notification", event: "WriteEvent") -> bool:
    """Whether this write is the notification's trigger (a change is checked against the row later)."""
    if n.trigger is None or n.entity != event.entity.name:
        return False
    if n.trigger == "create":
        return event.kind == "create"
    if n.trigger == "update":
        return event.kind == "update" and event.action is None
    if n.trigger == "action":
        return event.kind == "update" and event.action == n.action
    return event.kind == "update"  # change


async def notify_written(event: "WriteEvent") -> None:
    for n in event.ctx.app.notifications:
        if triggered(n, event):
            await _send(event, n)


def _display_path(ctx, entity: str, path: str) -> tuple[str, Any]:
    """A placeholder's path, extended to the target's display field when it ends in a ref; and its field."""
    resolved = resolve(ctx.app, entity, path)
    if resolved.field.type == "ref":
        return _display_path(ctx, entity, f"{path}.{ctx.app.entity(resolved.field.to).display}")
    return path, resolved.field


async def _read(ctx, n: "Notification", row_id: int, paths: list[str]) -> dict[str, Any] | None:
    """The row's values along `paths` (aliases p0, p1, …), or None when it does not match `where`."""
    table = ctx.table(n.entity)
    pk = table._meta.primary_key
    query = table.select(pk.as_alias("row_id"), *(column_of(table, p).as_alias(f"p{i}") for i, p in enumerate(paths)))
    query = query.where(pk == row_id)
    if n.where:
        query = query.where(where_of(table, n.where))
    return await query.first()


async def _send(event: "WriteEvent", n: "Notification") -> None:
    ctx, row_id = event.ctx, event.row_id
    if n.trigger == "change" and not await _changed(event, n):
        return
    shown = list(dict.fromkeys(p for key in TEMPLATE_KEYS for p in names(getattr(n, key)) if p not in EVENT))
    reads = [_display_path(ctx, n.entity, p) for p in [event.entity.display or "id", *shown]]
    to = n.to if n.channel == "sms" else n.to_users
    row = await _read(ctx, n, row_id, [p for p, _ in reads] + ([to] if to else []))
    if row is None:
        return
    values = {"id": str(row_id), "day": dt.date.today().isoformat(), "entity": event.entity.label,
              "action": _action_label(event)}
    for i, (name, (_, field)) in enumerate(zip(shown, reads[1:]), 1):
        values[name] = _text(ctx, field, row[f"p{i}"])
    target = row[f"p{len(reads)}"] if to else None
    title, text, link = (render(getattr(n, key), values) for key in TEMPLATE_KEYS)
    if n.channel == "sms":
        shown_as = _text(ctx, reads[0][1], row["p0"]) or values["entity"]
        await _outbox(ctx, n, row_id, target, text, shown_as)
    else:
        await _messages(ctx, n, row_id, target, title, text, link or None)


async def _changed(event: "WriteEvent", n: "Notification") -> bool:
    """Whether one of the watched fields holds another value than before the write."""
    after = await _read(event.ctx, n, event.row_id, list(n.fields))
    if after is None:
        return False
    before = event.before or {}
    for i, name in enumerate(n.fields):
        value = after[f"p{i}"]
        if event.entity.field(name).sensitive:
            value = event.ctx.sensitive.decode(value)
        if str(value) != str(before.get(name)):
            return True
    return False


def _action_label(event: "WriteEvent") -> str:
    if not event.action:
        return ""
    for screen in event.ctx.app.screens:
        for action in screen.custom_actions:
            if action.name == event.action and screen.entity == event.entity.name:
                return action.label
    return event.action


def _text(ctx, field, value) -> str:
    if value is None:
        return ""
    if field.sensitive:
        value = ctx.sensitive.decode(value)
    if field.type == "dict" and field.dict:
        return ctx.dict_label(field.dict, value) or ""
    return str(value)


async def _messages(ctx, n: "Notification", row_id: int, target, title: str, text: str, link: str | None) -> None:
    if n.to_users and target is None:
        return
    kind = resolve(ctx.app, n.entity, n.to_users).target if n.to_users else None
    users = await active_users(ctx, kind, {target} if n.to_users else None, n.roles)
    box, token = ctx.table("message"), uuid.uuid4().hex[:16]
    now = dt.datetime.now().replace(microsecond=0)
    for user_id in users:
        await box.insert(box(recipient=user_id, title=title, body=text, link=link, sent_at=now, read_at=None,
                             notification=n.name, day=now.date(), dedupe_key=f"{n.name}:{row_id}:{user_id}:{token}"))


async def _outbox(ctx, n: "Notification", row_id: int, phone, text: str, shown_as: str) -> None:
    field = resolve(ctx.app, n.entity, n.to).field
    if phone is not None and field.sensitive:
        phone = ctx.sensitive.decode(phone)
    box = ctx.table("notification_outbox")
    row = ctx.sensitive.encode(ctx.app.entity("notification_outbox"), {
        "notification": n.name, "channel": "sms", "dedupe_key": f"{n.name}:{row_id}:{uuid.uuid4().hex[:16]}",
        "group_id": row_id, "group_label": shown_as, "recipient": phone, "body": text,
        "day": dt.date.today(), "status": "pending", "attempts": 0})
    await box.insert(box(**row))
