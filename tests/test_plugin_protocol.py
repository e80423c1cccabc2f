"""A plugin that lives outside the repository, installed the way pip installs one (an entry point in
the `specadmin.plugins` group), adds a module-file key, a table with its migration, a route, a job,
a spec check with its own code and an entity hook; a small app uses all six, on SQLite and
PostgreSQL, with nothing in runtime/ knowing the plugin."""
from __future__ import annotations

import datetime as dt
import tempfile
from pathlib import Path

import pytest
from conftest import BACKENDS, ROOT, reference_blocks, spec_app
from plugin_support import install_plugin

pytestmark = pytest.mark.asyncio(loop_scope="session")
PASSWORD = "Plugin@2026x"

BLOCKS = reference_blocks()  # the example plugin of specs/REFERENCE.md ("Writing a plugin"), block by block
PLUGIN_SOURCE = BLOCKS["specadmin_checklist/plugin.py"]
PLUGIN_MODULE = BLOCKS["specadmin_checklist/checklist.yaml"]
MODULE = BLOCKS["modules/main.yaml"]
APP = "app: demo\nlabel: 示例\nmodules: [main]\nplugins: [checklist]\n"
PLUGIN_DIR = Path(tempfile.gettempdir()) / "specadmin-plugin-checklist"  # outside the repository


def write_app(app_dir: Path, module: str = MODULE) -> Path:
    (app_dir / "modules").mkdir(parents=True, exist_ok=True)
    (app_dir / "app.yaml").write_text(APP, encoding="utf-8")
    (app_dir / "modules" / "main.yaml").write_text(module, encoding="utf-8")
    return app_dir


@pytest.fixture(scope="module")
def plugin_installed():
    install_plugin(PLUGIN_DIR, "checklist", "specadmin_checklist.plugin:plugin",
                   {"specadmin_checklist/__init__.py": '"""A third-party specadmin plugin (test)."""\n',
                    "specadmin_checklist/plugin.py": PLUGIN_SOURCE,
                    "specadmin_checklist/checklist.yaml": PLUGIN_MODULE})
    assert not PLUGIN_DIR.resolve().is_relative_to(ROOT)
    return PLUGIN_DIR


@pytest.fixture(scope="module", params=BACKENDS)
async def env(request, tmp_path_factory, plugin_installed):
    app_dir = write_app(tmp_path_factory.mktemp(f"plugin-{request.param}"))
    async with spec_app(app_dir, request.param, PASSWORD) as (app, client, _):
        yield {"app": app, "ctx": app.state.ctx, "dir": app_dir, "client": client}


async def test_the_plugin_table_comes_with_its_migration(env):
    migrations = "\n".join(p.read_text(encoding="utf-8") for p in (env["dir"] / "generated" / "migrations").glob("m*.py"))
    assert "ext_checklist_tick" in migrations
    assert await env["ctx"].table("checklist_tick").count() == 0  # migrated: the table exists


async def test_the_route_serves_the_module_key_from_the_model(env):
    body = (await env["client"].get("/api/checklists")).json()
    assert body["checklists"] == {"main": {"site_open": {"entity": "site", "items": ["门牌", "消防通道"]}}}


async def test_the_entity_hook_writes_in_the_same_transaction_and_can_refuse(env):
    client, ticks = env["client"], env["ctx"].table("checklist_tick")
    before = await ticks.count()
    created = await client.post("/api/site", params={"screen": "site_admin"}, json={"code": "S1", "name": "一号站"})
    assert created.status_code == 201, created.text
    rows = await ticks.select(ticks.entity, ticks.row_id, ticks.kind).where(ticks.row_id == created.json()["id"])
    assert rows == [{"entity": "site", "row_id": created.json()["id"], "kind": "create"}]
    refused = await client.post("/api/site", params={"screen": "site_admin"}, json={"code": "S2"})
    assert refused.status_code == 422 and refused.json()["errors"] == {"name": "检查清单要求填写名称"}
    site = env["ctx"].table("site")
    assert not await site.exists().where(site.code == "S2")
    assert await ticks.count() == before + 1


async def test_the_job_runs_the_plugin_handler(env):
    from specadmin.runtime.jobs.runner import run_job

    run = await run_job(env["ctx"], "tally_ticks", date_from=dt.date(2026, 5, 1))
    assert run["status"] == "succeeded", run
    assert '"from": "2026-05-01"' in run["summary"] and '"ticks":' in run["summary"]


async def test_the_plugin_check_reports_its_own_code_at_the_line(plugin_installed, tmp_path):
    from specadmin.generator.build import load_app
    from specadmin.generator.errors import SpecInvalid

    app_dir = write_app(tmp_path, MODULE.replace("    entity: site\n    items", "    entity: shop\n    items"))
    with pytest.raises(SpecInvalid) as info:
        load_app(app_dir)
    lines = MODULE.splitlines()
    line = next(i for i, text in enumerate(lines, 1) if text.startswith("  site_open:")) + 1
    assert [(e.code, e.line, e.message) for e in info.value.errors] == [
        ("CK001", line, "checklist 'site_open': no entity 'shop'")]
    assert str(info.value.errors[0]).startswith("modules/main.yaml:") or "main.yaml" in str(info.value.errors[0])


async def test_a_module_key_of_a_plugin_not_listed_is_refused(plugin_installed, tmp_path):
    from specadmin.generator.build import load_app
    from specadmin.generator.errors import SpecInvalid

    app_dir = write_app(tmp_path)
    (app_dir / "app.yaml").write_text(APP.replace("plugins: [checklist]\n", "plugins: [checklists]\n"), encoding="utf-8")
    with pytest.raises(SpecInvalid) as info:
        load_app(app_dir)
    assert [(e.code, e.line) for e in info.value.errors] == [("SA004", 4)]
    assert "did you mean 'checklist'" in info.value.errors[0].message
