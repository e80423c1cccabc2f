"""站内消息 on SQLite and PostgreSQL: Kaiping's in-app notification job writes one message per
监管单位 user per day (never twice), each user sees and marks only their own messages, the
page header shows the unread count, and (in Chromium) clicking a message opens the alert
inbox's 未接收 tab and lowers the badge. Spec checks for `channel: inapp` are covered too."""
from __future__ import annotations

import datetime as dt
import re

import httpx
import pytest
from conftest import api_login, BACKENDS, copy_app, start_app
from kaiping_fixture import PASSWORD, build

ASYNC = pytest.mark.asyncio(loop_scope="session")
DAY = dt.date(2026, 12, 1)
LINK = "/s/alert_inbox?tab=unreceived"


async def add_data(ctx, ids) -> None:
    """A second unreceived alert for unit 1, a second and a disabled supervisor in unit 1."""
    from specadmin.runtime.identity.users import ensure_user

    alert = ctx.table("scan_alert")
    await alert.insert(alert(place=ids["P1"], period_start=dt.date(2026, 10, 8), period_end=dt.date(2026, 10, 14),
                             period_label="2026-10-08至2026-10-14", reason="above", status="unreceived"))
    await alert.insert(alert(place=ids["P2"], period_start=dt.date(2026, 10, 8), period_end=dt.date(2026, 10, 14),
                             period_label="2026-10-08至2026-10-14", reason="above", status="received"))
    ids["user_unit1b"] = await ensure_user(ctx, "unit1b", PASSWORD, name="监管一乙", org_code="U1", roles=("supervisor",))
    ids["user_off"] = await ensure_user(ctx, "unit1off", PASSWORD, name="已停用", org_code="U1", roles=("supervisor",))
    user = ctx.table("user")
    await user.update({user.active: False}).where(user.id == ids["user_off"])


@pytest.fixture(scope="module", params=BACKENDS)
async def env(request, tmp_path_factory):
    app_dir = copy_app("kaiping", tmp_path_factory.mktemp(f"msgs-{request.param}"))
    app, _url = await start_app(app_dir, request.param)
    try:
        ctx = app.state.ctx
        ids = await build(ctx)
        await add_data(ctx, ids)
        yield {"app": app, "ctx": ctx, "ids": ids}
    finally:
        for hook in app.on_shutdown:
            await hook(app)


async def login(env, username: str) -> httpx.AsyncClient:
    return await api_login(env["app"], username, PASSWORD)


async def messages_of(ctx) -> list[tuple]:
    m, u = ctx.table("message"), ctx.table("user")
    names = {r["id"]: r["username"] for r in await u.select(u.id, u.username)}
    rows = await m.select().order_by(m.id)
    return [(names[r["recipient"]], r["title"], r["body"], r["link"], r["day"], r["read_at"]) for r in rows]


async def run_inapp(ctx, day: dt.date) -> dict:
    from specadmin.runtime.jobs.runner import run_job

    return await run_job(ctx, "unreceived_inapp", date_from=day)


@ASYNC
async def test_job_writes_one_message_per_supervisor_user_per_day_and_rerun_adds_none(env):
    ctx = env["ctx"]
    first = await run_inapp(ctx, DAY)
    second = await run_inapp(ctx, DAY)
    assert (first["status"], first["created"], second["status"], second["created"]) == ("succeeded", 3, "succeeded", 0)
    title = "未接收“扫码”预警提醒"
    text = "你单位有 {} 条未接收的“扫码”预警待处理，请及时接收。"
    # unit 1 has two unreceived alerts; unit 2's second alert is already received. `nobody` (no
    # 监管单位 role) and the disabled account get nothing.
    assert sorted(await messages_of(ctx)) == [
        ("unit1", title, text.format(2), LINK, DAY, None),
        ("unit1b", title, text.format(2), LINK, DAY, None),
        ("unit2", title, text.format(1), LINK, DAY, None)]


@ASYNC
async def test_user_sees_only_own_messages_and_cannot_read_or_mark_anothers(env):
    ctx = env["ctx"]
    await run_inapp(ctx, DAY)
    m = ctx.table("message")
    foreign = (await m.select(m.id).where(m.recipient == env["ids"]["user_unit1"]).first())["id"]
    unit2 = await login(env, "unit2")
    page = (await unit2.get("/api/messages")).json()
    assert [i["body"] for i in page["items"]] == ["你单位有 1 条未接收的“扫码”预警待处理，请及时接收。"]
    assert foreign not in [i["id"] for i in page["items"]] and page["total"] == 1
    assert (await unit2.get(f"/api/messages/{foreign}")).status_code == 404
    assert (await unit2.get("/api/messages/99999999999999999999")).status_code == 400  # not a 500 from the driver
    assert (await unit2.post(f"/api/messages/{foreign}/read")).status_code == 404
    assert (await unit2.post(f"/messages/{foreign}/open")).status_code == 404
    assert (await m.select(m.read_at).where(m.id == foreign).first())["read_at"] is None
    nobody = await login(env, "nobody")
    assert (await nobody.get("/api/messages")).json()["items"] == []
    anonymous = httpx.AsyncClient(transport=httpx.ASGITransport(app=env["app"]), base_url="http://testserver")
    assert (await anonymous.get("/api/messages/unread-count")).status_code == 401


@ASYNC
async def test_unread_count_mark_one_read_and_mark_all_read(env):
    ctx = env["ctx"]
    await run_inapp(ctx, DAY)
    await run_inapp(ctx, DAY + dt.timedelta(days=1))  # a new day: a new message for each user
    unit1 = await login(env, "unit1")
    assert (await unit1.get("/api/messages/unread-count")).json() == {"unread": 2}
    items = (await unit1.get("/api/messages")).json()["items"]
    r = await unit1.post(f"/api/messages/{items[0]['id']}/read")
    assert r.status_code == 200 and r.json()["link"] == LINK
    assert (await unit1.get("/api/messages/unread-count")).json() == {"unread": 1}
    assert [i["id"] for i in (await unit1.get("/api/messages", params={"unread": "true"})).json()["items"]] == [
        items[1]["id"]]
    assert (await unit1.post("/api/messages/read-all")).json() == {"updated": 1}
    assert (await unit1.get("/api/messages/unread-count")).json() == {"unread": 0}
    # unit1b's messages are untouched by unit1's 全部标为已读.
    unit1b = await login(env, "unit1b")
    assert (await unit1b.get("/api/messages/unread-count")).json() == {"unread": 2}


@ASYNC
async def test_header_badge_shows_unread_count_and_opening_marks_read_and_redirects(env):
    ctx = env["ctx"]
    await run_inapp(ctx, DAY)
    await run_inapp(ctx, DAY + dt.timedelta(days=1))
    unit1b = await login(env, "unit1b")
    home = (await unit1b.get("/")).text
    assert re.search(r'id="message-badge">\s*2\s*<', home)
    listing = (await unit1b.get("/messages")).text
    assert listing.count('class="message unread"') == 2 and "未读（2）" in listing
    first = (await unit1b.get("/api/messages")).json()["items"][0]["id"]
    r = await unit1b.post(f"/messages/{first}/open")
    assert r.status_code == 303 and r.headers["location"] == LINK
    assert re.search(r'id="message-badge">\s*1\s*<', (await unit1b.get(LINK)).text)
    r = await unit1b.post("/messages/read-all")
    assert r.status_code == 303
    assert 'id="message-badge"' not in (await unit1b.get("/")).text and 'id="message-link"' in (await unit1b.get("/")).text


@ASYNC
async def test_message_with_foreign_link_opens_the_list_instead(env):
    ctx = env["ctx"]
    m = ctx.table("message")
    await m.insert(m(recipient=env["ids"]["user_unit2"], title="外链", body="x", link="//evil.example/x",
                     dedupe_key="test:evil", day=DAY))
    row = await m.select(m.id).where(m.dedupe_key == "test:evil").first()
    unit2 = await login(env, "unit2")
    r = await unit2.post(f"/messages/{row['id']}/open")
    assert r.status_code == 303 and r.headers["location"] == "/messages"


INAPP = """
notifications:
  nag:
    channel: inapp
    when: {entity: shop}
    group_by: unit
    to_users: unit
    title: 提醒
    text: "{count} 家店铺"
    link: /s/shop_admin
jobs:
  nag_job: {label: 提醒, schedule: "0 8 * * *", notification: nag}
"""


def test_inapp_spec_needs_to_users_ending_at_org_or_user_and_known_roles(tmp_path):
    from specadmin.generator.build import load_app
    from test_spec_errors import MODULE, errors_of, make_app

    app = load_app(make_app(tmp_path / "ok", MODULE + INAPP))
    assert app.notification("nag").to_users == "unit" and app.notification("nag").title == "提醒"
    cases = [("    to_users: unit\n", "", "needs 'to_users'"),
             ("    to_users: unit\n", "    to_users: unit\n    to: unit.head_phone\n", "'to' does not apply"),
             ("    to_users: unit\n", "    to_users: name\n", "must end in a ref"),
             ("    to_users: unit\n", "    to_users: unit\n    roles: [nosuch]\n", "unknown role 'nosuch'"),
             ("link: /s/shop_admin", "link: https://evil.example/", "notifications.nag.link")]
    for i, (old, new, needle) in enumerate(cases):
        errors = errors_of(tmp_path / f"bad{i}", MODULE + INAPP.replace(old, new, 1))
        assert any(needle in e.message for e in errors), (needle, [e.message for e in errors])


# -- in Chromium ---------------------------------------------------------------
async def _browser_data(ctx) -> None:
    await add_data(ctx, await build(ctx))
    await run_inapp(ctx, DAY)
    await run_inapp(ctx, DAY + dt.timedelta(days=1))


@pytest.mark.browser
def test_unit_clicks_message_lands_on_unreceived_tab_and_badge_drops(tmp_path, chromium_path):
    from browser_support import chromium, login, serve

    with serve(copy_app("kaiping", tmp_path / "app"), _browser_data) as base, chromium(chromium_path) as browser:
        page = login(browser, base, "unit1", PASSWORD)
        assert page.inner_text("#message-badge").strip() == "2"
        page.click("#message-link")
        page.wait_for_url(f"{base}/messages")
        assert page.locator("tr.message.unread").count() == 2
        page.locator("tr.message.unread button.message-open").first.click()
        page.wait_for_url(f"{base}{LINK}")
        assert page.inner_text("a.tab.active").strip() == "未接收 (2)"  # the tab and its count
        assert page.inner_text("#message-badge").strip() == "1"
        page.click("#message-link")
        assert page.locator("tr.message.unread").count() == 1
