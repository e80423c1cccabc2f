"""Delete by range (collection or import time) inside the user's scope, the newest 采集时间,
and the spec switch that closes import and delete once a feed owns the data (Kaiping §2.4)."""
from __future__ import annotations

import dataclasses
import io
import json

import pytest
from test_imports_support import ID_OK, kaiping, login  # noqa: F401

pytestmark = pytest.mark.asyncio(loop_scope="session")

DAY1 = {"field": "scanned_at", "start": "2026-11-01", "end": "2026-11-01", "screen": "scan_admin"}


async def test_delete_by_range_previews_and_deletes_only_inside_scope(kaiping):
    ops, clerk = await login(kaiping, "ops"), await login(kaiping, "clerk1")
    everyone = (await ops.get("/api/scan_record/delete-range", params=DAY1)).json()
    assert everyone["count"] == 5  # 11-01 rows: P1 ×2, P2 ×2, P9 ×1
    own = (await clerk.get("/api/scan_record/delete-range", params=DAY1)).json()
    assert own["count"] == 2  # only 开平市教育局's place P1
    unconfirmed = await clerk.post("/api/scan_record/delete-range", json=DAY1)
    assert unconfirmed.status_code == 400
    stale = await clerk.post("/api/scan_record/delete-range", json={**DAY1, "confirm": True, "expected": 7})
    assert stale.status_code == 400
    done = await clerk.post("/api/scan_record/delete-range", json={**DAY1, "confirm": True, "expected": 2})
    assert done.status_code == 200 and done.json()["deleted"] == 2
    assert (await ops.get("/api/scan_record/delete-range", params=DAY1)).json()["count"] == 3
    ctx = kaiping["ctx"]
    oplog = ctx.table("oplog")
    entries = await oplog.select(oplog.after, oplog.operator).where(oplog.op_type == "delete",
                                                                    oplog.subject_type == "scan_record")
    logged = [json.loads(e["after"]) for e in entries if "delete_by_range" in (e["after"] or "")]
    assert len(logged) == 1 and logged[0]["count"] == 2 and logged[0]["start"] == "2026-11-01 00:00:00"
    assert logged[0]["end"] == "2026-11-02 00:00:00" and entries[-1]["operator"] == kaiping["ids"]["user_clerk1"]


async def test_delete_by_range_needs_a_declared_field_and_a_delete_grant(kaiping):
    ops, unit1 = await login(kaiping, "ops"), await login(kaiping, "unit1")
    by_import = (await ops.get("/api/scan_record/delete-range", params={**DAY1, "field": "imported_at"})).json()
    assert by_import["count"] >= 1
    undeclared = await ops.get("/api/scan_record/delete-range", params={**DAY1, "field": "nat_result_time"})
    assert undeclared.status_code == 400
    denied = await unit1.get("/api/scan_record/delete-range", params={**DAY1, "screen": "scan_query"})
    assert denied.status_code == 403


async def test_newest_collection_time_is_shown_inside_the_users_scope(kaiping):
    ops, unit1 = await login(kaiping, "ops"), await login(kaiping, "unit1")
    data = f"公共场所ID,被采集人身份证,被采集人,采集时间\nP2,{ID_OK},新人,2026-11-09 07:30\n".encode()
    r = await ops.post("/api/scan_record/import", params={"screen": "scan_admin"}, files={"file": ("n.csv", data)})
    assert r.json()["status"] == "done"
    latest = (await ops.get("/api/scan_record/latest", params={"field": "scanned_at", "screen": "scan_admin"})).json()
    assert latest["latest"].startswith("2026-11-09 07:30")
    own = (await unit1.get("/api/scan_record/latest", params={"field": "scanned_at", "screen": "scan_query"})).json()
    assert own["latest"].startswith("2026-11-02 09:00")  # P2's newer row is outside 开平市教育局's scope
    page = await ops.get("/s/scan_admin")
    assert page.status_code == 200 and "最新采集时间" in page.text and "2026-11-09 07:30" in page.text
    assert 'id="btn-import"' in page.text and "/api/scan_record/import/template?screen=scan_admin" in page.text
    query_page = await unit1.get("/s/scan_query")
    assert query_page.status_code == 200 and 'id="btn-import"' not in query_page.text  # no import on that screen


async def test_import_switch_off_closes_import_and_delete(kaiping):
    from specadmin.runtime.entities.service import EntityService

    app, ctx = kaiping["app"], kaiping["ctx"]
    model = ctx.app
    screen = model.screen("scan_admin")
    switched = dataclasses.replace(screen, import_spec=dataclasses.replace(screen.import_spec, enabled=False))
    old_service = app.state.services["scan_record"]
    ctx.app = dataclasses.replace(model, screens=tuple(switched if s.name == "scan_admin" else s for s in model.screens))
    app.state.services["scan_record"] = EntityService(ctx, "scan_record")
    try:
        ops = await login(kaiping, "ops")
        data = io.BytesIO(f"公共场所ID,被采集人身份证,采集时间\nP1,{ID_OK},2026-11-10\n".encode()).getvalue()
        r = await ops.post("/api/scan_record/import", params={"screen": "scan_admin"}, files={"file": ("s.csv", data)})
        assert r.status_code == 403 and "导入已关闭" in r.json()["detail"]
        assert (await ops.get("/api/scan_record/delete-range", params=DAY1)).status_code == 403
        assert (await ops.get("/api/scan_record/import/template", params={"screen": "scan_admin"})).status_code == 403
    finally:
        ctx.app = model
        app.state.services["scan_record"] = old_service
