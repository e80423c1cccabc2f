"""The ops console at /admin/ (piccolo-admin), on SQLite and PostgreSQL: one sign-on with the app's
login, Chinese labels from the spec, sensitive columns masked and never written, and every write
through it in the operation log (who, what), in the same transaction as the write."""
from __future__ import annotations

import json

import httpx
import pytest
from conftest import BACKENDS, api_login, running_app
from kaiping_fixture import PASSWORD, build

pytestmark = pytest.mark.asyncio(loop_scope="session")
ID_NUMBER, PHONE = "440783199001011234", "13812345678"  # the scan rows' plaintext (kaiping_fixture)


@pytest.fixture(scope="module", params=BACKENDS)
async def env(request, tmp_path_factory):
    from specadmin.runtime.identity.users import ensure_user

    async with running_app("kaiping", tmp_path_factory, request.param, "console") as app:
        ctx = app.state.ctx
        ids = await build(ctx)
        ids["user_admin"] = await ensure_user(ctx, "admin", PASSWORD, name="管理员", org_code="KP", superuser=True)
        admin = await api_login(app, "admin", PASSWORD)
        yield {"app": app, "ctx": ctx, "ids": ids, "admin": admin}


async def oplog_since(ctx, last_id: int) -> list[dict]:
    oplog = ctx.table("oplog")
    return await oplog.select().where(oplog.id > last_id).order_by(oplog.id)


async def last_oplog_id(ctx) -> int:
    oplog = ctx.table("oplog")
    rows = await oplog.select(oplog.id).order_by(oplog.id, ascending=False).limit(1)
    return rows[0]["id"] if rows else 0


async def test_a_logged_in_superuser_uses_the_console_without_a_second_login(env):
    admin = env["admin"]
    me = await admin.get("/admin/api/user/")
    assert me.status_code == 200 and me.json()["username"] == "admin"
    listed = await admin.get("/admin/api/tables/scan_record/", params={"__page_size": 5})
    assert listed.status_code == 200 and listed.json()["rows"]
    # piccolo-admin's own login is closed: the app's login is the only one.
    r = await admin.post("/admin/public/login/", json={"username": "admin", "password": PASSWORD})
    assert r.status_code == 403


async def test_the_console_refuses_everyone_but_superusers(env):
    anonymous = httpx.AsyncClient(transport=httpx.ASGITransport(app=env["app"]), base_url="http://testserver")
    assert (await anonymous.get("/admin/api/user/", headers={"accept": "application/json"})).status_code == 401
    page = await anonymous.get("/admin/")
    assert page.status_code in (302, 303) and page.headers["location"].startswith("/login")
    ops = await api_login(env["app"], "ops", PASSWORD)
    for path in ("/admin/", "/admin/api/user/", "/admin/api/tables/scan_record/"):
        assert (await ops.get(path)).status_code == 403
    assert (await ops.patch("/admin/api/tables/dict_item/1/", json={"label": "x"})).status_code == 403


async def test_console_names_tables_and_columns_with_the_spec_labels(env):
    admin = env["admin"]
    schema = (await admin.get("/admin/api/tables/scan_record/schema/")).json()
    titles = {name: prop["title"] for name, prop in schema["properties"].items()}
    assert titles["place_code"] == "公共场所ID" and titles["subject_id_number"] == "被采集人身份证"
    assert titles["phone_bidx"] == "联系电话（检索索引）" and titles["created_at"] == "创建时间"
    assert schema["extra"]["help_text"] == "扫码进场记录"
    assert "只显示掩码" in schema["properties"]["phone"]["extra"]["help_text"]
    user = (await admin.get(f"/admin/api/tables/{env['ctx'].table('user')._meta.tablename}/schema/")).json()
    # BaseUser's columns: the spec's field label where the user entity has one, else a Chinese default.
    assert user["properties"]["username"]["title"] == "账号" and user["properties"]["email"]["title"] == "电子邮箱"
    page = await admin.get("/admin/")
    assert page.status_code == 200 and '<html lang="zh-CN">' in page.text and "运维控制台</title>" in page.text
    assert '<script src="/static/console.js" defer></script>' in page.text
    assert "&quot;scan record&quot;: &quot;扫码进场记录&quot;" in page.text
    assert (await admin.get("/static/console.js")).status_code == 200


async def test_console_shows_sensitive_columns_masked(env):
    admin, ctx = env["admin"], env["ctx"]
    scan = ctx.table("scan_record")
    stored = (await scan.select(scan.id, scan.phone).order_by(scan.id).limit(1))[0]
    listed = await admin.get("/admin/api/tables/scan_record/", params={"__page_size": 50, "__readable": "true"})
    row = next(r for r in listed.json()["rows"] if r["id"] == stored["id"])
    single = (await admin.get(f"/admin/api/tables/scan_record/{stored['id']}/")).json()
    for shown in (row, single):
        assert shown["subject_id_number"] == "440***********1234" and shown["phone"] == "138****5678"
        assert shown["phone_bidx"] == "******" and shown["subject_name"] == "李四"
    for body in (listed.text, json.dumps(single)):
        assert stored["phone"] not in body and PHONE not in body and ID_NUMBER not in body


async def test_console_never_writes_a_sensitive_column(env):
    admin, ctx = env["admin"], env["ctx"]
    scan = ctx.table("scan_record")
    before = (await scan.select().order_by(scan.id).limit(1))[0]
    count, last = await scan.count(), await last_oplog_id(ctx)
    shown = (await admin.get(f"/admin/api/tables/scan_record/{before['id']}/")).json()
    for change in ({"phone": "13900000000"}, {"phone": None}, {"phone_bidx": "abc"}, {"subject_id_number": ID_NUMBER}):
        r = await admin.patch(f"/admin/api/tables/scan_record/{before['id']}/", json={**shown, **change})
        assert r.status_code == 403 and "敏感字段" in r.text, change
    r = await admin.post("/admin/api/tables/scan_record/", json={"place_code": "P1", "phone": PHONE,
                                                                  "scanned_at": "2026-11-02T09:00:00"})
    assert r.status_code == 403 and "联系电话" in r.text
    assert await scan.count() == count
    assert (await scan.select().where(scan.id == before["id"]))[0] == before
    assert await oplog_since(ctx, last) == []
    # Sent back as shown (what piccolo-admin's edit form does), the masks are left out and the tokens stay.
    r = await admin.patch(f"/admin/api/tables/scan_record/{before['id']}/", json={**shown, "subject_name": "王五"})
    assert r.status_code == 200, r.text
    after = (await scan.select().where(scan.id == before["id"]))[0]
    assert after["subject_name"] == "王五"
    assert (after["phone"], after["phone_bidx"]) == (before["phone"], before["phone_bidx"])
    assert ctx.sensitive.decode(after["phone"]) == PHONE


async def test_every_console_write_is_in_the_operation_log(env):
    admin, ctx = env["admin"], env["ctx"]
    item = ctx.table("dict_item")
    last = await last_oplog_id(ctx)
    r = await admin.post(f"/admin/api/tables/{item._meta.tablename}/",
                         json={"dict_name": "alert_reason", "key": "console", "label": "控制台", "sort": 9, "active": True})
    assert r.status_code in (200, 201), r.text
    new_id = (await item.select(item.id).where(item.key == "console"))[0]["id"]
    r = await admin.patch(f"/admin/api/tables/{item._meta.tablename}/{new_id}/", json={"label": "控制台2"})
    assert r.status_code == 200, r.text
    r = await admin.delete(f"/admin/api/tables/{item._meta.tablename}/{new_id}/")
    assert r.status_code in (200, 204), r.text
    scan = ctx.table("scan_record")
    first = (await scan.select(scan.id).order_by(scan.id).limit(1))[0]["id"]
    r = await admin.patch(f"/admin/api/tables/scan_record/{first}/", json={"subject_name": "赵六"})
    assert r.status_code == 200, r.text
    entries = await oplog_since(ctx, last)
    assert [(e["op_type"], e["subject_type"], e["subject_id"]) for e in entries] == [
        ("create", "dict_item", str(new_id)), ("update", "dict_item", str(new_id)), ("delete", "dict_item", str(new_id)),
        ("update", "scan_record", str(first))]
    assert {e["operator"] for e in entries} == {env["ids"]["user_admin"]}
    create, update, delete, scan_update = entries
    assert json.loads(create["after"])["label"] == "控制台" and create["subject_name"] == "控制台"
    assert json.loads(update["before"]) == {"label": "控制台"}
    assert json.loads(update["after"]) == {"label": "控制台2", "via": "运维控制台"}
    assert json.loads(delete["before"])["label"] == "控制台2"
    assert json.loads(scan_update["after"]) == {"subject_name": "赵六", "via": "运维控制台"}
    for e in entries:
        assert PHONE not in (e["before"] or "") + (e["after"] or "")


async def test_a_refused_console_write_leaves_no_log_entry(env):
    admin, ctx = env["admin"], env["ctx"]
    place = ctx.table("place")
    row = (await place.select().where(place.place_code == "P1"))[0]
    last = await last_oplog_id(ctx)
    # piccolo-admin refuses the value (not a number): nothing written, nothing logged.
    r = await admin.patch(f"/admin/api/tables/place/{row['id']}/", json={"min_daily": "many"})
    assert 400 <= r.status_code < 500
    r = await admin.patch("/admin/api/tables/place/999999/", json={"name": "x"})
    assert 400 <= r.status_code < 500
    assert await oplog_since(ctx, last) == []
    assert (await place.select().where(place.id == row["id"]))[0] == row


async def test_console_sets_no_password_and_its_logout_ends_the_app_session(env):
    admin = await api_login(env["app"], "admin", PASSWORD)
    r = await admin.post("/admin/api/change-password/", json={"current_password": PASSWORD, "new_password": "x1",
                                                               "confirm_new_password": "x1"})
    assert r.status_code == 403
    # Nor does it set a password through the user table: the app resets passwords under its rules.
    user = env["ctx"].table("user")
    ops = (await user.select(user.id, user.password).where(user.username == "ops"))[0]
    r = await admin.patch(f"/admin/api/tables/{user._meta.tablename}/{ops['id']}/", json={"password": "Other@2026x"})
    assert r.status_code == 403 and "密码" in r.text
    r = await admin.patch(f"/admin/api/tables/{user._meta.tablename}/{ops['id']}/", json={"password": "", "name": "运维二"})
    assert r.status_code == 200, r.text
    assert (await user.select(user.password, user.name).where(user.id == ops["id"]))[0] == {
        "password": ops["password"], "name": "运维二"}
    last = await last_oplog_id(env["ctx"])
    r = await admin.post("/admin/public/logout/")
    assert r.status_code == 200, r.text
    assert (await admin.get("/api/auth/me")).status_code == 401
    assert (await admin.get("/admin/api/user/", headers={"accept": "application/json"})).status_code == 401
    [entry] = await oplog_since(env["ctx"], last)
    assert (entry["op_type"], entry["subject_name"]) == ("logout", "admin")


async def test_console_csp_keeps_scripts_to_the_app_and_allows_inline_styles_there_only(env):
    """piccolo-admin's bundle inserts <style> elements: /admin/ alone allows inline styles; scripts stay 'self'."""
    admin = env["admin"]
    for path in ("/admin/", "/admin/api/tables/scan_record/schema/"):
        csp = (await admin.get(path)).headers["content-security-policy"]
        assert "script-src 'self';" in csp and "style-src 'self' 'unsafe-inline';" in csp and "unsafe-eval" not in csp
    for path in ("/", "/s/place_admin", "/schema", "/adminx"):
        csp = (await admin.get(path)).headers["content-security-policy"]
        assert "script-src 'self';" in csp and "style-src 'self';" in csp and "unsafe" not in csp
