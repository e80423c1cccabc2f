"""Chongzhou's 事件表单配置 (versioned JSON-Schema forms, module key `form_versions:`, plugins/workflow/forms_admin.py)
on SQLite and PostgreSQL: 发布 leaves exactly one published version per event type (the previous one goes offline
in the same action); 新版本 makes a draft with version max+1 inheriting the schema; 复制 does the same for the same
or a chosen type; a form definition that is not a JSON Schema is refused on save (422 with the reason) and
nothing is written; 预览 renders the stored schema (titles, required marks, enum drop-downs, groups) and checks
what is filled in. The checks WF011–WF013 name a broken declaration's file and line.
"""
from __future__ import annotations

import json
import shutil

import pytest
from conftest import BACKENDS, EXAMPLES, api_login, reference_blocks, running_app
from test_chongzhou_app import DEMO, PASSWORD

aio = pytest.mark.asyncio(loop_scope="session")
SCREEN = {"screen": "event_form_admin"}
GROUPED = {"type": "object", "title": "噪音投诉表单", "required": ["source"],
           "properties": {"source": {"type": "string", "title": "噪音来源", "enum": ["工地", "商铺", "住户"]},
                          "site": {"type": "object", "title": "现场情况",
                                   "required": ["decibel"],
                                   "properties": {"decibel": {"type": "integer", "title": "分贝", "minimum": 0},
                                                  "night": {"type": "boolean", "title": "是否夜间"}}}}}


@pytest.fixture(scope="module", params=BACKENDS)
async def hub(request, tmp_path_factory):
    async with running_app("chongzhou", tmp_path_factory, request.param, "chongzhou-forms") as app:
        ctx = app.state.ctx
        await DEMO.load(ctx)
        et = ctx.table("event_type")
        types = {r["code"]: r["id"] for r in await et.select(et.id, et.code)}
        client = await api_login(app, "config", PASSWORD)
        yield {"ctx": ctx, "types": types, "c": client}
        await client.aclose()


async def forms(hub, type_code: str) -> list[dict]:
    form = hub["ctx"].table("event_form")
    return await form.select().where(form.event_type == hub["types"][type_code]).order_by(form.form_version)


async def action(hub, act: str, row_id: int, **params) -> dict:
    r = await hub["c"].post(f"/api/event_form/actions/{act}", params=SCREEN, json={"ids": [row_id], "params": params})
    assert r.status_code == 200 and r.json()["done"] == [row_id], r.text
    return r.json()


@aio
async def test_publishing_a_version_takes_the_types_published_version_offline(hub):
    v1, v2 = await forms(hub, "020101")
    assert (v1["status"], v2["status"]) == ("published", "draft")
    await action(hub, "publish", v2["id"])
    v1, v2 = await forms(hub, "020101")
    assert (v1["status"], v2["status"]) == ("offline", "published") and v2["published_at"] is not None
    await action(hub, "publish", v1["id"])  # and back: still one published
    assert [f["status"] for f in await forms(hub, "020101")] == ["published", "offline"]


@aio
async def test_a_new_version_is_a_draft_numbered_max_plus_one_with_the_same_schema(hub):
    v1 = (await forms(hub, "020101"))[0]
    out = await action(hub, "new_version", v1["id"])
    rows = await forms(hub, "020101")
    new = rows[-1]
    assert out["results"][str(v1["id"])]["id"] == new["id"]
    assert (new["form_version"], new["status"], new["published_at"]) == (3, "draft", None)
    assert json.loads(new["form_schema"]) == json.loads(v1["form_schema"]) and new["name"] == v1["name"]


@aio
async def test_copy_goes_to_the_next_free_version_of_the_chosen_type_or_of_its_own(hub):
    v1 = (await forms(hub, "020101"))[0]
    await action(hub, "copy", v1["id"], event_type=hub["types"]["010101"], name="工地噪音表单")
    (copied,) = await forms(hub, "010101")
    assert (copied["form_version"], copied["status"], copied["name"]) == (1, "draft", "工地噪音表单")
    before = len(await forms(hub, "020101"))
    await action(hub, "copy", v1["id"])
    rows = await forms(hub, "020101")
    assert len(rows) == before + 1 and rows[-1]["form_version"] == max(r["form_version"] for r in rows[:-1]) + 1


@aio
async def test_a_definition_that_is_not_a_json_schema_is_refused_on_save_and_nothing_is_written(hub):
    form = hub["ctx"].table("event_form")
    count = await form.count()
    for text, reason in (("{不是 JSON", "不是有效的 JSON"), ('{"type": "objekt"}', "不是有效的 JSON Schema"),
                         ('["type"]', "应为 JSON 对象")):
        r = await hub["c"].post("/api/event_form", params=SCREEN, json={
            "name": "坏表单", "event_type": hub["types"]["010102"], "form_version": 1, "form_schema": text})
        assert r.status_code == 422, r.text
        assert reason in r.json()["errors"]["form_schema"], r.text
    assert await form.count() == count
    v1 = (await forms(hub, "020101"))[0]
    r = await hub["c"].patch(f"/api/event_form/{v1['id']}", params=SCREEN, json={"form_schema": '{"required": 5}'})
    assert r.status_code == 422 and "form_schema" in r.json()["errors"], r.text
    assert (await forms(hub, "020101"))[0]["form_schema"] == v1["form_schema"]


@aio
async def test_a_published_versions_definition_stays_as_events_were_checked_on_and_a_drafts_may_change(hub):
    published = next(f for f in await forms(hub, "020101") if f["status"] == "published")
    for change in ({"form_schema": json.dumps(GROUPED)}, {"form_version": published["form_version"] + 50}):
        r = await hub["c"].patch(f"/api/event_form/{published['id']}", params=SCREEN, json=change)
        assert r.status_code == 422, r.text
        [(name, message)] = r.json()["errors"].items()
        assert name in change and "请使用“新版本”" in message, r.text
    again = next(f for f in await forms(hub, "020101") if f["id"] == published["id"])
    assert (again["form_schema"], again["form_version"]) == (published["form_schema"], published["form_version"])
    r = await hub["c"].patch(f"/api/event_form/{published['id']}", params=SCREEN, json={"name": "占道经营表单（修订说明）"})
    assert r.status_code == 200, r.text  # its name is not what an event was checked on
    draft = (await action(hub, "new_version", published["id"]))["results"][str(published["id"])]
    r = await hub["c"].patch(f"/api/event_form/{draft['id']}", params=SCREEN, json={"form_schema": json.dumps(GROUPED)})
    assert r.status_code == 200 and json.loads(r.json()["form_schema"]) == GROUPED, r.text


@aio
async def test_the_preview_shows_the_fields_and_checks_what_is_filled_in(hub):
    r = await hub["c"].post("/api/event_form", params=SCREEN, json={
        "name": "噪音投诉表单", "event_type": hub["types"]["010101"], "form_version": 9,
        "form_schema": json.dumps(GROUPED, ensure_ascii=False)})
    assert r.status_code == 201, r.text
    url = f"/workflow/forms/event_form_admin/{r.json()['id']}/preview"
    page = await hub["c"].get(url)
    assert page.status_code == 200, page.text
    html = page.text
    for text in ("噪音来源", "现场情况", "分贝", "是否夜间", '<option value="商铺"', 'name="site.decibel"'):
        assert text in html, text
    assert html.count('title="必填"') == 2  # 噪音来源 and 分贝
    detail = await hub["c"].get(f"/s/event_form_admin/{r.json()['id']}")
    assert url in detail.text  # the detail page links the preview
    token = hub["c"].headers["x-csrftoken"]
    bad = await hub["c"].post(url, data={"_csrf_token": token, "source": "商铺", "site.decibel": "很吵"})
    assert bad.status_code == 200 and "site/decibel：应为整数" in bad.text, bad.text[-3000:]
    good = await hub["c"].post(url, data={"_csrf_token": token, "source": "商铺", "site.decibel": "70",
                                          "site.night": "true"})
    assert "填写内容符合表单定义" in good.text


def test_the_reference_excerpt_is_chongzhous_declaration():
    import yaml

    excerpt = yaml.safe_load(reference_blocks()["excerpts/chongzhou_event_forms.yaml"])
    config = yaml.safe_load((EXAMPLES / "chongzhou" / "modules" / "config.yaml").read_text(encoding="utf-8"))
    assert excerpt["form_versions"] == config["form_versions"]
    actions = config["screens"]["event_form_admin"]["custom_actions"]
    for name, body in excerpt["screens"]["event_form_admin"]["custom_actions"].items():
        for key in ("handler", "when", "set", "batch"):
            assert body.get(key) == actions[name].get(key), (name, key)
        assert set(body.get("params") or ()) == set(actions[name].get("params") or ()), name


BROKEN = [
    ("schema: form_schema, version: form_version,", "schema: form_schema, version: name,", "WF011", "version"),
    ("status: status,\n", "status: status, draft: pending,\n", "WF012", "pending"),
    ("group: [event_type]", "group: [event_type, form_version]", "WF013", "form_version"),
]


@pytest.mark.parametrize("old,new,code,fragment", BROKEN, ids=[b[2] for b in BROKEN])
def test_check_names_a_broken_form_versions_declaration(tmp_path, capsys, old, new, code, fragment):
    from specadmin.cli import main

    app_dir = tmp_path / "chongzhou"
    shutil.copytree(EXAMPLES / "chongzhou", app_dir, ignore=shutil.ignore_patterns("generated", "var", "__pycache__"))
    path = app_dir / "modules" / "config.yaml"
    text = path.read_text(encoding="utf-8")
    assert old in text
    broken = text.replace(old, new, 1)
    path.write_text(broken, encoding="utf-8")
    assert main(["check", str(app_dir)]) == 1
    errors = [e for e in capsys.readouterr().err.splitlines() if f"[{code}]" in e]
    line = next(i for i, t in enumerate(broken.splitlines(), 1) if "form_versions:" in t) + 1
    assert errors and errors[0].startswith(f"chongzhou/modules/config.yaml:{line}: [{code}]"), errors
    assert fragment in errors[0], errors

