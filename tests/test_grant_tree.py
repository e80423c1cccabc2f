"""菜单权限: the menu tree of a role or person with the spec's grants shown read-only beside the stored
ones, saving ticks and a data scope per screen, grants naming no real screen or action refused,
on SQLite and PostgreSQL (the page is clicked through in tests/test_kaiping_browser.py)."""
from __future__ import annotations

import pytest
from conftest import BACKENDS
from identity_fixture import add_role, add_user, identity_env, login

pytestmark = pytest.mark.asyncio(loop_scope="session")


@pytest.fixture(scope="module", params=BACKENDS)
async def env(request, tmp_path_factory):
    async with identity_env(request.param, tmp_path_factory) as e:
        yield e


def screen_of(tree: dict, name: str) -> dict:
    return next(s for m in tree["menus"] for s in m["screens"] if s["name"] == name)


async def test_the_tree_shows_the_spec_grants_of_a_role_read_only(env):
    role = env["ctx"].table("role")
    ops = (await role.select(role.id).where(role.code == "ops"))[0]["id"]
    root = await login(env, "root")
    tree = (await root.get("/api/identity/grant-tree", params={"role": ops})).json()
    place = screen_of(tree, "place_admin")
    assert place["label"] == "场所信息管理" and place["stored"] is None
    assert set(place["spec"]["actions"]) >= {"list", "read", "update"} and place["spec"]["sources"][0].startswith("配置")
    assert {a["label"] for a in place["actions"]} >= {"查询列表", "查看详情", "新增", "修改"}
    scan_query = screen_of(tree, "scan_query")
    assert scan_query["spec"]["scope"] == "all"


async def test_a_person_sees_the_grants_of_their_roles_as_read_only(env):
    root = await login(env, "root")
    tree = (await root.get("/api/identity/grant-tree", params={"user": env["ids"]["user_unit1"]})).json()
    threshold = screen_of(tree, "threshold_admin")
    assert threshold["spec"] and any("监管单位" in s for s in threshold["spec"]["sources"])


async def test_saving_ticks_and_a_data_scope_is_what_the_holder_then_sees(env):
    role_id = await add_role(env, "city_viewer", {}, org_code="KP")
    await add_user(env, "cityviewer", "KP", ("city_viewer",))
    root = await login(env, "root")
    scopes = {o["name"] for o in screen_of((await root.get("/api/identity/grant-tree", params={"role": role_id})).json(),
                                           "threshold_admin")["scopes"]}
    assert {"default", "own_unit", "own_and_sub", "all"} <= scopes
    r = await root.post("/api/identity/grant-tree", json={"role": role_id, "screens": {
        "threshold_admin": {"actions": ["list", "read"], "scope": "own_unit"}}})
    assert r.status_code == 200 and r.json()["saved"]["created"] == 1, r.text
    viewer = await login(env, "cityviewer")
    assert (await viewer.get("/api/place", params={"screen": "threshold_admin"})).json()["total"] == 0  # none under KP itself
    r = await root.post("/api/identity/grant-tree", json={"role": role_id, "screens": {
        "threshold_admin": {"actions": ["list", "read"], "scope": "own_and_sub"}}})
    assert r.json()["saved"]["updated"] == 1
    place = env["ctx"].table("place")
    supervised = await place.count().where(place.supervisor.is_in([env["ids"]["U1"], env["ids"]["U2"]]))
    viewer = await login(env, "cityviewer")
    assert (await viewer.get("/api/place", params={"screen": "threshold_admin"})).json()["total"] == supervised > 0
    r = await root.post("/api/identity/grant-tree", json={"role": role_id, "screens": {"threshold_admin": {"actions": []}}})
    assert r.json()["saved"]["deleted"] == 1
    viewer = await login(env, "cityviewer")
    assert (await viewer.get("/api/place", params={"screen": "threshold_admin"})).status_code == 403


async def test_a_grant_naming_a_label_instead_of_a_screen_or_action_is_refused(env):
    role_id = await add_role(env, "typo_role", {})
    root = await login(env, "root")
    r = await root.post("/api/grant", json={"role": role_id, "screen": "场所信息管理", "actions": "list"})
    assert r.status_code == 422 and "没有名为 场所信息管理 的菜单" in r.json()["errors"]["screen"]
    r = await root.post("/api/grant", json={"role": role_id, "screen": "place_admin", "actions": "查看"})
    assert r.status_code == 422 and "可选" in r.json()["errors"]["actions"]
    r = await root.post("/api/grant", json={"role": role_id, "screen": "place_admin", "actions": "list",
                                            "scope": "own_unit"})
    assert r.status_code == 422 and "scope" in r.json()["errors"]  # place_admin has no org to measure from


async def test_an_actor_cannot_widen_a_scope_through_the_tree(env):
    await add_role(env, "unit_granter", {"grant_admin": "list,read,create,update,delete"})
    await add_user(env, "unitgranter", "U1", ("unit_granter", "supervisor"))  # threshold_admin: own unit only
    target = await add_role(env, "unit_target", {}, org_code="U1")
    granter = await login(env, "unitgranter")
    r = await granter.post("/api/identity/grant-tree", json={"role": target, "screens": {
        "threshold_admin": {"actions": ["list", "read"], "scope": "all"}}})
    assert r.status_code == 422 and "数据范围" in r.text
    r = await granter.post("/api/identity/grant-tree", json={"role": target, "screens": {
        "threshold_admin": {"actions": ["list", "read"], "scope": "own_unit"}}})
    assert r.status_code == 200, r.text
