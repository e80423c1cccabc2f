"""Versioned flows: an event started on version v1 finishes on v1's actions after v2 is published (a spec
change and an app restart on the same database), while a new event runs on v2. SQLite and PostgreSQL."""
from __future__ import annotations

import shutil

import pytest
from conftest import BACKENDS, api_login, database_env, postgres_url, spec_app
from workflow_fixture import FLOW_MODULE, PASSWORD, act, launched, populate, write_app

pytestmark = pytest.mark.asyncio(loop_scope="session")

V2 = """    versions:
      v2:
        actions:
          void: null
          cancel:
            from: [open]
            to: voided
            who: [{user: initiator}]
            refuse: 只有发起人可以撤销
            effects:
              - tasks: {which: open, to: cancelled}
"""
CANCEL = "      void: {label: 作废, handler: workflow.act}\n"


def module(published: str) -> str:
    text = FLOW_MODULE.replace(CANCEL, CANCEL + "      cancel: {label: 撤销, handler: workflow.act}\n", 1)
    text = text.replace("    version: v1\n", f"    version: v1\n    published: {published}\n", 1)
    return text.replace("    actions:\n      launch:", V2 + "    actions:\n      launch:", 1)


async def restarted(app_dir, backend):
    from specadmin.cli import _migrate
    from specadmin.generator.writer import generate
    from specadmin.runtime.app.factory import create_app

    generate(app_dir)
    url = postgres_url() if backend == "postgres" else None
    with database_env(url):
        await _migrate(app_dir, False)
        app = create_app(app_dir, url)
    for hook in app.on_startup:
        await hook(app)
    return app


@pytest.mark.parametrize("backend", BACKENDS)
async def test_an_event_finishes_on_the_version_it_started_with(backend, tmp_path_factory):
    app_dir = write_app(tmp_path_factory.mktemp(f"wf-versions-{backend}"), module("v1"))
    async with spec_app(app_dir, backend, PASSWORD) as (app, root, _):
        ids = await populate(app)
        env = {"app": app, "ctx": app.state.ctx, "ids": ids, "c": {"town": await api_login(app, "town", PASSWORD)}}
        old = await launched(env, title="旧版本事件")
        r = await act(env, "town", old, "cancel")
        assert r.status_code == 409 and r.json()["detail"] == "该记录按流程版本 v1 办理，没有“撤销”操作", r.text
    # The restart: the same installation (var/, the database) under a new folder, so this process imports
    # the regenerated code afresh (generated packages are imported once per folder).
    later = tmp_path_factory.mktemp(f"wf-versions-{backend}-v2") / "app"
    shutil.copytree(app_dir, later)
    (later / "modules" / "flow.yaml").write_text(module("v2"), encoding="utf-8")
    app = await restarted(later, backend)
    try:
        env = {"app": app, "ctx": app.state.ctx, "ids": ids, "c": {"town": await api_login(app, "town", PASSWORD)}}
        new = await launched(env, title="新版本事件")
        detail = (await env["c"]["town"].get(f"/api/workflow/event/{old}")).json()
        assert detail["version"] == "v1" and "void" in [a["name"] for a in detail["actions"]]
        assert (await env["c"]["town"].get(f"/api/workflow/event/{new}")).json()["version"] == "v2"
        r = await act(env, "town", new, "void")
        assert r.status_code == 409 and r.json()["detail"] == "该记录按流程版本 v2 办理，没有“作废”操作", r.text
        r = await act(env, "town", old, "void")
        assert r.status_code == 200 and r.json()["state"] == "voided", r.text
        r = await act(env, "town", new, "cancel")
        assert r.status_code == 200 and r.json()["state"] == "voided", r.text
    finally:
        for hook in app.on_shutdown:
            await hook(app)
