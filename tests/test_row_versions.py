"""Row versions (issue 10 item 17), on SQLite and on PostgreSQL: concurrent writes never lose an
update nor break a cross-field check (Kaiping's 最小值 <= 最大值), a write made from an old version
is refused (If-Match → 412, `version` in the body → 409) with the current row, and every write
path (update, custom action with `set` or a handler, import upsert) raises the version."""
from __future__ import annotations

import asyncio

import httpx
import pytest
from conftest import BACKENDS, api_login, copy_app, start_app
from kaiping_fixture import PASSWORD, build
from test_imports_support import ID_OK2

pytestmark = pytest.mark.asyncio(loop_scope="session")
ROUNDS = 20
STALE = "记录已被他人修改"


@pytest.fixture(scope="module", params=BACKENDS)
async def kaiping(request, tmp_path_factory):
    from specadmin.runtime.identity.users import ensure_user

    app, _ = await start_app(copy_app("kaiping", tmp_path_factory.mktemp(f"versions-{request.param}")), request.param)
    try:
        ctx = app.state.ctx
        ids = await build(ctx)
        await ensure_user(ctx, "root", PASSWORD, name="超级管理员", superuser=True)
        clients = {name: await api_login(app, name, PASSWORD) for name in ("ops", "unit1", "root")}
        yield {"app": app, "ids": ids, "ctx": ctx, **clients}
        for client in clients.values():
            await client.aclose()
    finally:
        for hook in app.on_shutdown:
            await hook(app)


async def _place(env, key: str = "P1") -> httpx.Response:
    r = await env["ops"].get(f"/api/place/{env['ids'][key]}")
    assert r.status_code == 200, r.text
    return r


async def _reset(env, key: str = "P1") -> dict:
    r = await env["ops"].patch(f"/api/place/{env['ids'][key]}", json={"min_daily": 5, "max_daily": 200})
    assert r.status_code == 200, r.text
    return r.json()


async def test_concurrent_min_and_max_patches_never_leave_min_above_max(kaiping):
    """unit1 raises the minimum to 150 while ops lowers the maximum to 100, at the same time: one
    wins, the other is re-validated against the winner's row and refused (422), every round."""
    url = f"/api/place/{kaiping['ids']['P1']}"
    for _ in range(ROUNDS):
        start = (await _reset(kaiping)).get("version")  # each change alone is valid: 150 <= 200, 5 <= 100
        raise_min, lower_max = await asyncio.gather(
            kaiping["unit1"].patch(url, json={"min_daily": 150}), kaiping["ops"].patch(url, json={"max_daily": 100}))
        row = (await _place(kaiping)).json()
        assert row["min_daily"] <= row["max_daily"], (row, raise_min.text, lower_max.text)
        assert sorted([raise_min.status_code, lower_max.status_code]) == [200, 422]
        won, lost = (raise_min, lower_max) if raise_min.status_code == 200 else (lower_max, raise_min)
        assert (row["min_daily"], row["max_daily"]) == ((150, 200) if won is raise_min else (5, 100))
        assert (won.json()["min_daily"], won.json()["max_daily"]) == (row["min_daily"], row["max_daily"])
        assert "不能大于" in str(lost.json()["errors"])
        assert row["version"] == start + 1  # one write happened, the refused one wrote nothing


async def test_concurrent_patches_from_the_same_version_one_saves_the_other_is_refused(kaiping):
    """Two editors save forms made from the same version at the same time: exactly one is written,
    the other gets 412 with the row as the first one left it; nothing is lost silently."""
    url = f"/api/place/{kaiping['ids']['P1']}"
    for _ in range(ROUNDS):
        await _reset(kaiping)
        etag = (await _place(kaiping)).headers["etag"]
        first, second = await asyncio.gather(
            kaiping["unit1"].patch(url, json={"min_daily": 10, "max_daily": 60}, headers={"If-Match": etag}),
            kaiping["ops"].patch(url, json={"min_daily": 20, "max_daily": 70}, headers={"If-Match": etag}))
        assert sorted([first.status_code, second.status_code]) == [200, 412], (first.text, second.text)
        won, lost = (first, second) if first.status_code == 200 else (second, first)
        row = (await _place(kaiping)).json()
        assert (row["min_daily"], row["max_daily"]) == (won.json()["min_daily"], won.json()["max_daily"])
        assert lost.json()["detail"] == STALE
        current = lost.json()["current"]
        assert (current["min_daily"], current["max_daily"], current["version"]) == (
            row["min_daily"], row["max_daily"], row["version"])
        assert lost.headers["etag"] == f'"{row["version"]}"'


async def test_get_answers_etag_and_version_and_each_update_raises_it(kaiping):
    r = await _place(kaiping, "P2")
    version = r.json()["version"]
    assert isinstance(version, int) and version >= 1 and r.headers["etag"] == f'"{version}"'
    listed = (await kaiping["ops"].get("/api/place", params={"screen": "place_admin", "q": "P2"})).json()["items"]
    assert [i["version"] for i in listed] == [version]
    saved = await kaiping["ops"].patch(f"/api/place/{kaiping['ids']['P2']}", json={"manager": "李四"})
    assert saved.status_code == 200 and saved.json()["version"] == version + 1
    assert saved.headers["etag"] == f'"{version + 1}"'


async def test_if_match_of_an_old_version_is_refused_412_and_writes_nothing(kaiping):
    url = f"/api/place/{kaiping['ids']['P1']}"
    before = await _reset(kaiping)
    version = before["version"]
    for stale in (f'"{version - 1}"', f'W/"{version}"', '"abc"'):
        r = await kaiping["ops"].patch(url, json={"min_daily": 7}, headers={"If-Match": stale})
        assert r.status_code == 412, (stale, r.text)
        assert r.json()["detail"] == STALE and r.json()["current"]["min_daily"] == 5
        assert r.json()["current"]["version"] == version
    row = (await _place(kaiping)).json()
    assert (row["min_daily"], row["version"]) == (5, version)
    malformed = await kaiping["ops"].patch(url, json={"min_daily": 7}, headers={"If-Match": "3"})
    assert malformed.status_code == 400 and "If-Match" in malformed.json()["detail"]
    two = await kaiping["ops"].patch(url, json={"min_daily": 7}, headers={"If-Match": f'"{version}", "{version + 1}"'})
    assert two.status_code == 400
    ok = await kaiping["ops"].patch(url, json={"min_daily": 7}, headers={"If-Match": f'"{version}"'})
    assert ok.status_code == 200 and ok.json()["version"] == version + 1
    anything = await kaiping["ops"].patch(url, json={"min_daily": 8}, headers={"If-Match": "*"})
    assert anything.status_code == 200 and anything.json()["version"] == version + 2


async def test_version_in_the_body_of_an_old_version_is_refused_409(kaiping):
    url = f"/api/place/{kaiping['ids']['P1']}"
    version = (await _reset(kaiping))["version"]
    r = await kaiping["unit1"].patch(url, json={"max_daily": 90, "version": version - 1})
    assert r.status_code == 409 and r.json()["detail"] == STALE
    assert r.json()["current"]["max_daily"] == 200 and "supervisor_phone" not in r.json()["current"]  # what unit1 may see
    assert (await _place(kaiping)).json()["max_daily"] == 200
    r = await kaiping["unit1"].patch(url, json={"max_daily": 90, "version": version})
    assert r.status_code == 200 and r.json()["max_daily"] == 90 and r.json()["version"] == version + 1
    wrong_type = await kaiping["unit1"].patch(url, json={"max_daily": 91, "version": "new"})
    assert wrong_type.status_code == 400 and "version" in wrong_type.text


async def test_custom_actions_raise_the_version(kaiping):
    """A `set` action (接收 a 预警) and a handler action (重置密码) are writes too: a form opened
    before them is stale afterwards."""
    alert = kaiping["ids"]["alert_P1"]
    before = (await kaiping["unit1"].get(f"/api/scan_alert/{alert}")).json()["version"]
    r = await kaiping["unit1"].post("/api/scan_alert/actions/receive", json={"ids": [alert]})
    assert r.status_code == 200 and r.json()["done"] == [alert]
    assert (await kaiping["unit1"].get(f"/api/scan_alert/{alert}")).json()["version"] == before + 1

    user = kaiping["ids"]["user_unit2"]
    before = (await kaiping["root"].get(f"/api/user/{user}")).json()["version"]
    r = await kaiping["root"].post("/api/user/actions/reset_password", params={"screen": "user_admin"},
                                   json={"ids": [user]})
    assert r.status_code == 200 and r.json()["done"] == [user]
    assert (await kaiping["root"].get(f"/api/user/{user}")).json()["version"] == before + 1


async def test_an_import_upsert_raises_the_version_of_the_rows_it_changes(kaiping):
    ops = kaiping["ops"]
    head = "公共场所ID,公共场所,被采集人身份证,被采集人,联系电话,健康码状态,采集时间\n"
    row = f"P2,二号超市,{ID_OK2},{{name}},13900000001,绿码,2026-11-07 08:00\n"

    async def upload(name: str, **params) -> dict:
        body = (head + row.format(name=name)).encode("utf-8")
        r = await ops.post("/api/scan_record/import", params={"screen": "scan_admin", **params},
                           files={"file": (f"{name}.csv", body)})
        assert r.status_code == 200 and r.json()["status"] == "done", r.text
        return r.json()

    await upload("吴十")
    item = (await ops.get("/api/scan_record", params={"screen": "scan_admin", "q": "吴十"})).json()["items"][0]
    assert item["version"] == 1
    await upload("吴十一", mode="upsert")
    after = (await ops.get(f"/api/scan_record/{item['id']}", params={"screen": "scan_admin"})).json()
    assert after["subject_name"] == "吴十一" and after["version"] == 2
