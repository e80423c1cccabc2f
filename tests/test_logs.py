"""Exception log, log charts, operation-log search/export and append-only logs, on SQLite and PostgreSQL.

An unhandled error answers a clean 500 with a short error id and is stored with its stack
trace; charts count per day / hour (zero-filled) inside the log screens' grants; nobody,
superusers included, can change a log through the API or the piccolo-admin console.
"""
from __future__ import annotations

import csv
import datetime as dt
import io
import logging
import os
import re

import httpx
import pytest
from conftest import BACKENDS, copy_app, postgres_url, reset_postgres
from kaiping_fixture import PASSWORD, build
from litestar import get

pytestmark = pytest.mark.asyncio(loop_scope="session")
SECRET_IN_MESSAGE = "440783199001011234"


@get("/api/test-crash", sync_to_thread=False)
def crash_route() -> None:
    raise RuntimeError(f"boom with {SECRET_IN_MESSAGE}")


NAME_IN_CELL = "".join(["张", "三丰"])  # built at run time: the source line in the trace must not hold it
PHONE_IN_CELL = "1381234" + "5678"


@get("/api/test-crash-values", sync_to_thread=False)
def crash_with_values() -> None:
    try:
        int(NAME_IN_CELL)  # ValueError: invalid literal for int() with base 10: '<the name>'
    except ValueError as exc:
        raise RuntimeError(f"bad row: “{NAME_IN_CELL}” {SECRET_IN_MESSAGE} '{PHONE_IN_CELL}'") from exc


@get("/crash-page", sync_to_thread=False)
def crash_page() -> str:
    return str(1 / 0)


@pytest.fixture(scope="module", params=BACKENDS)
async def env(request, tmp_path_factory):
    from specadmin.cli import _migrate
    from specadmin.runtime.app.factory import create_app
    from specadmin.runtime.identity.users import ensure_user

    app_dir = copy_app("kaiping", tmp_path_factory.mktemp(f"logs-{request.param}"))
    url = None
    old = os.environ.get("DATABASE_URL")
    if request.param == "postgres":
        url = postgres_url()
        await reset_postgres(url)
        os.environ["DATABASE_URL"] = url
    try:
        await _migrate(app_dir, False)
        app = create_app(app_dir, url)
    finally:
        if url and old is None:
            os.environ.pop("DATABASE_URL", None)
        elif url:
            os.environ["DATABASE_URL"] = old
    app.register(crash_route)
    app.register(crash_page)
    app.register(crash_with_values)
    for hook in app.on_startup:
        await hook(app)
    try:
        ids = await build(app.state.ctx)
        ids["user_admin"] = await ensure_user(app.state.ctx, "admin", PASSWORD, name="管理员", org_code="KP",
                                              superuser=True)
        yield {"app": app, "ids": ids, "ctx": app.state.ctx}
    finally:
        for hook in app.on_shutdown:
            await hook(app)


async def login(env, username: str, accept_json: bool = True) -> httpx.AsyncClient:
    client = httpx.AsyncClient(transport=httpx.ASGITransport(app=env["app"]), base_url="http://testserver")
    r = await client.post("/api/auth/login", json={"username": username, "password": PASSWORD})
    assert r.status_code == 200, r.text
    assert (await client.get("/api/auth/me")).status_code == 200
    client.headers["x-csrftoken"] = client.cookies["csrftoken"]
    return client


async def principal(env, key: str):
    from specadmin.runtime.identity.sessions import load_principal

    return await load_principal(env["ctx"], env["ids"][key])


# -- exception log ---------------------------------------------------------------
async def test_unhandled_error_answers_500_with_error_id_and_stores_stack_trace(env):
    ops = await login(env, "ops")
    r = await ops.get("/api/test-crash")
    assert r.status_code == 500
    body = r.json()
    error_id = body["error_id"]
    assert re.fullmatch(r"[0-9A-F]{10}", error_id)
    assert body["detail"] == f"服务器内部错误，请稍后再试（错误编号 {error_id}）"
    for leak in ("Traceback", "RuntimeError", SECRET_IN_MESSAGE, "test_logs.py"):
        assert leak not in r.text
    table = env["ctx"].table("exception_log")
    rows = await table.select().where(table.error_id == error_id)
    assert len(rows) == 1
    row = rows[0]
    assert (row["exc_type"], row["method"], row["url"]) == ("builtins.RuntimeError", "GET", "/api/test-crash")
    assert row["operator"] == env["ids"]["user_ops"]
    assert "Traceback" in row["detail"] and "crash_route" in row["detail"] and "boom with" in row["message"]
    assert SECRET_IN_MESSAGE not in row["message"] + row["detail"]  # an ID number is a value: scrubbed
    assert abs(row["at"] - dt.datetime.now()) < dt.timedelta(minutes=1)


async def test_exception_log_keeps_no_cell_values_from_exception_messages(env):
    """Quoted values and ID numbers or phones in a message (and in a chained one) are stored as ***;
    the code path stays whole."""
    ops = await login(env, "ops")
    r = await ops.get("/api/test-crash-values")
    assert r.status_code == 500
    table = env["ctx"].table("exception_log")
    row = (await table.select().where(table.error_id == r.json()["error_id"]))[0]
    stored = row["message"] + row["detail"]
    for value in (NAME_IN_CELL, SECRET_IN_MESSAGE, PHONE_IN_CELL):
        assert value not in stored
    assert row["message"] == "bad row: “***” *** '***'"
    assert "invalid literal for int() with base 10: '***'" in row["detail"]
    assert "crash_with_values" in row["detail"] and "direct cause" in row["detail"]


async def test_unhandled_error_page_shows_only_the_error_id(env):
    ops = await login(env, "ops")
    r = await ops.get("/api/test-crash", headers={"accept": "text/html"})
    # /api/ paths always answer JSON; an HTML page crash is simulated by a non-/api path below.
    assert r.status_code == 500 and "error_id" in r.json()
    r = await ops.get("/crash-page", headers={"accept": "text/html"})
    assert r.status_code == 500 and r.headers["content-type"].startswith("text/html")
    error_id = re.search(r"错误编号 ([0-9A-F]{10})", r.text).group(1)
    assert "Traceback" not in r.text and "ZeroDivisionError" not in r.text
    table = env["ctx"].table("exception_log")
    assert (await table.select(table.exc_type).where(table.error_id == error_id))[0]["exc_type"] == \
        "builtins.ZeroDivisionError"


async def test_exception_recording_never_raises_when_the_database_fails(env, monkeypatch, caplog):
    table = env["ctx"].table("exception_log")
    before = await table.count()

    def broken_insert(*rows):
        raise ConnectionError("database is down")

    monkeypatch.setattr(table, "insert", broken_insert)
    ops = await login(env, "ops")
    with caplog.at_level(logging.ERROR, logger="specadmin"):
        r = await ops.get("/api/test-crash")
    assert r.status_code == 500
    error_id = r.json()["error_id"]
    stored_failure = [rec.getMessage() for rec in caplog.records if "could not be stored" in rec.getMessage()]
    assert len(stored_failure) == 1 and error_id in stored_failure[0] and "Traceback" in stored_failure[0]
    monkeypatch.undo()
    assert await table.count() == before


async def test_exception_view_searches_by_id_and_time_range(env):
    admin = await login(env, "admin")
    ops = await login(env, "ops")
    error_id = (await ops.get("/api/test-crash")).json()["error_id"]
    today = dt.date.today()
    params = {"screen": "exception_view"}
    page = (await admin.get("/api/exception_log", params={**params, "error_id": error_id})).json()
    assert [i["error_id"] for i in page["items"]] == [error_id]
    page = (await admin.get("/api/exception_log", params={**params, "q": error_id})).json()
    assert [i["error_id"] for i in page["items"]] == [error_id]
    in_range = (await admin.get("/api/exception_log", params={
        **params, "error_id": error_id, "at_from": today.isoformat(), "at_to": today.isoformat()})).json()
    assert in_range["total"] == 1
    later = (await admin.get("/api/exception_log", params={
        **params, "error_id": error_id, "at_from": (today + dt.timedelta(days=1)).isoformat()})).json()
    assert later["total"] == 0
    earlier = (await admin.get("/api/exception_log", params={
        **params, "at_to": (today - dt.timedelta(days=1)).isoformat()})).json()
    assert error_id not in {i["error_id"] for i in earlier["items"]}
    detail = (await admin.get(f"/api/exception_log/{page['items'][0]['id']}", params=params)).json()
    assert "Traceback" in detail["detail"]
    page_html = (await admin.get(f"/s/exception_view/{page['items'][0]['id']}")).text
    assert error_id in page_html and "Traceback" in page_html and "crash_route" in page_html
    # Not granted to ordinary roles: the log screen is for superusers by default.
    assert (await ops.get("/api/exception_log", params=params)).status_code == 403


# -- charts ----------------------------------------------------------------------
NOW = dt.datetime(2030, 1, 10, 15, 30)


async def test_exception_charts_count_per_day_and_hour_with_zero_filled_buckets(env):
    from specadmin.runtime.logs.charts import exception_chart

    table = env["ctx"].table("exception_log")
    times = [NOW, NOW - dt.timedelta(minutes=20), NOW - dt.timedelta(hours=1), NOW - dt.timedelta(hours=23),
             NOW - dt.timedelta(hours=24, minutes=31),  # the 9th at 14:59: before the 24-hour window
             NOW - dt.timedelta(days=6), NOW - dt.timedelta(days=7), NOW + dt.timedelta(days=1)]
    await table.insert(*[table(error_id=f"T{i:09d}", at=t.replace(microsecond=0), exc_type="builtins.ValueError",
                               method="GET", url="/x") for i, t in enumerate(times)])
    admin = await principal(env, "user_admin")
    day = await exception_chart(env["ctx"], admin, "day", now=NOW)
    assert day["keys"] == [f"2030-01-{d:02d}" for d in range(4, 11)]
    # 10th: now, -20 min, -1 h; 9th: -23 h, -24.5 h; 4th: -6 days; the 3rd and the 11th fall outside.
    assert day["series"][0]["data"] == [1, 0, 0, 0, 0, 2, 3] and day["total"] == 6
    hour = await exception_chart(env["ctx"], admin, "hour", now=NOW)
    assert len(hour["keys"]) == 24 and hour["keys"][0] == "2030-01-09 16" and hour["keys"][-1] == "2030-01-10 15"
    data = dict(zip(hour["keys"], hour["series"][0]["data"]))
    assert data["2030-01-10 15"] == 2 and data["2030-01-10 14"] == 1 and data["2030-01-09 16"] == 1
    assert sum(data.values()) == 4  # -24.5 h is before the window


async def test_oplog_charts_count_seven_days_by_operation_and_subject_type(env):
    from specadmin.runtime.logs.charts import oplog_chart

    oplog = env["ctx"].table("oplog")
    rows = [("create", "place", NOW), ("create", "place", NOW - dt.timedelta(days=1)),
            ("update", "place", NOW), ("delete", "scan_alert", NOW - dt.timedelta(days=6)),
            ("update", "org", NOW - dt.timedelta(days=7))]  # outside the 7 days
    await oplog.insert(*[oplog(at=at, op_type=op, subject_type=subject, subject_name="t") for op, subject, at in rows])
    admin = await principal(env, "user_admin")
    by_type = await oplog_chart(env["ctx"], admin, "op_type", now=NOW)
    series = {s["name"]: (s["label"], s["data"]) for s in by_type["series"]}
    assert series == {"create": ("新增", [0, 0, 0, 0, 0, 1, 1]), "update": ("修改", [0, 0, 0, 0, 0, 0, 1]),
                      "delete": ("删除", [1, 0, 0, 0, 0, 0, 0])}
    assert by_type["x"] == ["01-04", "01-05", "01-06", "01-07", "01-08", "01-09", "01-10"] and by_type["total"] == 4
    by_subject = await oplog_chart(env["ctx"], admin, "subject_type", now=NOW)
    series = {s["name"]: (s["label"], s["total"]) for s in by_subject["series"]}
    assert series == {"place": ("公共场所", 3), "scan_alert": (env["ctx"].app.entity("scan_alert").label, 1)}


async def test_chart_endpoints_need_the_log_screens_list_grant(env):
    admin, ops, nobody = await login(env, "admin"), await login(env, "ops"), await login(env, "nobody")
    for path, by in (("/api/charts/exceptions", "day"), ("/api/charts/exceptions", "hour"),
                     ("/api/charts/oplog", "op_type"), ("/api/charts/oplog", "subject_type")):
        r = await admin.get(path, params={"by": by})
        assert r.status_code == 200, r.text
        assert len(r.json()["x"]) == (24 if by == "hour" else 7)
        for client in (ops, nobody):
            assert (await client.get(path, params={"by": by})).status_code == 403
    assert (await admin.get("/api/charts/exceptions", params={"by": "week"})).status_code == 400
    assert (await admin.get("/api/charts/oplog", params={"by": "operator"})).status_code == 400
    for page in ("/logs/exceptions", "/logs/oplog"):
        assert (await ops.get(page, headers={"accept": "text/html"})).status_code == 403


async def test_chart_pages_show_tables_and_draw_only_from_static_scripts(env, monkeypatch):
    from specadmin.runtime.logs import handlers
    from specadmin.runtime.pages.support import ECHARTS

    admin = await login(env, "admin")
    api = (await admin.get("/api/charts/exceptions", params={"by": "day"})).json()
    monkeypatch.setattr(handlers, "chart_assets", lambda ctx: {"has_echarts": True, "echarts_path": ECHARTS})
    r = await admin.get("/logs/exceptions")
    assert r.status_code == 200
    html = r.text
    assert html.count('class="chart"') == 2 and 'data-chart="' in html
    assert '<script src="/static/vendor/echarts.min.js" defer></script>' in html
    assert '<script src="/static/charts.js" defer></script>' in html
    assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", html), "inline script would break the CSP"
    day_rows = re.findall(r'<tr class="row" data-key="(\d{4}-\d\d-\d\d)"><td>[^<]*</td>'
                          r'<td class="num">(\d+)</td>', html)
    assert [(k, int(n)) for k, n in day_rows] == list(zip(api["keys"], api["series"][0]["data"]))
    assert len(re.findall(r'data-key="\d{4}-\d\d-\d\d \d\d"', html)) == 24
    # Without the ECharts file the page still works: same tables, no reference to the missing file.
    monkeypatch.setattr(handlers, "chart_assets", lambda ctx: {"has_echarts": False, "echarts_path": ECHARTS})
    r = await admin.get("/logs/oplog")
    assert r.status_code == 200 and "echarts" not in r.text and r.text.count('class="list chart-table"') == 2
    assert (await admin.get("/static/charts.js")).status_code == 200
    # The log screens' list pages lead to their chart pages; other lists do not get the button.
    assert 'id="btn-charts" href="/logs/exceptions"' in (await admin.get("/s/exception_view")).text
    assert 'id="btn-charts" href="/logs/oplog"' in (await admin.get("/s/oplog_view")).text
    assert 'id="btn-charts"' not in (await admin.get("/s/place_admin")).text


# -- operation log ----------------------------------------------------------------
async def test_oplog_filters_by_operator_period_and_type(env):
    ops, admin = await login(env, "ops"), await login(env, "admin")
    place_id = env["ids"]["P3"]
    assert (await ops.patch(f"/api/place/{place_id}", json={"min_daily": 3})).status_code == 200
    today, yesterday = dt.date.today().isoformat(), (dt.date.today() - dt.timedelta(days=1)).isoformat()
    base = {"screen": "oplog_view", "op_type": "update", "subject_type": "place"}
    found = (await admin.get("/api/oplog", params={**base, "operator": env["ids"]["user_ops"],
                                                   "at_from": today, "at_to": today})).json()
    assert str(place_id) in {i["subject_id"] for i in found["items"]}
    assert all(i["op_type"] == "update" and i["operator"] == env["ids"]["user_ops"] for i in found["items"])
    other_user = (await admin.get("/api/oplog", params={**base, "operator": env["ids"]["user_unit1"]})).json()
    assert str(place_id) not in {i["subject_id"] for i in other_user["items"]}
    before = (await admin.get("/api/oplog", params={**base, "at_to": yesterday})).json()
    assert before["total"] == 0
    creates = (await admin.get("/api/oplog", params={**base, "op_type": "create"})).json()
    assert all(i["op_type"] == "create" for i in creates["items"])


async def test_ops_pages_show_the_labels_of_the_codes_they_store(env):
    """Names the spec declares (an entity, a notification, a job) read as their labels on the ops
    pages, in the API (`<field>_label`), in exports and in the filters' drop-downs."""
    ctx = env["ctx"]
    oplog, outbox, runs = ctx.table("oplog"), ctx.table("notification_outbox"), ctx.table("job_run")
    await oplog.insert(oplog(at=NOW, op_type="action", subject_type="unreceived_scan_alerts", subject_name="标签探针"),
                       oplog(at=NOW, op_type="update", subject_type="scan_alert", subject_name="标签探针"))
    sent = (await outbox.insert(outbox(notification="unreceived_scan_alerts", channel="sms", dedupe_key="probe:1:2030-01-10",
                                       group_label="探针单位", status="sent", day=NOW.date(), attempts=1))
            .returning(outbox.id))[0]["id"]
    notification, alert = ctx.app.notification("unreceived_scan_alerts").label, ctx.app.entity("scan_alert").label
    job = next(j.label for j in ctx.app.jobs if j.name == "scan_anomaly")
    await runs.insert(runs(job="scan_anomaly", job_label=job, slot="scan_anomaly@probe", trigger="cli",
                           status="succeeded", started_at=NOW))
    admin = await login(env, "admin")
    items = (await admin.get("/api/oplog", params={"screen": "oplog_view", "q": "标签探针"})).json()["items"]
    assert sorted((i["subject_type"], i["subject_type_label"]) for i in items) == [
        ("scan_alert", alert), ("unreceived_scan_alerts", notification)]
    page = (await admin.get("/s/oplog_view", params={"q": "标签探针"})).text
    assert f"<td>{notification}</td>" in page and f"<td>{alert}</td>" in page and "<td>scan_alert</td>" not in page
    assert f'<option value="scan_alert">{alert}</option>' in page  # the 对象类型 filter offers labels
    r = await admin.get("/api/oplog/export", params={"screen": "oplog_view", "q": "标签探针"})
    assert sorted(row[3] for row in list(csv.reader(io.StringIO(r.text.lstrip("\ufeff"))))[1:]) == sorted([alert, notification])
    detail = (await admin.get(f"/s/notification_outbox_admin/{sent}")).text
    assert notification in detail and "短信" in detail and "unreceived_scan_alerts" not in detail
    listing = (await admin.get("/s/notification_outbox_admin")).text
    assert f'<option value="unreceived_scan_alerts">{notification}</option>' in listing
    assert f'<option value="scan_anomaly">{job}</option>' in (await admin.get("/s/job_run_admin")).text


async def test_oplog_export_is_csv_and_is_itself_logged(env):
    admin = await login(env, "admin")
    oplog = env["ctx"].table("oplog")
    r = await admin.get("/api/oplog/export", params={"screen": "oplog_view", "op_type": "login"})
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(r.text.lstrip("\ufeff"))))
    assert rows[0] == ["操作时间", "操作人", "操作类型", "对象类型", "对象名称"]
    assert len(rows) > 1 and all(row[2] == "登录" for row in rows[1:])
    logged = await oplog.select().where(oplog.subject_type == "oplog", oplog.op_type == "action",
                                        oplog.operator == env["ids"]["user_admin"])
    assert logged and '"export": "oplog_view"' in logged[-1]["after"] and '"op_type": "login"' in logged[-1]["after"]


async def test_logs_refuse_superuser_writes_through_the_api(env):
    """The logs are append-only: their API publishes no write endpoint, so not even a superuser writes."""
    admin = await login(env, "admin")
    ctx = env["ctx"]
    paths = (await admin.get("/schema/openapi.json")).json()["paths"]
    operation_ids = {op.get("operationId") for ops in paths.values() for op in ops.values()}
    for entity in ("oplog", "exception_log"):
        assert {f"list_{entity}", f"get_{entity}", f"export_{entity}"} <= operation_ids
        assert not {f"{verb}_{entity}" for verb in ("create", "update", "delete", "actions")} & operation_ids
        table = ctx.table(entity)
        first = (await table.select().order_by(table.id).limit(1))[0]
        count = await table.count()
        assert (await admin.post(f"/api/{entity}", json={"subject_name": "x", "url": "/x"})).status_code in (404, 405)
        r = await admin.patch(f"/api/{entity}/{first['id']}", json={"subject_name": "x", "url": "/x"})
        assert r.status_code in (404, 405)
        assert (await admin.delete(f"/api/{entity}/{first['id']}")).status_code in (404, 405)
        r = await admin.post(f"/api/{entity}/actions/delete", json={"ids": [first["id"]]})
        assert r.status_code in (404, 405)
        assert await table.count() == count
        assert (await table.select().where(table.id == first["id"]))[0] == first


async def test_admin_console_reads_logs_but_refuses_to_change_them(env):
    admin = await login(env, "admin")  # the app's login is the console's too (runtime/console/sign_on.py)
    ctx = env["ctx"]
    for entity in ("oplog", "exception_log"):
        table = ctx.table(entity)
        name = table._meta.tablename
        first = (await table.select().order_by(table.id).limit(1))[0]
        count = await table.count()
        listed = await admin.get(f"/admin/api/tables/{name}/", params={"__page_size": 5})
        assert listed.status_code == 200 and listed.json()["rows"]
        assert (await admin.patch(f"/admin/api/tables/{name}/{first['id']}/", json={"method": "X"})).status_code == 403
        assert (await admin.put(f"/admin/api/tables/{name}/{first['id']}/", json={"method": "X"})).status_code == 403
        assert (await admin.delete(f"/admin/api/tables/{name}/{first['id']}/")).status_code == 403
        # Bulk delete: refused by our guard, or not even routed (piccolo-admin leaves bulk delete off).
        bulk = await admin.delete(f"/admin/api/tables/{name}/", params={"__ids": str(first["id"])})
        assert bulk.status_code in (403, 405)
        assert (await admin.post(f"/admin/api/tables/{name}/", json={"url": "/x"})).status_code == 403
        assert await table.count() == count
        assert (await table.select().where(table.id == first["id"]))[0] == first
    # The refusal is specific to the logs: the same console still edits an ordinary table.
    item = ctx.table("dict_item")
    await item.insert(item(dict_name="oplog_type", key="probe", label="探针", sort=0, active=True))
    row = (await item.select(item.id).where(item.key == "probe"))[0]
    r = await admin.patch(f"/admin/api/tables/{item._meta.tablename}/{row['id']}/", json={"label": "探针2"})
    assert r.status_code == 200, r.text
    assert (await item.select(item.label).where(item.id == row["id"]))[0]["label"] == "探针2"
