"""A ref field's choices narrowed for the user (`options:` of a field, runtime/security/ref_options.py), on
Chongzhou's event form (SQLite and PostgreSQL): 住建局 (dept1), whose 部门类型配置 row lists the 住建 types, is
offered and may write only those; 永康社区 (community), without a row, is offered and may write every type.
A value outside the set is refused with 422 on the field and nothing is written, on create, update and the
workflow's create-and-launch. The checks SA230–SA233 run over REFERENCE's "modules/repairs.yaml" example.
"""
from __future__ import annotations

import re

import pytest
from conftest import BACKENDS, api_login, reference_blocks, running_app
from test_chongzhou_app import DEMO, PASSWORD

aio = pytest.mark.asyncio(loop_scope="session")
MODULE = reference_blocks()["modules/repairs.yaml"]
APP = "app: repairs\nlabel: 报修\nmodules: [repairs]\n"
USERS = ("dept1", "community")


@pytest.fixture(scope="module", params=BACKENDS)
async def hub(request, tmp_path_factory):
    async with running_app("chongzhou", tmp_path_factory, request.param, "chongzhou-options") as app:
        ctx = app.state.ctx
        await DEMO.load(ctx)
        et = ctx.table("event_type")
        types = {r["code"]: r["id"] for r in await et.select(et.id, et.code)}
        clients = {name: await api_login(app, name, PASSWORD) for name in USERS}
        yield {"ctx": ctx, "types": types, "c": clients}
        for c in clients.values():
            await c.aclose()


def offered(html: str) -> set[int]:
    """The values of the form's 事件类型 drop-down."""
    select = re.search(r'<select id="f-event_type" name="event_type".*?</select>', html, re.S)
    assert select, html[:2000]
    return {int(v) for v in re.findall(r'<option value="(\d+)"', select[0])}


async def events(hub) -> int:
    return await hub["ctx"].table("event").count()


@aio
async def test_the_form_offers_a_configured_org_only_its_types_and_an_unconfigured_org_every_type(hub):
    types = hub["types"]
    housing = {i for code, i in types.items() if code.startswith("01")}
    r = await hub["c"]["dept1"].get("/s/event_launch/new")
    assert r.status_code == 200, r.text
    assert offered(r.text) == housing
    r = await hub["c"]["community"].get("/s/event_launch/new")
    assert r.status_code == 200, r.text
    assert offered(r.text) == set(types.values())


@aio
async def test_a_type_outside_the_orgs_configuration_is_refused_on_create_update_and_launch_and_nothing_is_written(hub):
    types, dept1 = hub["types"], hub["c"]["dept1"]
    before = await events(hub)
    r = await dept1.post("/api/event", params={"screen": "event_launch"},
                         json={"title": "住建局登记占道经营", "event_type": types["020101"]})
    assert r.status_code == 422, r.text
    assert r.json()["errors"]["event_type"] == "本单位的部门类型配置中没有该事件类型"
    r = await dept1.post("/api/workflow/event", json={
        "data": {"title": "住建局发起占道经营", "event_type": types["020101"], "form_data": '{"stall_count": 2}'},
        "action": "launch"})
    assert r.status_code == 422 and "event_type" in r.json()["errors"], r.text
    assert await events(hub) == before
    r = await dept1.post("/api/event", params={"screen": "event_launch"},
                         json={"title": "住建局登记工地噪音", "event_type": types["010101"]})
    assert r.status_code == 201, r.text
    row_id = r.json()["id"]
    r = await dept1.patch(f"/api/event/{row_id}", params={"screen": "event_launch"},
                          json={"event_type": types["020201"]})
    assert r.status_code == 422 and "event_type" in r.json()["errors"], r.text
    event = hub["ctx"].table("event")
    assert (await event.select(event.event_type).where(event.id == row_id))[0]["event_type"] == types["010101"]


@aio
async def test_an_org_without_a_configuration_writes_any_type(hub):
    r = await hub["c"]["community"].post("/api/event", params={"screen": "event_launch"},
                                         json={"title": "社区登记占道经营", "event_type": hub["types"]["020101"]})
    assert r.status_code == 201, r.text


BROKEN = [
    ("options: {from: org_category, where: {org: $user.org}, values: categories, otherwise: all}",
     "options: {from: org_categories, where: {org: $user.org}, values: categories}", "SA231", "org_categories"),
    ("options: {from: org_category, where: {org: $user.org}, values: categories, otherwise: all}",
     "options: {from: org_category, where: {org: $user.org}, values: org}", "SA232", "values 'org'"),
    ("options: {from: org_category, where: {org: $user.org}, values: categories, otherwise: all}",
     "options: {from: org_category, where: {unit: $user.org}, values: categories}", "SA233", "'unit'"),
    ("options: {from: org_category, where: {org: $user.org}, values: categories, otherwise: all}",
     "options: {from: org_category, where: {org: $row.org}, values: categories}", "SA233", "'$row.org'"),
    ("title: {type: string, label: 标题, required: true, max_length: 100}",
     "title: {type: string, label: 标题, max_length: 100, options: {from: org_category, values: categories}}",
     "SA230", "not string"),
]


def write_app(app_dir, module: str):
    (app_dir / "modules").mkdir(parents=True, exist_ok=True)
    (app_dir / "app.yaml").write_text(APP, encoding="utf-8")
    (app_dir / "modules" / "repairs.yaml").write_text(module, encoding="utf-8")


def test_the_reference_example_passes_the_checks(tmp_path):
    from specadmin.cli import main

    write_app(tmp_path, MODULE)
    assert main(["check", str(tmp_path)]) == 0


@pytest.mark.parametrize("old,new,code,fragment", BROKEN, ids=[b[2] + "-" + b[3] for b in BROKEN])
def test_check_names_a_broken_options_declaration(tmp_path, capsys, old, new, code, fragment):
    from specadmin.cli import main

    assert old in MODULE
    broken = MODULE.replace(old, new, 1)
    write_app(tmp_path, broken)
    assert main(["check", str(tmp_path)]) == 1
    errors = [e for e in capsys.readouterr().err.splitlines() if "[SA" in e]
    line = next(i for i, text in enumerate(broken.splitlines(), 1) if new in text)
    assert len(errors) == 1 and errors[0].startswith(f"{tmp_path.name}/modules/repairs.yaml:{line}: [{code}]"), errors
    assert fragment in errors[0], errors


@aio
async def test_a_draft_whose_type_left_the_orgs_configuration_is_not_launched(hub):
    """The draft was written while 010102 was configured; after the configuration drops it, 发起 refuses."""
    ctx, types, dept1 = hub["ctx"], hub["types"], hub["c"]["dept1"]
    r = await dept1.post("/api/event", params={"screen": "event_launch"},
                         json={"title": "住建局登记扬尘", "event_type": types["010102"]})
    assert r.status_code == 201, r.text
    row_id = r.json()["id"]
    org, config, join = ctx.table("org"), ctx.table("dept_event_type"), ctx.join_table("dept_event_type", "event_types")
    org_id = (await org.select(org.id).where(org.code == "CZ-ZJJ"))[0]["id"]
    owner = (await config.select(config.id).where(config.org == org_id))[0]["id"]
    await join.delete().where((join.owner == owner) & (join.target == types["010102"]))
    try:
        r = await dept1.post(f"/api/workflow/event/{row_id}/launch", json={"params": {}})
        assert r.status_code == 422 and "部门类型配置中没有该事件类型" in r.json()["errors"]["event_type"], r.text
        event = ctx.table("event")
        assert (await event.select(event.status).where(event.id == row_id))[0]["status"] == "draft"
    finally:
        await join.insert(join(owner=owner, target=types["010102"]))
