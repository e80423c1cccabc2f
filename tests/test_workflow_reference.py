"""The workflow example of specs/REFERENCE.md, run: a work order launched, dispatched to two orgs (a
multi_ref parameter), handled by both, closed by the owner's closing task; SQLite and PostgreSQL."""
from __future__ import annotations

import pytest
from conftest import BACKENDS, api_login, reference_blocks, spec_app, write_spec_app

pytestmark = pytest.mark.asyncio(loop_scope="session")
PASSWORD = "Order#Pass2026"
APP = "app: orders\nlabel: 工单\nmodules: [work_orders]\nplugins: [workflow]\n"
GRANTS = {"order_draft": "list,read,create,update,launch", "order_work": "list,read,dispatch,handle,close"}


@pytest.mark.parametrize("backend", BACKENDS)
async def test_the_reference_work_order_flow_runs_from_launch_to_closed(backend, tmp_path):
    from specadmin.runtime.identity.users import ensure_user

    app_dir = write_spec_app(tmp_path, APP, {"work_orders": reference_blocks()["modules/work_orders.yaml"]})
    async with spec_app(app_dir, backend, PASSWORD) as (app, root, hq):
        ctx = app.state.ctx
        org, role, grant = ctx.table("org"), ctx.table("role"), ctx.table("grant")
        orgs = {}
        for code in ("A", "B"):
            orgs[code] = (await org.insert(org(code=code, name=f"单位{code}", level="street", org_type="department",
                                               active=True, parent=hq, path="")).returning(org.id))[0]["id"]
            await org.update({org.path: f"/{hq}/{orgs[code]}/"}).where(org.id == orgs[code])
        role_id = (await role.insert(role(code="clerk", label="办理人", active=True)).returning(role.id))[0]["id"]
        for screen, actions in GRANTS.items():
            await grant.insert(grant(role=role_id, screen=screen, actions=actions))
        await ctx.refresh_caches()
        for name, org_code in (("boss", "HQ"), ("a", "A"), ("b", "B")):
            await ensure_user(ctx, name, PASSWORD, name=name, org_code=org_code, roles=("clerk",))
        boss, a, b = [await api_login(app, n, PASSWORD) for n in ("boss", "a", "b")]
        r = await boss.post("/api/workflow/work_order", json={"data": {"title": "清理垃圾"}, "action": "launch"})
        assert r.status_code == 201 and r.json()["state"] == "open", r.text
        order = r.json()["id"]
        r = await boss.post(f"/api/workflow/work_order/{order}/dispatch",
                            json={"params": {"orgs": [orgs["A"], orgs["B"]], "requirement": "今日清理"}})
        assert r.status_code == 200 and r.json()["state"] == "in_process", r.text
        r = await a.post(f"/api/workflow/work_order/{order}/close", json={"params": {}})
        assert r.status_code == 409 and r.json()["detail"] == "当前状态“处置中”不能“结案”", r.text
        assert (await a.post(f"/api/workflow/work_order/{order}/handle", json={"params": {"opinion": "已清理"}})
                ).json()["state"] == "in_process"
        assert (await b.post(f"/api/workflow/work_order/{order}/handle", json={"params": {"opinion": "已清理"}})
                ).json()["state"] == "handled"
        todo = (await boss.get("/api/workflow/todo", params={"flow": "order_flow"})).json()
        assert [(i["title"], i["box"]) for i in todo["items"]] == [("清理垃圾", "closing")] and todo["badge"] == 1
        r = await b.post(f"/api/workflow/work_order/{order}/close", json={"params": {}})
        assert r.status_code == 403 and r.json()["detail"] == "只有结案单位可以结案", r.text
        r = await boss.post(f"/api/workflow/work_order/{order}/close", json={"params": {}})
        assert r.status_code == 200 and r.json()["state_label"] == "已办结", r.text
        detail = (await boss.get(f"/api/workflow/work_order/{order}")).json()
        assert [e["action_label"] for e in detail["log"]] == ["发起", "交办", "处置", "处置", "结案"]
        assert detail["summary"]["done"] == ["单位A", "单位B", "总部"] and detail["actions"] == []
