"""Xicheng basics on SQLite and PostgreSQL: street users see their street's sites, check-ins and
video ledgers; the district admin sees all; references written by a street user must point at
rows inside its view (no binding of another street's camera), and form drop-downs list only those.
"""
from __future__ import annotations

import pytest
from conftest import BACKENDS, api_login, running_app
from xicheng_data import PASSWORD, load_core

pytestmark = pytest.mark.asyncio(loop_scope="session")


@pytest.fixture(scope="module", params=BACKENDS)
async def xicheng(request, tmp_path_factory):
    async with running_app("xicheng", tmp_path_factory, request.param, "xicheng") as app:
        orgs = await load_core(app.state.ctx)  # only the core data: other modules' demo files are not needed here
        yield {"app": app, "ctx": app.state.ctx, "orgs": orgs}


async def login(env, username: str):
    return await api_login(env["app"], username, PASSWORD)


async def _all(client, entity: str, screen: str) -> list[dict]:
    r = await client.get(f"/api/{entity}", params={"screen": screen, "page_size": 200})
    assert r.status_code == 200, r.text
    return r.json()["items"]


async def test_street_user_sees_only_its_streets_sites_and_checkins(xicheng):
    own = xicheng["orgs"]["XC-S01"]
    street1, district = await login(xicheng, "street1"), await login(xicheng, "district")
    sites = await _all(street1, "testing_site", "site_info")
    assert sites and {s["street"] for s in sites} == {own}
    assert len(await _all(district, "testing_site", "site_info")) == 60
    checkins = await _all(street1, "check_in", "checkin_query")
    assert checkins and {c["street"] for c in checkins} == {own}


async def test_street_user_cannot_create_a_site_in_another_street(xicheng):
    street1 = await login(xicheng, "street1")
    body = {"site_code": "XC99001", "name": "越权点位", "street": xicheng["orgs"]["XC-S02"]}
    r = await street1.post("/api/testing_site", params={"screen": "site_info"}, json=body)
    assert r.status_code == 403  # street users only list, read and export sites
    district = await login(xicheng, "district")
    r = await district.post("/api/testing_site", params={"screen": "site_info"}, json=body)
    assert r.status_code == 201, r.text


async def test_binding_to_another_streets_camera_is_refused(xicheng):
    street1 = await login(xicheng, "street1")
    places = await _all(street1, "ledger_place", "ledger_admin")
    own_cameras = {c["id"] for c in await _all(street1, "camera", "camera_admin")}
    district = await login(xicheng, "district")
    every_camera = {c["id"] for c in await _all(district, "camera", "camera_admin")}
    foreign = sorted(every_camera - own_cameras)[0]
    r = await street1.post("/api/camera_binding", params={"screen": "binding_admin"},
                           json={"place": places[0]["id"], "camera": foreign})
    assert r.status_code == 422, r.text
    assert "数据权限" in str(r.json())
    ok = await street1.post("/api/camera_binding", params={"screen": "binding_admin"},
                            json={"place": places[0]["id"], "camera": sorted(own_cameras)[0]})
    assert ok.status_code == 201, ok.text


async def test_street_user_cannot_move_or_orphan_a_row_by_patching_its_scope_field(xicheng):
    street1, own, other = await login(xicheng, "street1"), xicheng["orgs"]["XC-S01"], xicheng["orgs"]["XC-S02"]
    place = (await _all(street1, "ledger_place", "ledger_admin"))[0]
    for street in (other, None):
        r = await street1.patch(f"/api/ledger_place/{place['id']}", params={"screen": "ledger_admin"},
                                json={"street": street, "name": "越权修改"})
        assert r.status_code == 403, r.text
        assert "数据权限" in r.json()["detail"]
    table = xicheng["ctx"].table("ledger_place")
    stored = await table.select(table.street, table.name).where(table.id == place["id"])
    assert stored == [{"street": own, "name": place["name"]}]  # rolled back, not only hidden
    r = await street1.patch(f"/api/ledger_place/{place['id']}", params={"screen": "ledger_admin"},
                            json={"address": "本街道内修改"})
    assert r.status_code == 200 and r.json()["address"] == "本街道内修改"


async def test_binding_form_lists_only_cameras_the_street_user_can_see(xicheng):
    street1 = await login(xicheng, "street1")
    page = await street1.get("/s/binding_admin/new")
    assert page.status_code == 200
    own = {c["code"] for c in await _all(street1, "camera", "camera_admin")}
    district = await login(xicheng, "district")
    others = {c["code"] for c in await _all(district, "camera", "camera_admin")} - own
    assert own and others
    camera_names = {c["name"] for c in await _all(district, "camera", "camera_admin")}
    shown = {n for n in camera_names if n in page.text}
    own_names = {c["name"] for c in await _all(street1, "camera", "camera_admin")}
    assert shown == own_names


async def test_reconcile_compares_surveyed_cameras_with_the_video_network(xicheng):
    street2 = await login(xicheng, "street2")
    cams = {c["code"]: c for c in await _all(street2, "camera", "camera_admin")}
    surveyed = [cams[c]["id"] for c in ("CAM0201", "CAM0202", "CAM0203")]
    r = await street2.post("/api/camera/actions/reconcile", params={"screen": "camera_admin"}, json={"ids": surveyed})
    assert r.status_code == 200, r.text
    # Street 2 is odd-numbered in the demo (index 1): its second camera is offline on the network.
    assert r.json()["results"] == {str(surveyed[0]): "一致（在线）", str(surveyed[1]): "专网离线",
                                   str(surveyed[2]): "专网无此编号"}
    after = {c["code"]: c for c in await _all(street2, "camera", "camera_admin")}
    assert [after[c]["playable"] for c in ("CAM0201", "CAM0202", "CAM0203")] == [True, False, False]
    assert all(after[c]["reconciled"] for c in ("CAM0201", "CAM0202", "CAM0203"))
    assert after["VN110102010000"]["reconciled"] is False  # network rows are reference data, left as they are


async def test_camera_reconcile_marks_only_visible_cameras(xicheng):
    street1 = await login(xicheng, "street1")
    own = [c["id"] for c in await _all(street1, "camera", "camera_admin") if c["source"] == "offline_survey"]
    district = await login(xicheng, "district")
    foreign = [c["id"] for c in await _all(district, "camera", "camera_admin")
               if c["source"] == "offline_survey" and c["street"] not in (xicheng["orgs"]["XC-S01"], xicheng["orgs"]["XC-S02"])]
    r = await street1.post("/api/camera/actions/reconcile", params={"screen": "camera_admin"},
                           json={"ids": own + foreign[:1]})
    assert r.status_code == 200, r.text
    assert sorted(r.json()["done"]) == sorted(own) and r.json()["skipped"] == foreign[:1]
    after = {c["id"]: c["reconciled"] for c in await _all(district, "camera", "camera_admin")}
    assert after[foreign[0]] is False and all(after[i] for i in own)
