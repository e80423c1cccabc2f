"""Event-driven notifications (`trigger:`) through the example of specs/REFERENCE.md run as written, on
SQLite and PostgreSQL: a new 工单 reaches the handlers of its own org only; a status change reaches its
经办人 (another edit reaches nobody); the custom action 办结 leaves an SMS in the outbox, sent after the
commit by the dispatcher; a write refused after the hooks ran leaves no message; placeholders are
filled (paths, dict labels, ref displays); the SMS digest's {count} is filled; and `specadmin check`
names unknown placeholders, trigger fields and actions, and bad recipient paths at their file and line."""
from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from conftest import BACKENDS, reference_blocks, spec_app

ASYNC = pytest.mark.asyncio(loop_scope="session")
MODULE = reference_blocks()["modules/tickets.yaml"]
APP = "app: tickets\nlabel: 工单\nmodules: [tickets]\n"
PASSWORD = "Tickets@2026x"


def today() -> str:
    """The day the server stamps now (read at assertion time: a run may cross midnight)."""
    return dt.date.today().isoformat()


def write_app(app_dir: Path, module: str = MODULE) -> Path:
    (app_dir / "modules").mkdir(parents=True, exist_ok=True)
    (app_dir / "app.yaml").write_text(APP, encoding="utf-8")
    (app_dir / "modules" / "tickets.yaml").write_text(module, encoding="utf-8")
    return app_dir


class Gateway:
    """Records what would have been sent."""

    retries, backoff = 1, 0

    def __init__(self):
        self.sent: list[tuple[str, str]] = []

    async def send(self, phone: str, text: str) -> None:
        self.sent.append((phone, text))


@pytest.fixture(scope="module", params=BACKENDS)
async def env(request, tmp_path_factory):
    from specadmin.runtime.identity.users import ensure_user

    app_dir = write_app(tmp_path_factory.mktemp(f"tickets-{request.param}"))
    async with spec_app(app_dir, request.param, PASSWORD, "城区中心") as (app, client, hq):
        ctx = app.state.ctx
        org = ctx.table("org")
        other = (await org.insert(org(code="B", name="郊区中心", level="city", org_type="department", active=True))
                 .returning(org.id))[0]["id"]
        await org.update({org.path: f"/{other}/"}).where(org.id == other)
        await ctx.refresh_caches()
        users = {name: await ensure_user(ctx, name, PASSWORD, name=name, org_code=code, roles=roles)
                 for name, code, roles in (("handler", "HQ", ("ticket_handler",)), ("clerk", "HQ", ()),
                                           ("far", "B", ("ticket_handler",)), ("worker", "B", ()))}
        site = ctx.table("site")
        site_id = (await site.insert(site(name="东门站", phone="13800000001")).returning(site.id))[0]["id"]
        yield {"ctx": ctx, "client": client, "hq": hq, "other": other, "users": users, "site": site_id}


@pytest.fixture
async def clean(env):
    ctx = env["ctx"]
    for name in ("message", "notification_outbox", "ticket"):
        await ctx.table(name).delete(force=True)
    return env


async def messages(ctx) -> list[tuple]:
    m = ctx.table("message")
    rows = await m.select(m.notification, m.recipient, m.title, m.body, m.link).order_by(m.id)
    return [(r["notification"], r["recipient"], r["title"], r["body"], r["link"]) for r in rows]


async def create(env, **values) -> int:
    r = await env["client"].post("/api/ticket", params={"screen": "ticket_admin"},
                                 json={"subject": "漏水", "org": env["hq"], "site": env["site"], **values})
    assert r.status_code in (200, 201), r.text
    return r.json()["id"]


@ASYNC
async def test_create_reaches_the_handlers_of_the_rows_org_only(clean):
    env = clean
    row = await create(env)
    assert await messages(env["ctx"]) == [
        ("ticket_new", env["users"]["handler"], "新工单：漏水", "东门站（东门站）有新工单“漏水”，状态：待处理。",
         f"/s/ticket_admin/{row}")]
    await create(env, org=env["other"], subject="断电")
    assert [m[1] for m in await messages(env["ctx"])] == [env["users"]["handler"], env["users"]["far"]]


@ASYNC
async def test_a_change_of_the_watched_field_only(clean):
    env, client = clean, clean["client"]
    row = await create(env, assignee=env["users"]["worker"])
    ctx = env["ctx"]
    before = len(await messages(ctx))
    r = await client.patch(f"/api/ticket/{row}", params={"screen": "ticket_admin"}, json={"subject": "漏水严重"})
    assert r.status_code == 200, r.text
    r = await client.patch(f"/api/ticket/{row}", params={"screen": "ticket_admin"}, json={"status": "open"})
    assert r.status_code == 200, r.text
    assert len(await messages(ctx)) == before  # another field, or the same value: nothing
    r = await client.patch(f"/api/ticket/{row}", params={"screen": "ticket_admin"}, json={"status": "doing"})
    assert r.status_code == 200, r.text
    assert (await messages(ctx))[before:] == [
        ("ticket_status", env["users"]["worker"], "工单状态：处理中", "工单“漏水严重”的状态已改为 处理中（城区中心）。", None)]


@ASYNC
async def test_a_custom_action_leaves_an_sms_sent_after_the_commit(clean):
    from specadmin.runtime.notify.dispatch import run_once

    env, ctx = clean, clean["ctx"]
    quiet = await create(env, subject="无电话")
    row = await create(env, phone="13912345678", assignee=env["users"]["worker"])
    r = await env["client"].post("/api/ticket/actions/close", json={"ids": [quiet, row], "params": {}})
    assert r.status_code == 200 and sorted(r.json()["done"]) == sorted([quiet, row]), r.text
    box = ctx.table("notification_outbox")
    rows = await box.select(box.notification, box.status, box.body, box.group_id, box.group_label)
    assert [tuple(r.values()) for r in rows] == [
        ("ticket_closed_sms", "pending", "您报告的工单“漏水”已办结。", row, "漏水")]  # `where: phone not null`
    assert ("ticket_status", env["users"]["worker"]) in [m[:2] for m in await messages(ctx)]  # a change by an action
    users = env["users"]
    assert sorted(m[1:4] for m in await messages(ctx) if m[0] == "ticket_closed") == sorted(
        (users[u], f"城区中心办结了工单“{subject}”", f"办结日期 {today()}。")
        for u in ("handler", "far") for subject in ("无电话", "漏水"))
    gateway = Gateway()
    assert await run_once(ctx, gateway) == {"sent": 1, "failed": 0}
    assert gateway.sent == [("13912345678", "您报告的工单“漏水”已办结。")]
    assert await run_once(ctx, gateway) == {"sent": 0, "failed": 0}
    assert (await box.select(box.status).first())["status"] == "sent"


@ASYNC
async def test_a_write_refused_after_the_hooks_leaves_no_message(clean, monkeypatch):
    from specadmin.runtime.data.values import Invalid

    env, ctx = clean, clean["ctx"]
    row = await create(env, phone="13912345678")
    before = await messages(ctx)
    original = type(ctx.plugins).run_hooks

    async def refusing(self, name, event):  # a later check refuses the write after every hook ran
        await original(self, name, event)
        if name.startswith("after_") and event.entity.name == "ticket":
            raise Invalid({"subject": "后续检查不通过"})

    monkeypatch.setattr(type(ctx.plugins), "run_hooks", refusing)
    r = await env["client"].post("/api/ticket", params={"screen": "ticket_admin"},
                                 json={"subject": "回滚", "org": env["hq"]})
    assert r.status_code in (400, 422), r.text
    r = await env["client"].post("/api/ticket/actions/close", json={"ids": [row], "params": {}})
    assert r.status_code in (400, 422), r.text
    monkeypatch.undo()
    assert await messages(ctx) == before
    assert await ctx.table("notification_outbox").count() == 0
    assert await ctx.table("ticket").count() == 1


@ASYNC
async def test_the_sms_digest_fills_count(clean):
    from specadmin.runtime.notify.sms import send_notification

    env = clean
    for subject in ("甲", "乙"):
        await create(env, subject=subject)
    gateway = Gateway()
    result = await send_notification(env["ctx"], "open_tickets", gateway=gateway)
    assert result["sent"] == 1
    assert gateway.sent == [("13800000001", f"东门站：{today()} 有 2 张待处理工单。")]


def test_check_names_what_a_notification_cannot_do(tmp_path, capsys):
    from specadmin.cli import main

    broken = (MODULE.replace("title: 新工单：{subject}", "title: 新工单：{subjekt}")
              .replace("trigger: {change: status}", "trigger: {change: state}")
              .replace("trigger: {action: close}", "trigger: {action: reopen}", 1)
              .replace("to_users: assignee ", "to_users: subject ")
              .replace("有 {count} 张", "有 {total} 张"))
    write_app(tmp_path, broken)
    assert main(["check", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    lines = broken.splitlines()

    def at(text: str) -> str:
        return f"modules/tickets.yaml:{next(i for i, line in enumerate(lines, 1) if text in line)}"

    assert [e.removeprefix(f"{tmp_path.name}/") for e in err.splitlines() if "[SA" in e] == [
        f"{at('{subjekt}')}: [SA124] notification 'ticket_new' title: unknown placeholder {{subjekt}}: "
        "'subjekt' is not a field of entity 'ticket'",
        f"{at('change: state')}: [SA125] notification 'ticket_status': entity 'ticket' has no field 'state' to watch",
        f"{at('to_users: subject')}: [SA126] notification 'ticket_status' to_users 'subject' must end in a ref field",
        f"{at('action: reopen')}: [SA125] notification 'ticket_closed': no custom action 'reopen' on a screen "
        "of 'ticket' (known: close)",
        f"{at('{total}')}: [SA124] notification 'open_tickets' text: unknown placeholder {{total}} "
        "(a digest knows {count}, {group}, {group_id}, {day})"]


def test_a_bare_on_key_is_pointed_to_trigger(tmp_path, capsys):
    from specadmin.cli import main

    write_app(tmp_path, MODULE.replace("trigger: create", "on: create"))
    assert main(["check", str(tmp_path)]) == 1
    assert "[SA010] unknown key 'True' in notifications.ticket_new; did you mean 'trigger'?" in capsys.readouterr().err
