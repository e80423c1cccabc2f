"""Nobody acts on a person or role with more power than themself, and nobody hands out more than
they hold (roles, screens, actions, scope, validity); the operation log keeps who acted after the
account is deleted. On SQLite and PostgreSQL."""
from __future__ import annotations

import datetime as dt

import pytest
from conftest import BACKENDS
from identity_fixture import STREET_ADMIN_GRANTS, add_role, add_user, identity_env, login, try_login
from kaiping_fixture import PASSWORD

pytestmark = pytest.mark.asyncio(loop_scope="session")
SCREEN = {"screen": "user_admin"}


@pytest.fixture(scope="module", params=BACKENDS)
async def env(request, tmp_path_factory):
    async with identity_env(request.param, tmp_path_factory) as e:
        # A city-level org admin: the superuser `root` (org KP) lies inside its subtree.
        await add_role(e, "kp_admin", STREET_ADMIN_GRANTS | {"grant_admin": "list,read,create,update"},
                       org_code="KP", admin=True)
        await add_user(e, "kpadmin", "KP", ("kp_admin",), name="市级组织管理员")
        await add_role(e, "s1_placer", {"place_admin": "list,read,update"}, org_code="S1")
        yield e


async def test_an_org_admin_cannot_take_over_a_superuser_in_its_subtree(env):
    root_id = env["ids"]["user_root"]
    admin = await login(env, "kpadmin")
    calls = [("post", "/api/user/actions/reset_password", {"json": {"ids": [root_id], "params": {}}}),
             ("post", "/api/user/actions/disable", {"json": {"ids": [root_id]}}),
             ("post", "/api/user/actions/change_org", {"json": {"ids": [root_id], "params": {"org": env["ids"]["S1"]}}}),
             ("patch", f"/api/user/{root_id}", {"json": {"name": "被接管"}}),
             ("delete", f"/api/user/{root_id}", {})]
    for method, path, kwargs in calls:
        r = await getattr(admin, method)(path, params=SCREEN, **kwargs)
        assert r.status_code == 403 and "超级管理员" in r.json()["detail"], (path, r.text)
    assert (await try_login(env, "root", PASSWORD)).status_code == 200
    user = env["ctx"].table("user")
    row = (await user.select(user.name, user.active, user.org).where(user.id == root_id))[0]
    assert (row["name"], row["active"], row["org"]) == ("超级管理员", True, env["ids"]["KP"])


async def test_an_org_admin_cannot_reset_the_password_of_a_colleague_with_grants_it_lacks(env):
    placer = await add_user(env, "s1placer", "S1", ("s1_placer",), name="场所管理员")
    plain = await add_user(env, "s1plain", "S1", name="普通人员")
    admin = await login(env, "s1admin")
    r = await admin.post("/api/user/actions/reset_password", params=SCREEN, json={"ids": [placer], "params": {}})
    assert r.status_code == 403 and "场所信息管理" in r.json()["detail"]
    assert (await try_login(env, "s1placer", PASSWORD)).status_code == 200
    r = await admin.post("/api/user/actions/reset_password", params=SCREEN, json={"ids": [plain], "params": {}})
    assert r.status_code == 200 and r.json()["done"] == [plain]


async def test_a_role_conferring_more_than_the_actor_holds_cannot_be_handed_out(env):
    clerk = env["ids"]["user_s1clerk"]
    placer_role = env["ids"]["role_s1_placer"]
    admin = await login(env, "s1admin")
    r = await admin.post("/api/user/actions/assign_roles", params=SCREEN,
                         json={"ids": [clerk], "params": {"roles": [placer_role]}})
    assert r.status_code == 422 and "不能分配权限高于自己的角色" in r.json()["errors"]["roles"]
    r = await admin.post("/api/role/actions/assign_users", json={"ids": [placer_role], "params": {"users": [clerk]}})
    assert r.status_code in (403, 422), r.text
    join = env["ctx"].join_table("user", "roles")
    assert not await join.exists().where(join.owner == clerk, join.target == placer_role)


async def test_an_org_admin_cannot_change_a_role_that_confers_more_than_it_holds(env):
    admin = await login(env, "s1admin")
    placer_role = env["ids"]["role_s1_placer"]
    r = await admin.patch(f"/api/role/{placer_role}", json={"valid_to": "2099-12-31"})
    assert r.status_code == 403 and "权限高于自己的角色" in r.json()["detail"]


async def test_a_grant_cannot_outlast_its_authors_own_grant(env):
    soon = dt.date.today() + dt.timedelta(days=10)
    await add_role(env, "temp_granter", {"grant_admin": "list,read,create", "place_admin": "list,read"},
                   grant_until={"place_admin": soon})
    await add_user(env, "tempgranter", "S1", ("temp_granter",))
    target = await add_role(env, "temp_grantee", {})
    granter = await login(env, "tempgranter")
    r = await granter.post("/api/grant", json={"role": target, "screen": "place_admin", "actions": "list,read"})
    assert r.status_code == 422 and "有效期" in r.json()["errors"]["valid_until"]
    later = (soon + dt.timedelta(days=1)).isoformat()
    r = await granter.post("/api/grant", json={"role": target, "screen": "place_admin", "actions": "list,read",
                                               "valid_until": later})
    assert r.status_code == 422
    r = await granter.post("/api/grant", json={"role": target, "screen": "place_admin", "actions": "list,read",
                                               "valid_until": soon.isoformat()})
    assert r.status_code == 201, r.text


async def test_an_org_admin_cannot_open_people_beyond_its_subtree_through_a_grant(env):
    from specadmin.runtime.identity.guards import check_grant
    from specadmin.runtime.identity.sessions import load_principal

    global_role = await add_role(env, "global_helper", {})  # no org, no org-admin flag: its grants are not confined
    local_role = await add_role(env, "local_helper", {}, org_code="KP")
    admin = await login(env, "kpadmin")
    r = await admin.post("/api/grant", json={"role": global_role, "screen": "user_admin", "actions": "list,read"})
    assert r.status_code == 422, r.text
    # The same grant judged on its content alone: unconfined people management exceeds the admin's subtree.
    principal = await load_principal(env["ctx"], env["ids"]["user_kpadmin"])
    with pytest.raises(Exception, match="数据范围"):
        check_grant(env["ctx"], principal, "user_admin", "list,read", None, confined=False)
    check_grant(env["ctx"], principal, "user_admin", "list,read", None, confined=True)
    r = await admin.post("/api/grant", json={"role": local_role, "screen": "user_admin", "actions": "list,read"})
    assert r.status_code == 201, r.text


async def test_the_operation_log_keeps_who_acted_after_the_account_is_deleted(env):
    user_id = await add_user(env, "leaver", "S1", ("s1_admin",), name="离职人员")
    leaver = await login(env, "leaver")
    r = await leaver.patch(f"/api/user/{env['ids']['user_s1clerk']}", params=SCREEN, json={"employee_no": "E-1"})
    assert r.status_code == 200, r.text
    root = await login(env, "root")
    role = env["ctx"].table("role")
    s1_admin = (await role.select(role.id).where(role.code == "s1_admin"))[0]["id"]
    await root.post("/api/user/actions/assign_roles", params=SCREEN,
                    json={"ids": [user_id], "params": {"roles": [s1_admin], "mode": "remove"}})
    assert (await root.delete(f"/api/user/{user_id}", params=SCREEN)).status_code == 204
    oplog = env["ctx"].table("oplog")
    rows = await oplog.select(oplog.operator_id, oplog.operator_name).where(
        oplog.operator_id == user_id, oplog.op_type == "update")
    assert rows and all(r["operator_name"] == "离职人员（leaver）" for r in rows)
