"""Clear view of sensitive values (issue 11 item 7): the `unmask` grant action, on SQLite and PostgreSQL.

Masking is the default. `unmask`, granted at run time (角色管理 授权 / 菜单授权管理) or in a spec role,
shows a screen's sensitive values in clear in its list, detail, edit form and exports, and every
such view is in the operation log (type 明文查看) with the screen and the row ids or count, never
the values. Nobody hands out `unmask` without holding it (identity.power).
"""
from __future__ import annotations

import io

import pytest
from conftest import BACKENDS
from identity_fixture import add_role, add_user, identity_env, login
from openpyxl import load_workbook

pytestmark = pytest.mark.asyncio(loop_scope="session")

CLEAR = {"P1": "开平市一号酒家路1号", "P2": "开平市二号超市路1号", "P3": "开平市三号茶楼路1号"}  # kaiping_fixture
MASKED = "开平市一号酒****"


@pytest.fixture(scope="module", params=BACKENDS)
async def env(request, tmp_path_factory):
    async with identity_env(request.param, tmp_path_factory) as e:
        # A place viewer (no unmask yet), a granter who lacks unmask, and one who holds it.
        await add_role(e, "place_viewer", {"place_admin": "list,read,export"})
        await add_user(e, "viewer", "OPS", ("place_viewer",), name="场所查看员")
        await add_role(e, "plain_granter", {"role_admin": "list,read,grant", "grant_admin": "list,read,create",
                                            "place_admin": "list,read,export"})
        await add_user(e, "granter", "OPS", ("plain_granter",), name="授权员")
        await add_role(e, "clear_granter", {"grant_admin": "list,read,create",
                                            "place_admin": "list,read,export,unmask"})
        await add_user(e, "cleargranter", "OPS", ("clear_granter",), name="明文授权员")
        await add_role(e, "place_editor", {"place_admin": "list,read,update"})
        await add_user(e, "editor", "OPS", ("place_editor",), name="场所编辑员")
        yield e


async def clear_views(env, username: str) -> list[dict]:
    """The operation log's 明文查看 entries of one person, oldest first."""
    import json

    oplog = env["ctx"].table("oplog")
    rows = await oplog.select(oplog.subject_type, oplog.subject_id, oplog.after).where(
        oplog.op_type == "unmask", oplog.operator == env["ids"][f"user_{username}"]).order_by(oplog.id)
    return [{**r, "after": json.loads(r["after"])} for r in rows]


def export_locations(content: bytes) -> dict[str, str]:
    header, *rows = list(load_workbook(io.BytesIO(content)).active.iter_rows(values_only=True))
    code, location = header.index("公共场所ID"), header.index("所在位置")
    return {row[code]: row[location] for row in rows}


async def test_unmask_granted_at_run_time_opens_clear_values_and_each_view_is_logged(env):
    viewer = await login(env, "viewer")
    p1 = env["ids"]["P1"]
    page = (await viewer.get("/api/place", params={"screen": "place_admin", "page_size": 100})).json()
    assert {i["place_code"]: i["location"] for i in page["items"]}["P1"] == MASKED
    assert (await viewer.get(f"/api/place/{p1}", params={"screen": "place_admin"})).json()["location"] == MASKED
    assert export_locations((await viewer.get("/api/place/export.xlsx", params={"screen": "place_admin"})).content)[
        "P1"] == MASKED
    assert await clear_views(env, "viewer") == []  # masked views are not clear views

    root = await login(env, "root")
    r = await root.post("/api/role/actions/grant", json={"ids": [env["ids"]["role_place_viewer"]], "params": {
        "screen": "place_admin", "actions": "list,read,export,unmask"}})
    assert r.status_code == 200 and r.json()["done"] == [env["ids"]["role_place_viewer"]], r.text

    page = (await viewer.get("/api/place", params={"screen": "place_admin", "page_size": 100})).json()
    listed = {i["place_code"]: i["location"] for i in page["items"]}
    assert {code: listed[code] for code in CLEAR} == CLEAR
    assert (await viewer.get(f"/api/place/{p1}", params={"screen": "place_admin"})).json()["location"] == CLEAR["P1"]
    exported = export_locations((await viewer.get("/api/place/export.xlsx", params={"screen": "place_admin"})).content)
    assert {code: exported[code] for code in CLEAR} == CLEAR

    views = await clear_views(env, "viewer")
    assert [v["after"]["by"] for v in views] == ["list", "read", "export"]
    assert all(v["after"]["screens"] == ["place_admin"] and "location" in v["after"]["fields"] for v in views)
    assert views[2]["after"]["fields"] == ["location"]  # the export's columns: 监管单位负责人手机号 is not one
    assert views[0]["after"]["ids"] == [i["id"] for i in page["items"]] and views[0]["after"]["rows"] == len(page["items"])
    assert views[1]["subject_id"] == str(p1) and views[1]["after"]["ids"] == [p1]
    assert views[2]["after"]["rows"] == len(exported)
    oplog = env["ctx"].table("oplog")
    everything = " ".join(str(r["after"]) + str(r["before"]) for r in await oplog.select(oplog.after, oplog.before))
    assert not any(value in everything for value in CLEAR.values())  # the log never holds a clear value


async def test_without_unmask_values_stay_masked_and_nothing_is_logged(env):
    editor = await login(env, "editor")  # may list, read and edit places, but not see them in clear
    p1 = env["ids"]["P1"]
    item = (await editor.get(f"/api/place/{p1}", params={"screen": "place_admin"})).json()
    assert item["location"] == MASKED
    listed = (await editor.get("/api/place", params={"screen": "place_admin"})).json()["items"]
    assert all(i["location"] is None or "****" in i["location"] for i in listed)
    form = (await editor.get(f"/s/place_admin/{p1}/edit")).text
    assert "不修改请留空" in form and CLEAR["P1"] not in form and MASKED not in form
    assert await clear_views(env, "editor") == []


async def test_the_edit_form_of_someone_with_unmask_shows_the_clear_value(env):
    ops = await login(env, "ops")  # the seed's ops unit: `unmask` on 场所信息管理 in its spec role
    p1 = env["ids"]["P1"]
    form = (await ops.get(f"/s/place_admin/{p1}/edit")).text
    assert f'value="{CLEAR["P1"]}"' in form and "不修改请留空" not in form
    views = await clear_views(env, "ops")
    assert views and views[-1]["after"]["by"] == "read" and views[-1]["subject_id"] == str(p1)


async def test_an_actor_without_unmask_cannot_grant_it(env):
    target = await add_role(env, "grant_target", {})
    granter = await login(env, "granter")
    r = await granter.post("/api/grant", json={"role": target, "screen": "place_admin", "actions": "list,read,unmask"})
    assert r.status_code == 422 and "明文查看" in r.json()["errors"]["actions"], r.text
    r = await granter.post("/api/role/actions/grant", json={"ids": [target], "params": {
        "screen": "place_admin", "actions": "list,read,unmask"}})
    assert r.status_code == 422 and "明文查看" in r.text, r.text
    grant = env["ctx"].table("grant")
    assert not await grant.exists().where(grant.role == target)
    r = await granter.post("/api/grant", json={"role": target, "screen": "place_admin", "actions": "list,read"})
    assert r.status_code == 201, r.text
    clear = await login(env, "cleargranter")  # holds unmask on the screen: may pass it on
    r = await clear.post("/api/grant", json={"role": target, "screen": "place_admin", "actions": "list,read,unmask"})
    assert r.status_code == 201, r.text


async def test_a_role_conferring_unmask_is_more_power_than_the_same_role_without(env):
    from specadmin.runtime.identity.power import exceeds
    from specadmin.runtime.identity.sessions import load_principal

    plain = await load_principal(env["ctx"], env["ids"]["user_granter"])
    clear = await load_principal(env["ctx"], env["ids"]["user_cleargranter"])
    assert exceeds(plain.grant("place_admin"), clear.grant("place_admin")) == "无明文查看权限"
    assert exceeds(clear.grant("place_admin"), plain.grant("place_admin")) is None
