"""Custom actions with parameters through the API: declared parameters are validated like fields
(422 keyed by parameter, naming it), refs must lie in the actor's view, handlers get typed values,
each row's operation-log entry records them (passwords never), `set` writes `$params.<name>`, and
the OpenAPI schema types each action's body. On SQLite and PostgreSQL.

Kaiping with the identity set-up of identity_fixture; its 接收 action gains two parameters here."""
from __future__ import annotations

import html
import json

import pytest
from conftest import BACKENDS, copy_app, start_app
from identity_fixture import add_identity, add_role, add_user, login, try_login
from kaiping_fixture import build

pytestmark = pytest.mark.asyncio(loop_scope="session")
USERS = {"screen": "user_admin"}
ROLES = {"screen": "role_admin"}
RECEIVE_NOTE = (
    "      received_at:    {type: datetime, label: 接收时间, readonly: true}\n",
    "      received_at:    {type: datetime, label: 接收时间, readonly: true}\n"
    "      receive_note:   {type: text, label: 接收意见, readonly: true}\n")
RECEIVE_PARAMS = (
    "        set: {status: received, received_by: $user, received_at: $now}\n",
    "        set: {status: received, received_by: $user, received_at: $now, receive_note: $params.note}\n"
    "        params:\n"
    "          note:    {type: text, label: 接收意见, required: true, max_length: 200}\n"
    "          contact: {type: string, label: 联系电话, sensitive: phone}\n")


@pytest.fixture(scope="module", params=BACKENDS)
async def env(request, tmp_path_factory):
    from specadmin.generator.writer import generate

    app_dir = copy_app("kaiping", tmp_path_factory.mktemp(f"action-params-{request.param}"))
    alerts = app_dir / "modules" / "alerts.yaml"
    text = alerts.read_text(encoding="utf-8")
    for old, new in (RECEIVE_NOTE, RECEIVE_PARAMS):
        assert old in text
        text = text.replace(old, new, 1)
    alerts.write_text(text, encoding="utf-8")
    generate(app_dir)
    app, url = await start_app(app_dir, request.param)
    env = {"app": app, "ctx": app.state.ctx, "dir": app_dir, "url": url}
    env["ids"] = await build(env["ctx"])
    await add_identity(env)
    yield env
    for hook in app.on_shutdown:
        await hook(app)


async def _log_of(env, entity: str, row_id: int) -> list[dict]:
    oplog = env["ctx"].table("oplog")
    rows = await oplog.select(oplog.before, oplog.after).where(
        oplog.subject_type == entity, oplog.subject_id == str(row_id), oplog.op_type == "action").order_by(oplog.id)
    return [{"before": json.loads(r["before"] or "null"), "after": r["after"] or ""} for r in rows]


async def test_assigning_roles_without_choosing_one_is_refused_naming_the_parameter(env):
    clerk = await add_user(env, "noroles", "S1", name="未选角色")
    root = await login(env, "root")
    r = await root.post("/api/user/actions/assign_roles", params=USERS, json={"ids": [clerk], "params": {}})
    assert r.status_code == 422 and r.json()["errors"] == {"roles": "请选择角色"}, r.text
    r = await root.post("/api/user/actions/assign_roles", params=USERS,
                        json={"ids": [clerk], "params": {"roles": [], "mode": "add"}})
    assert r.status_code == 422 and r.json()["errors"] == {"roles": "请选择角色"}, r.text
    join = env["ctx"].join_table("user", "roles")
    assert not await join.exists().where(join.owner == clerk)
    assert await _log_of(env, "user", clerk) == []


async def test_unknown_mistyped_and_unchosen_parameters_are_each_named(env):
    clerk = env["ids"]["user_s1clerk"]
    root = await login(env, "root")
    r = await root.post("/api/user/actions/assign_roles", params=USERS,
                        json={"ids": [clerk], "params": {"roles": [env["ids"]["role_s1_admin"]], "mode": "sideways",
                                                         "colour": "red"}})
    assert r.status_code == 422, r.text
    assert r.json()["errors"] == {"mode": "分配方式：“sideways”不是有效的选项", "colour": "未知参数 colour"}
    r = await root.post("/api/user/actions/change_org", params=USERS, json={"ids": [clerk], "params": {"org": "abc"}})
    assert r.status_code == 400 and "org" in r.json()["errors"] and "整数" in r.json()["errors"]["org"], r.text
    r = await root.post("/api/user/actions/change_org", params=USERS, json={"ids": [clerk], "params": {"org": 99999}})
    assert r.status_code == 422 and r.json()["errors"] == {"org": "调整后的组织：所选记录不存在"}, r.text
    r = await root.post("/api/role/actions/grant", params=ROLES,
                        json={"ids": [env["ids"]["role_s1_admin"]], "params": {"screen": "nowhere"}})
    assert r.status_code == 422 and r.json()["errors"] == {"screen": "菜单：“nowhere”不是有效的选项"}, r.text
    user = env["ctx"].table("user")
    assert (await user.select(user.org).where(user.id == clerk))[0]["org"] == env["ids"]["S1C"]


async def test_a_ref_parameter_outside_the_actors_view_is_refused(env):
    admin = await login(env, "s1admin")  # an org admin of 长沙街道: orgs and people of its street only
    clerk = env["ids"]["user_s1clerk"]
    r = await admin.post("/api/user/actions/change_org", params=USERS,
                         json={"ids": [clerk], "params": {"org": env["ids"]["S2"]}})
    assert r.status_code == 422 and r.json()["errors"] == {"org": "调整后的组织：所选记录不在您的数据权限范围内"}, r.text
    helper = await add_role(env, "s1_params_helper", {}, org_code="S1")
    r = await admin.post("/api/role/actions/assign_users", params=ROLES,
                         json={"ids": [helper], "params": {"users": [clerk, env["ids"]["user_s2clerk"]]}})
    assert r.status_code == 422 and "数据权限" in r.json()["errors"]["users"], r.text
    join = env["ctx"].join_table("user", "roles")
    assert not await join.exists().where(join.target == helper)


async def test_a_role_shared_from_above_is_offered_and_accepted_but_a_superuser_role_is_not(env):
    shared = await add_role(env, "city_shared_p", {}, org_code="KP")
    role = env["ctx"].table("role")
    await role.update({role.visible_to_children: True}).where(role.id == shared)
    sysadmin = (await role.select(role.id).where(role.code == "sysadmin"))[0]["id"]
    clerk = await add_user(env, "sharedrole", "S1", name="共享角色人员")
    admin = await login(env, "s1admin")
    r = await admin.post("/api/user/actions/assign_roles", params=USERS,
                         json={"ids": [clerk], "params": {"roles": [sysadmin]}})
    assert r.status_code == 422 and "roles" in r.json()["errors"], r.text
    r = await admin.post("/api/user/actions/assign_roles", params=USERS, json={"ids": [clerk], "params": {"roles": [shared]}})
    assert r.status_code == 200 and r.json()["done"] == [clerk], r.text
    log = await _log_of(env, "user", clerk)
    assert log[-1]["before"] == {"action": "assign_roles", "params": {"roles": [shared], "mode": "add"}}


async def test_a_chosen_password_is_never_logged_and_a_generated_one_is_answered_once(env):
    person = await add_user(env, "pwparams", "S1", name="改密人员")
    root = await login(env, "root")
    chosen = "Chosen#Pass42"
    r = await root.post("/api/user/actions/reset_password", params=USERS,
                        json={"ids": [person], "params": {"password": chosen}})
    assert r.status_code == 200 and "results" not in r.json(), r.text
    assert (await try_login(env, "pwparams", chosen)).status_code == 200
    r = await root.post("/api/user/actions/reset_password", params=USERS, json={"ids": [person], "params": {}})
    generated = r.json()["results"][str(person)]["password"]
    assert (await try_login(env, "pwparams", generated)).status_code == 200
    log = await _log_of(env, "user", person)
    assert [entry["before"] for entry in log] == [{"action": "reset_password", "params": {}}] * 2
    oplog = env["ctx"].table("oplog")
    everything = " ".join(f"{r['before']} {r['after']}" for r in await oplog.select(oplog.before, oplog.after))
    assert chosen not in everything and generated not in everything


async def test_grant_takes_a_screen_and_its_actions_and_the_grantee_sees_the_screen(env):
    grantee_role = await add_role(env, "params_grantee", {})
    await add_user(env, "grantee", "S1", ("params_grantee",))
    grantee = await login(env, "grantee")
    assert (await grantee.get("/api/place", params={"screen": "place_admin"})).status_code == 403
    root = await login(env, "root")
    r = await root.post("/api/role/actions/grant", params=ROLES,
                        json={"ids": [grantee_role], "params": {"screen": "place_admin", "actions": ["list", "read"],
                                                                "valid_until": "2099-12-31"}})
    assert r.status_code == 200 and r.json()["done"] == [grantee_role], r.text
    assert (await grantee.get("/api/place", params={"screen": "place_admin"})).status_code == 200
    log = await _log_of(env, "role", grantee_role)
    assert log[-1]["before"] == {"action": "grant", "params": {"screen": "place_admin", "actions": ["list", "read"],
                                                               "valid_until": "2099-12-31"}}
    r = await root.post("/api/role/actions/grant", params=ROLES,
                        json={"ids": [grantee_role], "params": {"screen": "place_admin", "actions": "list,fly"}})
    assert r.status_code == 422 and "fly" in r.json()["errors"]["actions"], r.text
    r = await root.post("/api/role/actions/revoke", params=ROLES, json={"ids": [grantee_role], "params": {}})
    assert r.status_code == 422 and r.json()["errors"] == {"screen": "请选择菜单"}, r.text
    r = await root.post("/api/role/actions/revoke", params=ROLES,
                        json={"ids": [grantee_role], "params": {"screen": "place_admin"}})
    assert r.status_code == 200, r.text
    assert (await grantee.get("/api/place", params={"screen": "place_admin"})).status_code == 403


async def test_a_declared_parameter_is_written_by_set_and_logged_masked(env):
    ids = env["ids"]
    unit1 = await login(env, "unit1")
    r = await unit1.post("/api/scan_alert/actions/receive", json={"ids": [ids["alert_P1"]], "params": {}})
    assert r.status_code == 422 and r.json()["errors"] == {"note": "请填写接收意见"}, r.text
    r = await unit1.post("/api/scan_alert/actions/receive",
                         json={"ids": [ids["alert_P1"]], "params": {"note": "长" * 201}})
    assert r.status_code == 422 and r.json()["errors"] == {"note": "接收意见：长度不能超过 200 个字符"}, r.text
    r = await unit1.post("/api/scan_alert/actions/receive",
                         json={"ids": [ids["alert_P1"], ids["alert_P2"]],
                               "params": {"note": "已电话核实", "contact": "13812345678"}})
    assert r.status_code == 200 and r.json()["done"] == [ids["alert_P1"]], r.text
    assert r.json()["skipped"] == [ids["alert_P2"]] and "不存在或不在数据权限范围内" in r.json()["reasons"][str(ids["alert_P2"])]
    alert = env["ctx"].table("scan_alert")
    row = (await alert.select(alert.status, alert.receive_note).where(alert.id == ids["alert_P1"]))[0]
    assert row == {"status": "received", "receive_note": "已电话核实"}
    log = await _log_of(env, "scan_alert", ids["alert_P1"])
    params = log[-1]["before"]["params"]
    assert params["note"] == "已电话核实" and params["contact"] != "13812345678" and "5678" in params["contact"]
    r = await unit1.post("/api/scan_alert/actions/receive", json={"ids": [ids["alert_P1"]], "params": {"note": "再收"}})
    assert r.json()["done"] == [] and "不符合“接收”的条件" in r.json()["reasons"][str(ids["alert_P1"])]


async def test_openapi_types_the_body_of_each_action_with_parameters(env):
    root = await login(env, "root")
    schema = (await root.get("/schema/openapi.json")).json()
    op = schema["paths"]["/api/user/actions/change_org"]["post"]
    assert op["operationId"] == "action_user_change_org" and op["summary"] == "用户：调整组织"
    ref = op["requestBody"]["content"]["application/json"]["schema"]["$ref"].rsplit("/", 1)[-1]
    body = schema["components"]["schemas"][ref]
    params = schema["components"]["schemas"][body["properties"]["params"]["$ref"].rsplit("/", 1)[-1]]
    org = params["properties"]["org"]
    assert "调整后的组织（必填）" in json.dumps(org, ensure_ascii=False) and "integer" in json.dumps(org)
    assert "/api/scan_alert/actions/receive" in schema["paths"]
    assert "/api/user/actions/{action}" in schema["paths"]  # actions without parameters, and batch delete


# -- the pages (what the dialogs post, and the pages without JavaScript) ---------------------------
JSON = {"accept": "application/json"}


async def test_a_page_action_without_its_parameters_shows_their_form_then_names_what_is_missing(env):
    clerk = await add_user(env, "pageroles", "S1", name="页面分配")
    root = await login(env, "root")
    r = await root.post("/s/user_admin/action/assign_roles", data={"ids": str(clerk)})
    assert r.status_code == 200 and 'name="params_form"' in r.text and 'name="roles"' in r.text, r.text[:500]
    assert "请选择角色" not in r.text and "数据校验失败" not in r.text
    r = await root.post("/s/user_admin/action/assign_roles", data={"ids": str(clerk), "params_form": "1"})
    assert r.status_code == 422 and "请选择角色" in r.text and 'name="roles"' in r.text
    r = await root.post("/s/user_admin/action/assign_roles", headers=JSON,
                        data={"ids": str(clerk), "params_form": "1", "mode": "add"})
    assert r.status_code == 422 and r.json()["errors"] == {"roles": "请选择角色"}
    r = await root.post("/s/user_admin/action/assign_roles", headers=JSON,
                        data={"ids": str(clerk), "params_form": "1", "roles": str(env["ids"]["role_s1_admin"])})
    assert r.status_code == 200 and r.json()["message"] == "分配角色成功 1 条" and r.json()["redirect"] == "/s/user_admin"
    join = env["ctx"].join_table("user", "roles")
    assert await join.exists().where(join.owner == clerk, join.target == env["ids"]["role_s1_admin"])


async def test_a_generated_password_is_shown_on_the_answer_page_once_and_never_flashed(env):
    person = await add_user(env, "pagereset", "S1", name="页面重置")
    root = await login(env, "root")
    r = await root.post("/s/user_admin/action/reset_password", data={"ids": str(person), "r": "tab=all"})
    assert r.status_code == 200 and "只显示这一次" in r.text and "页面重置" in r.text
    shown_html = r.text.split('class="outcome-value">', 1)[1].split("<", 1)[0]
    password = html.unescape(shown_html)
    assert (await try_login(env, "pagereset", password)).status_code == 200
    later = await root.get("/s/user_admin")
    assert password not in later.text and shown_html not in later.text
    r = await root.post("/s/user_admin/action/reset_password", headers=JSON, data={"ids": str(person)})
    shown = r.json()["shown"]
    assert [(s["row"], [i["label"] for i in s["items"]]) for s in shown] == [("页面重置", ["新密码"])]
    assert (await try_login(env, "pagereset", shown[0]["items"][0]["value"])).status_code == 200
    later = await root.get("/s/user_admin")
    value = shown[0]["items"][0]["value"]
    assert "重置密码成功 1 条" in later.text and value not in later.text and html.escape(value) not in later.text


async def test_a_batch_outcome_names_the_skipped_rows_and_why(env):
    import datetime as dt

    ids = env["ids"]
    alert = env["ctx"].table("scan_alert")
    made = {}
    for status in ("received", "unreceived"):
        row = await alert.insert(alert(place=ids["P1"], period_start=dt.date(2026, 9, 1), period_end=dt.date(2026, 9, 7),
                                       period_label=f"批量{status}", reason="below", status=status)).returning(alert.id)
        made[status] = row[0]["id"]
    unit1 = await login(env, "unit1")
    r = await unit1.post("/s/alert_inbox/action/receive", headers=JSON,
                         data={"ids": f"{made['received']},{made['unreceived']},999999", "params_form": "1",
                               "note": "批量接收"})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["message"] == "接收成功 1 条，跳过 2 条" and body["kind"] == "success"
    assert sorted(body["reasons"]) == sorted(["批量received：不符合“接收”的条件", "记录 999999 不存在或不在数据权限范围内"])
