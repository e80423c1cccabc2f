"""Deleting 站内消息 on SQLite and PostgreSQL: a user deletes their own messages (one, the selected
ones, all read ones) through the API and the page's checkboxes; another user's id answers 404 or
counts for nothing, and nobody else's message is touched. Bad ids are a 400 naming `ids`."""
from __future__ import annotations

import datetime as dt
import itertools

import pytest
from test_messages import env, login  # noqa: F401  (env: the module's Kaiping app on each backend)

ASYNC = pytest.mark.asyncio(loop_scope="session")
SEQ = itertools.count()


async def put(env, username: str, title: str, read: bool = False) -> int:
    ctx = env["ctx"]
    m, u = ctx.table("message"), ctx.table("user")
    uid = (await u.select(u.id).where(u.username == username).first())["id"]
    key = f"test-delete:{next(SEQ)}"
    await m.insert(m(recipient=uid, title=title, body="正文", link="/messages", dedupe_key=key, day=dt.date(2026, 12, 1),
                     sent_at=dt.datetime(2026, 12, 1, 8), read_at=dt.datetime(2026, 12, 1, 9) if read else None))
    return (await m.select(m.id).where(m.dedupe_key == key).first())["id"]


async def titles(env, username: str) -> list[str]:
    ctx = env["ctx"]
    m, u = ctx.table("message"), ctx.table("user")
    uid = (await u.select(u.id).where(u.username == username).first())["id"]
    return sorted(r["title"] for r in await m.select(m.title).where(m.recipient == uid, m.title.like("删%")))


@ASYNC
async def test_user_deletes_own_one_and_selected_messages_and_anothers_id_deletes_nothing(env):  # noqa: F811
    a1, a2, a3 = [await put(env, "unit1", f"删甲{i}") for i in (1, 2, 3)]
    b1 = await put(env, "unit2", "删乙1")
    unit1 = await login(env, "unit1")
    assert (await unit1.delete(f"/api/messages/{b1}")).status_code == 404
    assert (await unit1.delete(f"/api/messages/{a1}")).json() == {"deleted": 1}
    assert (await unit1.delete(f"/api/messages/{a1}")).status_code == 404  # already gone
    r = await unit1.post("/api/messages/delete", json={"ids": [a2, b1]})
    assert r.status_code == 200 and r.json() == {"deleted": 1}
    assert await titles(env, "unit1") == ["删甲3"] and await titles(env, "unit2") == ["删乙1"]
    for bad in ({"ids": []}, {"ids": ["x"]}, {"ids": [0]}, {"ids": [2**40]}, {"ids": "1"}, {}):
        r = await unit1.post("/api/messages/delete", json=bad)
        assert r.status_code == 400 and "ids" in r.text, (bad, r.status_code, r.text)
    assert await titles(env, "unit1") == ["删甲3"] and a3


@ASYNC
async def test_delete_all_read_removes_only_own_read_messages(env):  # noqa: F811
    await put(env, "unit1b", "删丙已读", read=True)
    await put(env, "unit1b", "删丙未读")
    await put(env, "unit2", "删丁已读", read=True)
    unit1b = await login(env, "unit1b")
    assert (await unit1b.post("/api/messages/delete", json={"read": True})).json()["deleted"] >= 1
    assert await titles(env, "unit1b") == ["删丙未读"]
    assert "删丁已读" in await titles(env, "unit2")


@ASYNC
async def test_page_offers_select_all_and_deletes_the_ticked_messages(env):  # noqa: F811
    keep = await put(env, "nobody", "删戊留")
    gone = [await put(env, "nobody", f"删戊{i}") for i in (1, 2)]
    foreign = await put(env, "unit2", "删己他人")
    nobody = await login(env, "nobody")
    page = (await nobody.get("/messages")).text
    assert 'class="check-all"' in page and "全选" in page and f'name="ids" value="{keep}"' in page
    r = await nobody.post("/messages/delete", data={"ids": [str(i) for i in gone] + [str(foreign)]})
    assert r.status_code == 303 and r.headers["location"] == "/messages"
    assert "已删除 2 条消息" in (await nobody.get("/messages")).text
    assert await titles(env, "nobody") == ["删戊留"] and "删己他人" in await titles(env, "unit2")
    r = await nobody.post("/messages/delete", data={"ids": ["abc"]})
    assert r.status_code == 303 and "无效的消息编号" in (await nobody.get("/messages")).text
    assert await titles(env, "nobody") == ["删戊留"]


@ASYNC
async def test_unread_latest_gives_the_newest_own_unread_message_for_the_popup(env):  # noqa: F811
    older = await put(env, "unit2", "删庚旧")
    newer = await put(env, "unit2", "删庚新")
    await put(env, "unit2", "删庚已读", read=True)
    await put(env, "unit1", "删庚他人")
    unit2 = await login(env, "unit2")
    data = (await unit2.get("/api/messages/unread-latest")).json()
    assert data["latest"]["id"] == newer and data["latest"]["title"] == "删庚新" and older < newer
    assert data["unread"] == (await unit2.get("/api/messages/unread-count")).json()["unread"]
    await unit2.post(f"/api/messages/{newer}/read")
    assert (await unit2.get("/api/messages/unread-latest")).json()["latest"]["id"] == older
