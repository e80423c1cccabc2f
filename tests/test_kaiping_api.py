"""Kaiping acceptance through the HTTP API, on SQLite and on PostgreSQL.

Supervising units see and edit only their own rows and only min/max; ops sees everything.
"""
from __future__ import annotations

import csv
import datetime as dt
import io

import httpx
import pytest
from conftest import api_login, BACKENDS, copy_app, start_app
from kaiping_fixture import PASSWORD, build

pytestmark = pytest.mark.asyncio(loop_scope="session")


@pytest.fixture(scope="module", params=BACKENDS)
async def kaiping(request, tmp_path_factory):

    app_dir = copy_app("kaiping", tmp_path_factory.mktemp(f"kaiping-{request.param}"))
    app, url = await start_app(app_dir, request.param)
    try:
        ids = await build(app.state.ctx)
        yield {"app": app, "ids": ids, "ctx": app.state.ctx}
    finally:
        for hook in app.on_shutdown:
            await hook(app)


async def login(env, username: str) -> httpx.AsyncClient:
    return await api_login(env["app"], username, PASSWORD)


def codes(page: dict) -> set[str]:
    return {item["place_code"] for item in page["items"]}


async def test_wrong_password_is_refused(kaiping):
    client = httpx.AsyncClient(transport=httpx.ASGITransport(app=kaiping["app"]), base_url="http://testserver")
    r = await client.post("/api/auth/login", json={"username": "ops", "password": "wrong-password"})
    assert r.status_code == 401
    assert (await client.get("/api/place")).status_code == 401


async def test_ops_sees_every_place(kaiping):
    ops = await login(kaiping, "ops")
    page = (await ops.get("/api/place", params={"screen": "place_admin"})).json()
    assert codes(page) == {"P1", "P2", "P3"} and page["total"] == 3
    assert page["page"] == 1 and page["page_size"] == 20


async def test_supervisor_lists_only_own_units_places(kaiping):
    unit1 = await login(kaiping, "unit1")
    page = (await unit1.get("/api/place")).json()
    assert codes(page) == {"P1"}
    assert page["items"][0]["supervisor_label"] == "开平市教育局"
    assert (await unit1.get("/api/place", params={"screen": "place_admin"})).status_code == 403


async def test_supervisor_cannot_read_update_or_delete_other_units_place(kaiping):
    unit1 = await login(kaiping, "unit1")
    other = kaiping["ids"]["P2"]
    assert (await unit1.get(f"/api/place/{other}")).status_code == 404
    assert (await unit1.patch(f"/api/place/{other}", json={"min_daily": 1})).status_code == 404
    assert (await unit1.delete(f"/api/place/{other}")).status_code == 403
    ops = await login(kaiping, "ops")
    assert (await ops.get(f"/api/place/{other}")).json()["min_daily"] == 5


async def test_supervisor_edits_only_min_and_max_of_own_place(kaiping):
    unit1 = await login(kaiping, "unit1")
    own = kaiping["ids"]["P1"]
    r = await unit1.patch(f"/api/place/{own}", json={"min_daily": 6, "max_daily": 60})
    assert r.status_code == 200, r.text
    assert (r.json()["min_daily"], r.json()["max_daily"]) == (6, 60)
    r = await unit1.patch(f"/api/place/{own}", json={"name": "改名", "min_daily": 7})
    assert r.status_code == 422 and "name" in r.json()["errors"]
    r = await unit1.patch(f"/api/place/{own}", json={"supervisor": kaiping["ids"]["U1"]})
    assert r.status_code == 422 and "supervisor" in r.json()["errors"]
    r = await unit1.patch(f"/api/place/{own}", json={"min_daily": 100, "max_daily": 10})
    assert r.status_code == 422 and r.json()["errors"] == {"max_daily": "场所日人流量阈值（最小值）不能大于最大值"}
    ops = await login(kaiping, "ops")
    after = (await ops.get(f"/api/place/{own}")).json()
    assert (after["name"], after["min_daily"], after["max_daily"]) == ("一号酒家", 6, 60)


async def test_place_moves_from_unset_to_set_tab_when_assigned(kaiping):
    ops = await login(kaiping, "ops")
    r = await ops.post("/api/place", json={"place_code": "P-NEW", "name": "新场所", "category": "retail"})
    assert r.status_code == 201, r.text
    new_id = r.json()["id"]
    assert r.json()["city"] == "开平市"
    unset = (await ops.get("/api/place", params={"screen": "place_admin", "tab": "unset"})).json()
    assert "P-NEW" in codes(unset) and "P1" not in codes(unset)
    r = await ops.patch(f"/api/place/{new_id}", json={"supervisor": kaiping["ids"]["U2"]})
    assert r.status_code == 200, r.text
    now_set = (await ops.get("/api/place", params={"screen": "place_admin", "tab": "set"})).json()
    assert "P-NEW" in codes(now_set)
    unset = (await ops.get("/api/place", params={"screen": "place_admin", "tab": "unset"})).json()
    assert "P-NEW" not in codes(unset)
    unit2 = await login(kaiping, "unit2")
    assert "P-NEW" in codes((await unit2.get("/api/place")).json())
    assert "P-NEW" not in codes((await (await login(kaiping, "unit1")).get("/api/place")).json())
    assert (await ops.delete(f"/api/place/{new_id}")).status_code == 204


async def test_duplicate_place_code_is_refused_with_field_error(kaiping):
    ops = await login(kaiping, "ops")
    r = await ops.post("/api/place", json={"place_code": "P1", "name": "重复"})
    assert r.status_code == 422 and "place_code" in r.json()["errors"]
    r = await ops.post("/api/place", json={"name": "缺少ID", "min_daily": -1})
    assert r.status_code == 422 and set(r.json()["errors"]) == {"place_code", "min_daily"}


async def test_supervisor_sees_only_own_alerts_and_receives_them(kaiping):
    unit1 = await login(kaiping, "unit1")
    ids = kaiping["ids"]
    page = (await unit1.get("/api/scan_alert", params={"tab": "unreceived"})).json()
    assert [i["id"] for i in page["items"]] == [ids["alert_P1"]]
    assert page["items"][0]["reason_label"] == "小于阈值"
    assert (await unit1.get(f"/api/scan_alert/{ids['alert_P2']}")).status_code == 404
    r = await unit1.post("/api/scan_alert/actions/receive", json={"ids": [ids["alert_P2"], ids["alert_P1"]]})
    assert r.status_code == 200 and r.json()["done"] == [ids["alert_P1"]] and r.json()["skipped"] == [ids["alert_P2"]]
    received = (await unit1.get("/api/scan_alert", params={"tab": "received"})).json()
    assert [i["id"] for i in received["items"]] == [ids["alert_P1"]]
    assert received["items"][0]["received_by_label"] == "监管一"
    unit2 = await login(kaiping, "unit2")
    still = (await unit2.get("/api/scan_alert", params={"tab": "unreceived"})).json()
    assert [i["id"] for i in still["items"]] == [ids["alert_P2"]]


async def test_scan_query_is_scoped_and_shows_empty_unit(kaiping):
    unit1 = await login(kaiping, "unit1")
    page = (await unit1.get("/api/scan_record", params={"screen": "scan_query"})).json()
    assert page["total"] == 3 and {i["place_code"] for i in page["items"]} == {"P1"}
    assert {i["supervisor_label"] for i in page["items"]} == {"开平市教育局"}
    ops = await login(kaiping, "ops")
    page = (await ops.get("/api/scan_record", params={"screen": "scan_query", "place_code": "P9"})).json()
    assert page["total"] == 2 and {i["supervisor_label"] for i in page["items"]} == {"空"}
    assert page["items"][0]["subject_id_number"] == "440***********1234"
    assert page["items"][0]["phone"] == "138****5678"


async def test_supervisor_export_contains_only_own_rows_masked(kaiping):
    unit1 = await login(kaiping, "unit1")
    r = await unit1.get("/api/scan_record/export", params={"screen": "scan_query"})
    assert r.status_code == 200
    rows = list(csv.reader(io.StringIO(r.text.lstrip("\ufeff"))))
    header, body = rows[0], rows[1:]
    assert header[0] == "公共场所ID" and "监管单位" in header
    assert len(body) == 3 and {row[0] for row in body} == {"P1"}
    id_col = header.index("被采集人身份证")
    assert {row[id_col] for row in body} == {"440***********1234"}
    r = await unit1.get("/api/place/export", params={"screen": "place_admin"})
    assert r.status_code in (403, 404)


async def test_scan_statistics_count_by_place_and_day_within_scope(kaiping):
    unit1 = await login(kaiping, "unit1")
    r = await unit1.get("/api/stats/scan_stats", params={"date_from": "2026-10-30", "date_to": "2026-11-05"})
    assert r.status_code == 200, r.text
    items = r.json()["items"]
    assert [(i["place_code"], i["day"], i["scan_count"]) for i in items] == [
        ("P1", "2026-11-01", 2), ("P1", "2026-11-02", 1)]
    assert items[0]["place_code.supervisor_label"] == "开平市教育局"
    ops = await login(kaiping, "ops")
    items = (await ops.get("/api/stats/scan_stats", params={"date_from": "2026-10-30", "date_to": "2026-11-05"})).json()["items"]
    assert sum(i["scan_count"] for i in items) == 9


async def test_user_without_grants_is_refused_everywhere(kaiping):
    nobody = await login(kaiping, "nobody")
    for entity in ("place", "scan_record", "scan_alert", "org", "user", "oplog"):
        assert (await nobody.get(f"/api/{entity}")).status_code == 403, entity
        assert (await nobody.get(f"/api/{entity}/1")).status_code == 403, entity
        # The operation log is append-only: it publishes no write endpoint at all.
        assert (await nobody.post(f"/api/{entity}", json={})).status_code == (405 if entity == "oplog" else 403), entity
        assert (await nobody.get(f"/api/{entity}/export")).status_code == 403, entity
    assert (await nobody.get("/api/stats/scan_stats")).status_code == 403


async def test_state_change_without_csrf_token_fails(kaiping):
    ops = await login(kaiping, "ops")
    token = ops.headers.pop("x-csrftoken")
    r = await ops.post("/api/place", json={"place_code": "P-CSRF", "name": "跨站"})
    assert r.status_code == 403
    ops.headers["x-csrftoken"] = token
    r = await ops.post("/api/place", json={"place_code": "P-CSRF", "name": "跨站"})
    assert r.status_code == 201
    assert (await ops.delete(f"/api/place/{r.json()['id']}")).status_code == 204


async def test_sensitive_location_is_encrypted_at_rest_and_masked_without_unmask(kaiping):
    ctx = kaiping["ctx"]
    place = ctx.table("place")
    raw = (await place.select(place.location, place.location_bidx).where(place.place_code == "P1"))[0]
    assert raw["location"].startswith("v1:") and "开平" not in raw["location"]
    assert raw["location_bidx"] == ctx.sensitive.index_of("开平市一号酒家路1号")
    unit1 = await login(kaiping, "unit1")  # the supervising unit: no unmask on 场所人流量阈值管理
    item = (await unit1.get(f"/api/place/{kaiping['ids']['P1']}", params={"screen": "threshold_admin"})).json()
    assert item["location"] == "开平市一号酒****"
    ops = await login(kaiping, "ops")  # the seed's ops unit types the places in: unmask on 场所信息管理
    item = (await ops.get(f"/api/place/{kaiping['ids']['P1']}", params={"screen": "place_admin"})).json()
    assert item["location"] == "开平市一号酒家路1号"


async def test_writes_are_recorded_in_the_operation_log(kaiping):
    unit1 = await login(kaiping, "unit1")
    own = kaiping["ids"]["P1"]
    assert (await unit1.patch(f"/api/place/{own}", json={"max_daily": 61})).status_code == 200
    oplog = kaiping["ctx"].table("oplog")
    rows = await oplog.select().where(oplog.subject_type == "place", oplog.subject_id == str(own),
                                      oplog.op_type == "update").order_by(oplog.id, ascending=False).limit(1)
    assert rows and rows[0]["operator"] == kaiping["ids"]["user_unit1"] and '"max_daily": 61' in rows[0]["after"]


async def test_place_detail_shows_the_latest_scan_and_the_scans_of_the_last_7_days(kaiping):
    """最新扫码时间 / 近7日扫码量 (aggregates over scan_record, a soft ref by 公共场所ID), as of the clock."""
    from specadmin.runtime.data import where

    ops, ids = await login(kaiping, "ops"), kaiping["ids"]
    saved = where.clock
    try:
        seen = {}
        for today in (dt.datetime(2026, 11, 5, 12, 0), dt.datetime(2026, 11, 9, 12, 0)):
            where.clock = lambda today=today: today
            for code in ("P1", "P3"):
                r = await ops.get(f"/api/place/{ids[code]}", params={"screen": "place_admin"})
                assert r.status_code == 200, r.text
                seen[(today.day, code)] = (r.json()["last_scan"], r.json()["scans_7d"])
    finally:
        where.clock = saved
    assert seen == {(5, "P1"): ("2026-11-02 09:00:00", 3), (5, "P3"): (None, 0),
                    (9, "P1"): ("2026-11-02 09:00:00", 0), (9, "P3"): (None, 0)}
