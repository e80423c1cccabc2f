"""通知公告: sending a notice (the 发送 action of 通知公告, `notify.send_notice`) and reading it.

Sending resolves the recipients once: every active user of the chosen orgs (and of their sub-orgs
when `include_sub`, by the org tree's `path`) and the chosen users, deduplicated; it writes one
`notice_receipt` row and one 站内消息 (linking to /notices/<id>) per recipient, all inside the
action's transaction, and marks the notice sent. Only the sender and the recipients read a notice
(/notices/<id>, /api/notices/<id>, its attachments under /notices/<id>/files/<file id>); anyone
else gets 404 like a missing notice. A recipient 确认收到 once (with an optional short reply); the
sender sees who confirmed and when, and who has not.
"""
from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any

from specadmin.runtime.data.values import Invalid
from specadmin.runtime.errors import NotFound

if TYPE_CHECKING:
    from specadmin.runtime.app.context import AppContext
    from specadmin.runtime.entities.service import ActionCall

REPLY_MAX = 200


def kind_label(ctx: AppContext, kind: str | None) -> str:
    return dict(ctx.app.dictionary("notice_kind").items).get(kind or "", "通知公告")


def notice_link(notice_id: int) -> str:
    return f"/notices/{notice_id}"


async def recipients_of(ctx: AppContext, notice_id: int, include_sub: bool) -> list[int]:
    """Active users of the notice's orgs (with sub-orgs when `include_sub`) and its users, once each."""
    orgs_link, users_link = ctx.join_table("notice", "to_orgs"), ctx.join_table("notice", "to_users")
    org_ids = [r["target"] for r in await orgs_link.select(orgs_link.target).where(orgs_link.owner == notice_id)]
    user_ids = [r["target"] for r in await users_link.select(users_link.target).where(users_link.owner == notice_id)]
    user, org = ctx.table("user"), ctx.table("org")
    found: set[int] = set()
    if org_ids:
        if include_sub:
            paths = [r["path"] for r in await org.select(org.path).where(org.id.is_in(org_ids)) if r["path"]]
            for path in paths:
                subtree = org.select(org.id).where(org.path.like(f"{path}%"))
                found |= {r["id"] for r in await user.select(user.id).where(user.active == True,  # noqa: E712
                                                                             user.org.is_in(subtree))}
        found |= {r["id"] for r in await user.select(user.id).where(user.active == True,  # noqa: E712
                                                                     user.org.is_in(org_ids))}
    if user_ids:
        found |= {r["id"] for r in await user.select(user.id).where(user.active == True,  # noqa: E712
                                                                     user.id.is_in(user_ids))}
    return sorted(found)


async def send_notice(call: ActionCall) -> dict[str, Any]:
    """发送: one receipt and one message per recipient; the notice becomes 已发送."""
    ctx, row = call.ctx, call.row
    if row.get("status") != "draft":
        raise Invalid({"status": "该通知公告已发送"})
    users = await recipients_of(ctx, row["id"], bool(row.get("include_sub")))
    if not users:
        raise Invalid({"to_orgs": "请选择接收单位或接收人员（所选单位没有有效人员）"})
    now = dt.datetime.now().replace(microsecond=0)
    receipt, box = ctx.table("notice_receipt"), ctx.table("message")
    link = notice_link(row["id"])
    kind = kind_label(ctx, row.get("kind"))
    await receipt.insert(*[receipt(notice=row["id"], recipient=u) for u in users])
    await box.insert(*[box(recipient=u, title=f"【{kind}】{row['title']}"[:200], body=(row.get("body") or "")[:500],
                           link=link, sent_at=now, read_at=None, notification=None, day=now.date(),
                           dedupe_key=f"notice:{row['id']}:{u}") for u in users])
    changed = {"status": "sent", "sender": call.principal.user_id if call.principal.user_id > 0 else None,
               "sent_at": now, "recipients": len(users)}
    t = call.service.table
    await t.update({getattr(t, k): v for k, v in changed.items()}).where(t.id == row["id"])
    return {"changed": changed, "result": {"recipients": len(users), "link": link}}


async def keep_sent(event: Any) -> None:
    """A sent notice is what its recipients received: an edit (not a custom action) is refused."""
    if event.action is None and (event.before or {}).get("status") == "sent":
        raise Invalid({"status": "已发送的通知公告不能修改"})


# -- reading ------------------------------------------------------------------------
async def readable(ctx: AppContext, notice_id: int, user_id: int) -> dict[str, Any]:
    """The sent notice if `user_id` sent or received it; NotFound otherwise (as for a missing one)."""
    n, receipt = ctx.table("notice"), ctx.table("notice_receipt")
    row = await n.select().where(n.id == notice_id, n.status == "sent").first()
    if row is None:
        raise NotFound("通知公告不存在")
    mine = await receipt.select(receipt.id, receipt.confirmed_at, receipt.reply).where(
        receipt.notice == notice_id, receipt.recipient == user_id).first()
    if mine is None and row["sender"] != user_id:
        raise NotFound("通知公告不存在")
    row["is_sender"] = row["sender"] == user_id
    row["receipt"] = mine
    return row


async def confirm(ctx: AppContext, notice_id: int, user_id: int, reply: Any) -> dict[str, Any]:
    """确认收到: once per recipient (a second time keeps the first time and reply)."""
    await readable(ctx, notice_id, user_id)
    if reply is not None and not isinstance(reply, str):
        raise Invalid({"reply": "回复应为文字"})
    reply = (reply or "").strip()
    if len(reply) > REPLY_MAX:
        raise Invalid({"reply": f"回复最多 {REPLY_MAX} 个字"})
    receipt = ctx.table("notice_receipt")
    row = await receipt.select(receipt.id, receipt.confirmed_at, receipt.reply).where(
        receipt.notice == notice_id, receipt.recipient == user_id).first()
    if row is None:
        raise Invalid({"notice": "发送人无需确认收到"})
    if row["confirmed_at"] is None:
        row["confirmed_at"] = dt.datetime.now().replace(microsecond=0)
        row["reply"] = reply or None
        await receipt.update({receipt.confirmed_at: row["confirmed_at"], receipt.reply: row["reply"]}).where(
            receipt.id == row["id"], receipt.confirmed_at.is_null())
    return {"confirmed_at": row["confirmed_at"], "reply": row["reply"]}


async def receipts(ctx: AppContext, notice_id: int) -> dict[str, list[dict[str, Any]]]:
    """Who confirmed (with time and reply) and who has not, for the sender."""
    receipt, user, org = ctx.table("notice_receipt"), ctx.table("user"), ctx.table("org")
    rows = await receipt.select(receipt.recipient, receipt.confirmed_at, receipt.reply).where(
        receipt.notice == notice_id).order_by(receipt.id)
    ids = [r["recipient"] for r in rows]
    people = {r["id"]: r for r in await user.select(user.id, user.username, user.name, user.org).where(
        user.id.is_in(ids or [0]))}
    org_ids = sorted({p["org"] for p in people.values() if p["org"]})
    orgs = {r["id"]: r["name"] for r in await org.select(org.id, org.name).where(org.id.is_in(org_ids or [0]))}
    confirmed, pending = [], []
    for r in rows:
        p = people.get(r["recipient"], {})
        item = {"user": r["recipient"], "username": p.get("username"), "name": p.get("name"),
                "org": orgs.get(p.get("org")), "confirmed_at": r["confirmed_at"], "reply": r["reply"]}
        (confirmed if r["confirmed_at"] else pending).append(item)
    return {"confirmed": confirmed, "pending": pending}
