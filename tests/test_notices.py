"""通知公告 on SQLite and PostgreSQL (every app has it; Kaiping's org tree here: 开平市 > 数据局, 教育局,
卫生健康局): an admin writes a notice with an attachment and sends it to orgs (with or without
sub-orgs) and users; each active recipient gets exactly one 站内消息 linking to the notice; only
recipients and the sender read the notice and its files (anyone else 404); recipients 确认收到
with a short reply and the sender sees who confirmed and who has not."""
from __future__ import annotations

import pytest
from kaiping_fixture import PASSWORD
from test_messages import env, login  # noqa: F401  (env: the module's Kaiping app on each backend)

ASYNC = pytest.mark.asyncio(loop_scope="session")
PNG = b"\x89PNG\r\n\x1a\n" + b"png-bytes" * 20


@pytest.fixture(scope="module")
async def admin(env):  # noqa: F811
    from specadmin.runtime.identity.users import ensure_user

    env["ids"]["user_admin"] = await ensure_user(env["ctx"], "noticeadmin", PASSWORD, name="公告管理员",
                                                 superuser=True)
    return await login(env, "noticeadmin")


async def write_notice(env, admin, title: str, orgs: list[str], include_sub: bool, users: list[str] = ()) -> int:
    ids = env["ids"]
    r = await admin.post("/api/notice", json={
        "title": title, "kind": "system", "body": "请各单位按时报送。", "include_sub": include_sub,
        "to_orgs": [ids[o] for o in orgs], "to_users": [ids[u] for u in users]})
    assert r.status_code == 201, r.text
    return r.json()["id"]


async def send(admin, notice_id: int) -> dict:
    r = await admin.post("/api/notice/actions/send", json={"ids": [notice_id]})
    assert r.status_code == 200, r.text
    return r.json()


async def inbox(env, notice_id: int) -> list[str]:
    ctx = env["ctx"]
    m, u = ctx.table("message"), ctx.table("user")
    names = {r["id"]: r["username"] for r in await u.select(u.id, u.username)}
    return sorted(names[r["recipient"]] for r in await m.select(m.recipient).where(m.link == f"/notices/{notice_id}"))


@ASYNC
async def test_sending_to_an_org_tree_writes_one_message_per_active_user_deduplicated(env, admin):  # noqa: F811
    whole = await write_notice(env, admin, "全市通知", ["KP"], True, users=["user_unit1"])
    out = await send(admin, whole)
    # 开平市 and its sub-orgs: every active user once (unit1 named again is not doubled, the disabled one gets none).
    assert await inbox(env, whole) == ["nobody", "ops", "unit1", "unit1b", "unit2"]
    assert out["results"][str(whole)] == {"recipients": 5, "link": f"/notices/{whole}"}
    notice = (await admin.get(f"/api/notice/{whole}")).json()
    assert (notice["status"], notice["recipients"], notice["sender"]) == ("sent", 5, env["ids"]["user_admin"])
    again = await send(admin, whole)  # 发送 applies to drafts only: nothing written twice
    assert await inbox(env, whole) == ["nobody", "ops", "unit1", "unit1b", "unit2"] and "results" not in again
    r = await admin.patch(f"/api/notice/{whole}", json={"title": "改过的通知"})  # what was sent stays as sent
    assert r.status_code == 422 and "已发送的通知公告不能修改" in r.text
    own = await write_notice(env, admin, "教育局通知", ["U1"], False)
    await send(admin, own)
    assert await inbox(env, own) == ["nobody", "unit1", "unit1b"]
    top = await write_notice(env, admin, "仅市本级", ["KP"], False)  # no sub-orgs: 开平市 itself has no users
    r = await admin.post("/api/notice/actions/send", json={"ids": [top]})
    assert r.status_code == 422 and "接收" in r.text and await inbox(env, top) == []


@ASYNC
async def test_only_recipients_and_sender_read_a_notice_and_its_files(env, admin):  # noqa: F811
    nid = await write_notice(env, admin, "附件通知", ["U1"], False)
    r = await admin.post(f"/api/notice/{nid}/files/files", files={"file": ("通知.png", PNG)})
    assert r.status_code == 201, r.text
    file_id = r.json()["id"]
    await send(admin, nid)
    unit1, unit2 = await login(env, "unit1"), await login(env, "unit2")
    seen = (await unit1.get(f"/api/notices/{nid}")).json()
    assert (seen["title"], seen["kind_label"], [f["name"] for f in seen["files"]]) == ("附件通知", "系统通知", ["通知.png"])
    assert "receipts" not in seen and seen["receipt"]["confirmed_at"] is None
    got = await unit1.get(f"/notices/{nid}/files/{file_id}")
    assert got.status_code == 200 and got.content == PNG and got.headers["content-type"].startswith("image/png")
    page = (await unit1.get(f"/notices/{nid}")).text
    assert "附件通知" in page and f"/notices/{nid}/files/{file_id}" in page and "确认收到" in page
    for path in (f"/api/notices/{nid}", f"/notices/{nid}", f"/notices/{nid}/files/{file_id}"):
        assert (await unit2.get(path)).status_code == 404, path
    assert (await unit2.post(f"/api/notices/{nid}/confirm", json={})).status_code == 404
    draft = await write_notice(env, admin, "草稿", ["U1"], False)  # not sent: nobody reads it here
    assert (await unit1.get(f"/api/notices/{draft}")).status_code == 404
    assert (await unit1.get("/api/notices/99999999999")).status_code == 400


@ASYNC
async def test_recipients_confirm_receipt_and_the_sender_sees_who_has_not(env, admin):  # noqa: F811
    nid = await write_notice(env, admin, "回执通知", ["U1"], False)
    await send(admin, nid)
    unit1, nobody = await login(env, "unit1"), await login(env, "nobody")
    r = await unit1.post(f"/api/notices/{nid}/confirm", json={"reply": "x" * 201})
    assert r.status_code == 422 and "reply" in r.text
    first = (await unit1.post(f"/api/notices/{nid}/confirm", json={"reply": "已收到，按时报送"})).json()
    again = (await unit1.post(f"/api/notices/{nid}/confirm", json={"reply": "改"})).json()
    assert first == again and first["reply"] == "已收到，按时报送"
    r = await nobody.post(f"/notices/{nid}/confirm", data={"reply": ""})
    assert r.status_code == 303 and "已确认收到" in (await nobody.get(f"/notices/{nid}")).text
    assert (await unit1.get(f"/api/notices/{nid}/receipts")).status_code == 403
    seen = (await admin.get(f"/api/notices/{nid}/receipts")).json()
    assert [(c["username"], c["reply"]) for c in seen["confirmed"]] == [("unit1", "已收到，按时报送"), ("nobody", None)]
    assert [p["username"] for p in seen["pending"]] == ["unit1b"] and seen["confirmed"][0]["org"] == "开平市教育局"
    page = (await admin.get(f"/notices/{nid}")).text
    assert "已确认 2 人，未确认 1 人" in page and "监管一乙" in page
