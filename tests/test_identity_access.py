"""Roles and grants: validity periods, per-function grant expiry, copy role, role groups, org
admins confined to their street, function security policies and disabled addresses; on
SQLite and PostgreSQL."""
from __future__ import annotations

import datetime as dt

import pytest
from conftest import BACKENDS
from identity_fixture import add_role, add_user, client, identity_env, login, try_login

pytestmark = pytest.mark.asyncio(loop_scope="session")


def days() -> tuple[dt.date, dt.date, dt.date]:
    """Yesterday, today and tomorrow, read when a test runs (a run may cross midnight)."""
    today = dt.date.today()
    return today - dt.timedelta(days=1), today, today + dt.timedelta(days=1)


@pytest.fixture(scope="module", params=BACKENDS)
async def env(request, tmp_path_factory):
    async with identity_env(request.param, tmp_path_factory) as e:
        yield e


async def test_expired_role_grants_nothing(env):
    YESTERDAY, TODAY, TOMORROW = days()
    await add_role(env, "expired_ops", {"place_admin": "list,read"}, valid_to=YESTERDAY)
    await add_role(env, "current_ops", {"place_admin": "list,read"}, valid_from=YESTERDAY, valid_to=TOMORROW)
    await add_user(env, "expired", "S1", ("expired_ops",))
    await add_user(env, "current", "S1", ("current_ops",))
    expired = await login(env, "expired")
    assert (await expired.get("/api/place", params={"screen": "place_admin"})).status_code == 403
    assert (await expired.get("/s/place_admin")).status_code == 403
    assert "place_admin" not in (await expired.get("/api/auth/me")).json()["user"]["screens"]
    current = await login(env, "current")
    assert (await current.get("/api/place", params={"screen": "place_admin"})).json()["total"] == 3


async def test_role_before_its_start_date_grants_nothing(env):
    YESTERDAY, TODAY, TOMORROW = days()
    await add_role(env, "future_ops", {"place_admin": "list,read"}, valid_from=TOMORROW)
    await add_user(env, "future", "S1", ("future_ops",))
    future = await login(env, "future")
    assert (await future.get("/api/place", params={"screen": "place_admin"})).status_code == 403


async def test_expired_function_grant_is_ignored_while_others_hold(env):
    YESTERDAY, TODAY, TOMORROW = days()
    await add_role(env, "mixed", {"place_admin": "list,read", "scan_query": "list,read"},
                   grant_until={"place_admin": YESTERDAY, "scan_query": TODAY})
    await add_user(env, "mixed", "S1", ("mixed",))
    mixed = await login(env, "mixed")
    assert (await mixed.get("/api/place", params={"screen": "place_admin"})).status_code == 403
    assert (await mixed.get("/api/scan_record", params={"screen": "scan_query"})).status_code == 200


async def test_copy_role_copies_its_grants(env):
    YESTERDAY, TODAY, TOMORROW = days()
    source = await add_role(env, "copysrc", {"place_admin": "list,read", "scan_query": "list,read,export"},
                            grant_until={"scan_query": TOMORROW})
    root = await login(env, "root")
    r = await root.post("/api/role/actions/copy", params={"screen": "role_admin"},
                        json={"ids": [source], "params": {"code": "copydst", "label": "复制的角色"}})
    assert r.status_code == 200, r.text
    new_id = r.json()["results"][str(source)]["id"]
    grant = env["ctx"].table("grant")
    copied = await grant.select(grant.screen, grant.actions, grant.valid_until).where(grant.role == new_id).order_by(
        grant.screen)
    assert [(g["screen"], g["actions"], g["valid_until"]) for g in copied] == [
        ("place_admin", "list,read", None), ("scan_query", "list,read,export", TOMORROW)]
    await add_user(env, "copyuser", "S1", ("copydst",))
    user = await login(env, "copyuser")
    assert (await user.get("/api/place", params={"screen": "place_admin"})).json()["total"] == 3


async def test_copy_of_a_spec_role_keeps_its_grants_and_scope(env):
    role = env["ctx"].table("role")
    supervisor = (await role.select(role.id).where(role.code == "supervisor"))[0]["id"]
    root = await login(env, "root")
    r = await root.post("/api/role/actions/copy", params={"screen": "role_admin"}, json={"ids": [supervisor]})
    code = r.json()["results"][str(supervisor)]["code"]
    assert code == "supervisor_copy"
    await add_user(env, "supcopy", "U1", (code,))
    user = await login(env, "supcopy")
    page = (await user.get("/api/place")).json()
    assert {i["place_code"] for i in page["items"]} == {"P1"}


async def test_role_group_grants_reach_holders_of_member_roles(env):
    member = await add_role(env, "grouped", {})
    await add_user(env, "grouped", "S1", ("grouped",))
    root = await login(env, "root")
    r = await root.post("/api/role_group", params={"screen": "role_group_admin"},
                        json={"code": "watchers", "label": "观察组", "roles": [member]})
    assert r.status_code == 201, r.text
    group_id = r.json()["id"]
    r = await root.post("/api/grant", params={"screen": "grant_admin"},
                        json={"role_group": group_id, "screen": "place_admin", "actions": "list,read"})
    assert r.status_code == 201, r.text
    grouped = await login(env, "grouped")
    assert (await grouped.get("/api/place", params={"screen": "place_admin"})).status_code == 200
    await root.post("/api/role_group/actions/disable", params={"screen": "role_group_admin"}, json={"ids": [group_id]})
    assert (await grouped.get("/api/place", params={"screen": "place_admin"})).status_code == 403


async def test_org_admin_of_a_street_cannot_see_or_edit_users_of_another_street(env):
    ids = env["ids"]
    admin = await login(env, "s1admin")
    assert (await admin.get("/api/auth/me")).json()["user"]["org_admin"] is True
    page = (await admin.get("/api/user", params={"screen": "user_admin", "page_size": 500})).json()
    orgs = {i["org"] for i in page["items"]}
    assert orgs <= {ids["S1"], ids["S1C"]} and "s1clerk" in {i["username"] for i in page["items"]}
    other = ids["user_s2clerk"]
    assert (await admin.get(f"/api/user/{other}")).status_code == 404
    assert (await admin.patch(f"/api/user/{other}", json={"name": "改名"})).status_code == 404
    r = await admin.post("/api/user/actions/disable", json={"ids": [other]})
    assert r.json()["done"] == [] and r.json()["skipped"] == [other]
    r = await admin.post("/api/user", json={"username": "intruder", "name": "越权", "org": ids["S2"]})
    # Refused on the field: the org it names lies outside the admin's view of orgs (runtime/ref_scope).
    assert r.status_code == 422 and "数据权限" in r.json()["errors"]["org"]
    assert not await env["ctx"].table("user").exists().where(env["ctx"].table("user").username == "intruder")
    root = await login(env, "root")
    assert (await root.get("/api/auth/me")).json()["user"]["org_admin"] is False
    assert (await root.get(f"/api/user/{other}")).json()["name"] == "三埠人员"


async def test_org_admin_cannot_move_people_out_of_its_street_or_raise_them(env):
    ids = env["ids"]
    admin = await login(env, "s1admin")
    clerk = ids["user_s1clerk"]
    r = await admin.post("/api/user/actions/change_org", json={"ids": [clerk], "params": {"org": ids["S2"]}})
    # The target org is a ref parameter: outside the admin's org view it is refused like a field's ref.
    assert r.status_code == 422 and "数据权限" in r.json()["errors"]["org"]
    r = await admin.post("/api/user/actions/change_org", json={"ids": [clerk], "params": {"org": ids["S1"]}})
    assert r.status_code == 200 and r.json()["done"] == [clerk]
    r = await admin.patch(f"/api/user/{clerk}", json={"superuser": True})
    assert r.status_code == 422 and "superuser" in r.json()["errors"]
    role = env["ctx"].table("role")
    sysadmin = (await role.select(role.id).where(role.code == "sysadmin"))[0]["id"]
    r = await admin.patch(f"/api/user/{clerk}", json={"roles": [sysadmin]})
    assert r.status_code == 422 and "roles" in r.json()["errors"]
    r = await admin.post("/api/user/actions/assign_roles", json={"ids": [clerk], "params": {"roles": [sysadmin]}})
    assert r.status_code == 422
    user = env["ctx"].table("user")
    row = (await user.select(user.org, user.superuser).where(user.id == clerk))[0]
    assert (row["org"], row["superuser"]) == (ids["S1"], False)


async def test_org_admin_sees_and_creates_roles_only_in_its_street(env):
    ids = env["ids"]
    admin = await login(env, "s1admin")
    codes = {i["code"] for i in (await admin.get("/api/role", params={"page_size": 500})).json()["items"]}
    assert "s1_admin" in codes and "sysadmin" not in codes and "ops" not in codes
    r = await admin.post("/api/role", json={"code": "s2_role", "label": "三埠角色", "org": ids["S2"]})
    assert r.status_code == 422 and "数据权限" in r.json()["errors"]["org"]  # runtime/ref_scope
    r = await admin.post("/api/role", json={"code": "s1_helper", "label": "长沙助手", "org": ids["S1C"]})
    assert r.status_code == 201, r.text
    r = await admin.post("/api/role/actions/assign_users", json={"ids": [r.json()["id"]],
                                                                  "params": {"users": [ids["user_s2clerk"]]}})
    assert r.status_code == 422


async def test_role_visible_to_children_can_be_assigned_below(env):
    ids = env["ids"]
    shared = await add_role(env, "city_shared", {}, org_code="KP")
    hidden = await add_role(env, "city_hidden", {}, org_code="KP")
    role = env["ctx"].table("role")
    await role.update({role.visible_to_children: True}).where(role.id == shared)
    admin = await login(env, "s1admin")
    offered = {i["code"] for i in (await admin.get("/api/identity/assignable-roles")).json()["items"]}
    assert "city_shared" in offered and "city_hidden" not in offered
    clerk = ids["user_s1clerk"]
    r = await admin.post("/api/user/actions/assign_roles", json={"ids": [clerk], "params": {"roles": [shared]}})
    assert r.status_code == 200 and r.json()["done"] == [clerk]
    r = await admin.post("/api/user/actions/assign_roles", json={"ids": [clerk], "params": {"roles": [hidden]}})
    assert r.status_code == 422


async def test_a_grant_cannot_pass_on_actions_its_author_lacks(env):
    await add_role(env, "granter", {"grant_admin": "list,read,create", "place_admin": "list,read"})
    await add_user(env, "granter", "S1", ("granter",))
    target = await add_role(env, "grantee", {})
    granter = await login(env, "granter")
    r = await granter.post("/api/grant", json={"role": target, "screen": "place_admin", "actions": "list,read,update"})
    assert r.status_code == 422 and "update" in r.json()["errors"]["actions"]
    r = await granter.post("/api/grant", json={"role": target, "screen": "place_admin", "actions": "list,read"})
    assert r.status_code == 201, r.text


async def test_functions_are_seeded_from_the_screens(env):
    fn = env["ctx"].table("function")
    rows = {r["code"]: r for r in await fn.select(fn.code, fn.page_url, fn.service_url, fn.policy, fn.parent)}
    assert rows["place_admin"]["page_url"] == "/s/place_admin"
    assert rows["place_admin"]["service_url"] == "/api/place"
    assert rows["place_admin"]["policy"] == "authorized"
    assert rows["place_admin"]["parent"] is not None and "menu:zone" in rows


async def _set_function(env, code: str, **values) -> dict:
    fn = env["ctx"].table("function")
    row = (await fn.select().where(fn.code == code))[0]
    root = await login(env, "root")
    r = await root.patch(f"/api/function/{row['id']}", json=values)
    assert r.status_code == 200, r.text
    return {k: row[k] for k in values}


async def test_logged_in_policy_opens_list_and_read_to_every_user(env):
    nobody = await login(env, "nobody")
    assert (await nobody.get("/api/dict_item", params={"screen": "dict_admin"})).status_code == 403
    old = await _set_function(env, "dict_admin", policy="logged_in")
    try:
        assert (await nobody.get("/api/dict_item", params={"screen": "dict_admin"})).status_code == 200
        assert (await nobody.get("/s/dict_admin")).status_code == 200
        r = await nobody.post("/api/dict_item", json={"dict_name": "x", "key": "y", "label": "z"})
        assert r.status_code == 403
        assert (await client(env).get("/api/dict_item")).status_code == 401
    finally:
        await _set_function(env, "dict_admin", **old)
    assert (await nobody.get("/api/dict_item", params={"screen": "dict_admin"})).status_code == 403


async def test_anonymous_policy_needs_no_login_for_reading_only(env):
    visitor = client(env)
    assert (await visitor.get("/api/dict_item")).status_code == 401
    old = await _set_function(env, "dict_admin", policy="anonymous")
    try:
        assert (await visitor.get("/api/dict_item")).status_code == 200
        assert (await visitor.get("/s/dict_admin")).status_code == 200
        assert (await visitor.get("/api/place")).status_code == 401
        assert (await visitor.get("/api/dict_item/export")).status_code == 401
        r = await visitor.post("/api/dict_item", json={"dict_name": "x", "key": "y", "label": "z"})
        assert r.status_code in (401, 403)
    finally:
        await _set_function(env, "dict_admin", **old)
    assert (await visitor.get("/api/dict_item")).status_code == 401


async def test_disabled_function_or_higher_level_closes_the_screen(env):
    ops = await login(env, "ops")
    assert (await ops.get("/api/place", params={"screen": "place_admin"})).status_code == 200
    old = await _set_function(env, "place_admin", active=False)
    try:
        assert (await ops.get("/api/place", params={"screen": "place_admin"})).status_code == 403
        assert (await ops.get("/s/place_admin")).status_code == 403
    finally:
        await _set_function(env, "place_admin", **old)
    old = await _set_function(env, "place_admin", level="2")
    try:
        assert (await ops.get("/api/place", params={"screen": "place_admin"})).status_code == 403
    finally:
        await _set_function(env, "place_admin", **old)
    assert (await ops.get("/api/place", params={"screen": "place_admin"})).status_code == 200


async def test_disabled_api_resource_refuses_its_addresses(env):
    root = await login(env, "root")
    ops = await login(env, "ops")
    r = await root.post("/api/api_resource", json={"name": "场所接口", "address": "/api/scan_record",
                                                    "res_type": "namespace", "active": False})
    assert r.status_code == 201, r.text
    resource = r.json()["id"]
    try:
        assert (await ops.get("/api/scan_record")).status_code == 403
        assert (await ops.get("/api/scan_record/export")).status_code == 403
        assert (await ops.get("/api/place")).status_code == 200
    finally:
        assert (await root.delete(f"/api/api_resource/{resource}")).status_code == 204
    assert (await ops.get("/api/scan_record")).status_code == 200


async def test_user_form_sets_an_initial_password_under_the_policy(env):
    ids = env["ids"]
    root = await login(env, "root")
    page = await root.get("/s/user_admin/new")
    assert page.status_code == 200 and 'type="password"' in page.text and "初始密码" in page.text
    form = {"username": "formuser", "name": "表单新增", "org": str(ids["S1"]), "active": "on"}
    weak = await root.post("/s/user_admin/new", data={**form, "password": "abc"})
    assert weak.status_code == 422 and 'data-field="password"' in weak.text and "密码" in weak.text
    assert (await try_login(env, "formuser", "abc")).status_code == 401
    ok = await root.post("/s/user_admin/new", data={**form, "password": "Form@User2026"})
    assert ok.status_code in (200, 303), ok.text[:500]
    assert (await try_login(env, "formuser", "Form@User2026")).status_code == 200
