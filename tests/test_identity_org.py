"""Orgs, people and divisions: batch enable/disable/delete, pinyin-initial search, business
superiors and tags, saved searches, the division import and descendant query; on SQLite and
PostgreSQL."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import BACKENDS
from identity_fixture import add_user, identity_env, login

pytestmark = pytest.mark.asyncio(loop_scope="session")
SAMPLE = Path(__file__).resolve().parent.parent / "specs" / "system" / "data" / "divisions_sample.csv"


@pytest.fixture(scope="module", params=BACKENDS)
async def env(request, tmp_path_factory):
    async with identity_env(request.param, tmp_path_factory) as e:
        yield e


async def test_batch_disable_and_enable_people(env):
    a, b = await add_user(env, "batch_a", "S1"), await add_user(env, "batch_b", "S1C")
    root = await login(env, "root")
    r = await root.post("/api/user/actions/disable", params={"screen": "user_admin"}, json={"ids": [a, b]})
    assert r.status_code == 200 and sorted(r.json()["done"]) == sorted([a, b])
    page = (await root.get("/api/user", params={"screen": "user_admin", "tab": "disabled"})).json()
    assert {a, b} <= {i["id"] for i in page["items"]}
    r = await root.post("/api/user/actions/disable", params={"screen": "user_admin"}, json={"ids": [a]})
    assert r.json()["skipped"] == [a]  # already disabled: the action's `when` leaves it alone
    r = await root.post("/api/user/actions/enable", params={"screen": "user_admin"}, json={"ids": [a, b]})
    assert sorted(r.json()["done"]) == sorted([a, b])
    user = env["ctx"].table("user")
    assert {row["active"] for row in await user.select(user.active).where(user.id.is_in([a, b]))} == {True}


async def test_batch_disable_and_enable_orgs(env):
    root = await login(env, "root")
    ids = [env["ids"]["U1"], env["ids"]["U2"]]
    r = await root.post("/api/org/actions/disable", json={"ids": ids})
    assert sorted(r.json()["done"]) == sorted(ids)
    page = (await root.get("/api/org", params={"active": "false"})).json()
    assert set(ids) <= {i["id"] for i in page["items"]}
    r = await root.post("/api/org/actions/enable", json={"ids": ids})
    assert sorted(r.json()["done"]) == sorted(ids)


async def test_batch_delete_stays_inside_the_scope(env):
    a, b = await add_user(env, "del_a", "S1"), await add_user(env, "del_b", "S1C")
    other = await add_user(env, "del_other", "S2")
    admin = await login(env, "s1admin")
    r = await admin.post("/api/user/actions/delete", json={"ids": [a, b, other]})
    assert r.status_code == 200, r.text
    assert sorted(r.json()["done"]) == sorted([a, b]) and r.json()["skipped"] == [other]
    user = env["ctx"].table("user")
    assert [row["id"] for row in await user.select(user.id).where(user.id.is_in([a, b, other]))] == [other]


async def test_batch_delete_reports_rows_still_referenced(env):
    root = await login(env, "root")
    r = await root.post("/api/org", json={"name": "临时科室", "code": "TMP1", "level": "city", "parent": env["ids"]["KP"]})
    spare = r.json()["id"]
    used = env["ids"]["S1"]  # people belong to it
    r = await root.post("/api/org/actions/delete", json={"ids": [spare, used]})
    assert r.status_code == 200
    assert r.json()["done"] == [spare] and str(used) in r.json()["failed"]
    assert (await root.get(f"/api/org/{used}")).status_code == 200


async def test_batch_delete_needs_the_delete_grant(env):
    clerk_id = env["ids"]["user_s1clerk"]
    await add_user(env, "nodelete", "S1")
    nodelete = await login(env, "nodelete")
    r = await nodelete.post("/api/user/actions/delete", json={"ids": [clerk_id]})
    assert r.status_code == 403


async def test_pinyin_initials_find_the_org(env):
    root = await login(env, "root")
    page = (await root.get("/api/org", params={"q": "kpsjyj"})).json()
    assert [i["name"] for i in page["items"]] == ["开平市教育局"]
    r = await root.post("/api/org", json={"name": "开平市长沙街道城运中心", "code": "CSYY", "level": "street",
                                           "parent": env["ids"]["KP"]})
    assert r.status_code == 201, r.text
    # 市长 across the seam of two names would read "kpszsjd…": the place-name reading comes first.
    assert r.json()["name_initials"] == "kpscsjdcyzx kpszsjdcyzx"
    assert r.json()["id"] in {i["id"] for i in (await root.get("/api/org", params={"q": "kpscsjd"})).json()["items"]}
    org_id = r.json()["id"]
    r = await root.patch(f"/api/org/{org_id}", json={"name": "长沙城运中心"})
    assert r.json()["name_initials"] == "cscyzx"
    assert [i["id"] for i in (await root.get("/api/org", params={"q": "cscyzx"})).json()["items"]] == [org_id]
    r = await root.patch(f"/api/org/{org_id}", json={"name_initials": "zzz"})
    assert r.status_code == 422


async def test_org_has_business_superiors_and_searchable_tags(env):
    ids = env["ids"]
    root = await login(env, "root")
    r = await root.post("/api/org", json={"name": "下沉科室", "code": "SINK1", "level": "street", "parent": ids["S1"],
                                           "superiors": [ids["U1"], ids["U2"]], "tags": "镇街城运中心,试点",
                                           "custom_code": "C-001", "org_code": "91440783MA51234567"})
    assert r.status_code == 201, r.text
    item = (await root.get(f"/api/org/{r.json()['id']}")).json()
    assert item["superiors"] == sorted([ids["U1"], ids["U2"]])
    assert item["superiors_label"] == "开平市教育局，开平市卫生健康局"
    found = (await root.get("/api/org", params={"q": "镇街城运中心"})).json()["items"]
    assert [i["code"] for i in found] == ["SINK1"]
    from specadmin.runtime.identity.tags import org_has_tag, orgs_tagged

    assert await orgs_tagged(env["ctx"], "镇街城运中心") == [r.json()["id"]]
    assert await org_has_tag(env["ctx"], r.json()["id"], "试点")
    assert not await org_has_tag(env["ctx"], r.json()["id"], "城运中心")  # a tag matches whole, not in part
    assert [i["code"] for i in (await root.get("/api/org", params={"q": "C-001"})).json()["items"]] == ["SINK1"]


async def test_people_are_found_by_id_number_and_shown_masked(env):
    root = await login(env, "root")
    r = await root.post("/api/user", params={"screen": "user_admin"},
                        json={"username": "idcard", "name": "持证人", "org": env["ids"]["S1"], "id_type": "resident_id",
                              "id_number": "440783199001011234", "mobile": "13812345678", "employee_no": "E-9"})
    assert r.status_code == 201, r.text
    page = (await root.get("/api/user", params={"screen": "user_admin", "id_number": "440783199001011234"})).json()
    assert [i["username"] for i in page["items"]] == ["idcard"]
    assert [i["username"] for i in (await root.get("/api/user", params={"q": "E-9"})).json()["items"]] == ["idcard"]
    assert [i["username"] for i in (await root.get("/api/user", params={"q": "czr"})).json()["items"]] == ["idcard"]
    user = env["ctx"].table("user")
    stored = (await user.select(user.id_number).where(user.username == "idcard"))[0]["id_number"]
    assert "440783" not in stored


async def test_saved_searches_belong_to_their_user(env):
    root = await login(env, "root")
    body = {"screen": "user_admin", "name": "已锁定人员", "query": "tab=locked"}
    r = await root.post("/api/identity/saved-searches", json=body)
    assert r.status_code == 200, r.text
    saved_id = r.json()["id"]
    r = await root.post("/api/identity/saved-searches", json={**body, "query": "tab=locked&q=kp"})
    assert r.json()["id"] == saved_id
    items = (await root.get("/api/identity/saved-searches", params={"screen": "user_admin"})).json()["items"]
    assert [(i["name"], i["query"]) for i in items] == [("已锁定人员", "tab=locked&q=kp")]
    ops = await login(env, "ops")
    assert (await ops.get("/api/identity/saved-searches", params={"screen": "user_admin"})).json()["items"] == []
    assert (await ops.delete(f"/api/identity/saved-searches/{saved_id}")).status_code == 404
    assert (await ops.post("/api/identity/saved-searches", json=body)).status_code == 403
    assert (await root.delete(f"/api/identity/saved-searches/{saved_id}")).status_code == 204
    assert (await root.get("/api/identity/saved-searches", params={"screen": "user_admin"})).json()["items"] == []


def _run_cli(env, *args: str) -> subprocess.CompletedProcess:
    environment = dict(os.environ)
    if env["url"]:
        environment["DATABASE_URL"] = env["url"]
    return subprocess.run([sys.executable, "-m", "specadmin.cli", *args], capture_output=True, text=True,
                          env=environment, timeout=120)


async def test_division_import_is_idempotent_and_builds_the_tree(env):
    first = _run_cli(env, "divisions", str(env["dir"]), str(SAMPLE))
    assert first.returncode == 0, first.stderr
    assert "37 rows, 37 added, 0 updated" in first.stdout
    again = _run_cli(env, "divisions", str(env["dir"]), str(SAMPLE))
    assert "37 rows, 0 added, 0 updated" in again.stdout
    division = env["ctx"].table("division")
    rows = {r["code"]: r for r in await division.select(division.id, division.code, division.parent, division.level)}
    assert rows["440783"]["parent"] == rows["440700"]["id"] and rows["440700"]["parent"] == rows["440000"]["id"]
    assert rows["440783002"]["parent"] == rows["440783"]["id"] and rows["440783002"]["level"] == "street"
    assert rows["510184"]["level"] == "district" and rows["510000"]["parent"] is None


async def test_division_descendants_query(env):
    if not await env["ctx"].table("division").count():
        assert _run_cli(env, "divisions", str(env["dir"]), str(SAMPLE)).returncode == 0
    root = await login(env, "root")
    r = await root.get("/api/identity/divisions/510184/descendants")
    assert r.status_code == 200, r.text
    codes = [i["code"] for i in r.json()["items"]]
    assert codes[0] == "510184" and len(codes) == 16 and all(c.startswith("510184") for c in codes)
    assert "510184001" in codes  # 崇阳街道
    city = [i["code"] for i in (await root.get("/api/identity/divisions/440700/descendants")).json()["items"]]
    assert city[:2] == ["440700", "440783"] and len(city) == 18 and not any(c.startswith("51") for c in city)
    assert (await root.get("/api/identity/divisions/999999/descendants")).status_code == 404
    nobody = await login(env, "nobody")
    assert (await nobody.get("/api/identity/divisions/510184/descendants")).status_code == 403


async def test_division_file_with_bad_codes_is_refused(env, tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("code,name\n51000X,坏代码\n", encoding="utf-8")
    result = _run_cli(env, "divisions", str(env["dir"]), str(bad))
    assert result.returncode == 1 and "第 2 行" in result.stderr


@pytest.mark.parametrize("screen", ["org_admin", "user_admin", "role_admin", "role_group_admin", "grant_admin",
                                    "function_admin", "api_resource_admin", "division_admin"])
async def test_system_screens_render_as_pages(env, screen):
    root = await login(env, "root")
    r = await root.get(f"/s/{screen}")
    assert r.status_code == 200 and env["ctx"].screens[screen]["label"] in r.text
    assert (await root.get(f"/s/{screen}/new")).status_code == 200
    nobody = await login(env, "nobody")
    assert (await nobody.get(f"/s/{screen}")).status_code == 403
