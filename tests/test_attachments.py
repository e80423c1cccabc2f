"""Attachments (issue item 9): `type: file` fields with one or many files, allowed types checked
against the content, size and count limits, upload, list, download/preview and delete only through
a row the user may read or update under their data scope, SM4 at rest for `sensitive: true`, files
removed with their row, names in the row's column (lists, exports) and in the operation log. On
SQLite and PostgreSQL. The app is the example of specs/REFERENCE.md ("attachments"): the test runs the docs."""
from __future__ import annotations

import json

import pytest
from conftest import BACKENDS, api_login, reference_blocks, start_app

pytestmark = pytest.mark.asyncio(loop_scope="session")
PASSWORD = "Attach@2026x"
JPG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + b"photo-bytes" * 50
PNG = b"\x89PNG\r\n\x1a\n" + b"png-bytes" * 20
PDF = b"%PDF-1.7\n" + "评估依据 secret-basis-text".encode() * 40
HTML = b"<html><script>alert(1)</script></html>"
# Beside the documented example: a read-only role (may read rows, not change their files).
EXTRA = """\
  viewer:
    label: 查看人员
    grants:
      case_admin: {actions: [list, read]}
"""


@pytest.fixture(scope="module", params=BACKENDS)
async def env(request, tmp_path_factory):
    from specadmin.generator.writer import generate
    from specadmin.runtime.identity.users import ensure_user

    app_dir = tmp_path_factory.mktemp(f"attach-{request.param}")
    (app_dir / "modules").mkdir()
    (app_dir / "app.yaml").write_text("app: demo\nlabel: 示例\nmodules: [cases]\n", encoding="utf-8")
    (app_dir / "modules" / "cases.yaml").write_text(reference_blocks()["modules/cases.yaml"] + EXTRA, encoding="utf-8")
    generate(app_dir)
    app, _ = await start_app(app_dir, request.param)
    ctx = app.state.ctx
    org = ctx.table("org")
    orgs = {}
    for code in ("HQ", "U1", "U2"):
        oid = (await org.insert(org(code=code, name=f"单位{code}", level="city", org_type="department", active=True))
               .returning(org.id))[0]["id"]
        await org.update({org.path: f"/{oid}/"}).where(org.id == oid)
        orgs[code] = oid
    await ctx.refresh_caches()
    await ensure_user(ctx, "root", PASSWORD, name="管理员", org_code="HQ", superuser=True)
    await ensure_user(ctx, "h1", PASSWORD, name="处置一", org_code="U1", roles=("handler",))
    await ensure_user(ctx, "h2", PASSWORD, name="处置二", org_code="U2", roles=("handler",))
    await ensure_user(ctx, "look", PASSWORD, name="查看", org_code="HQ", roles=("viewer",))
    clients = {name: await api_login(app, name, PASSWORD) for name in ("root", "h1", "h2", "look")}
    yield {"app": app, "ctx": ctx, "dir": app_dir, "orgs": orgs, **clients}
    for client in clients.values():
        await client.aclose()
    for hook in app.on_shutdown:
        await hook(app)


async def new_case(env, title: str, unit: str = "U1") -> int:
    r = await env["root"].post("/api/case", json={"title": title, "unit": env["orgs"][unit]})
    assert r.status_code == 201, r.text
    return r.json()["id"]


async def upload(client, case_id: int, field: str, name: str, data: bytes):
    return await client.post(f"/api/case/{case_id}/files/{field}", files={"file": (name, data)})


def stored_blobs(env) -> list:
    root = env["dir"] / "var" / "attachments" / "files"
    return [p for p in root.rglob("*") if p.is_file()] if root.exists() else []


async def test_a_photo_is_uploaded_listed_named_in_the_row_and_previewed_inline(env):
    case_id = await new_case(env, "井盖缺失")
    r = await upload(env["h1"], case_id, "photos", "现场1.jpg", JPG)
    assert r.status_code == 201, r.text
    first = r.json()
    assert first["name"] == "现场1.jpg" and first["size"] == len(JPG) and first["type"] == "image/jpeg"
    r = await upload(env["h1"], case_id, "photos", "现场2.png", PNG)
    assert r.status_code == 201, r.text
    listed = (await env["h1"].get(f"/api/case/{case_id}/files/photos")).json()["items"]
    assert [i["name"] for i in listed] == ["现场1.jpg", "现场2.png"]
    row = (await env["h1"].get(f"/api/case/{case_id}")).json()
    assert row["photos"] == "现场1.jpg、现场2.png"
    assert [(f["id"], f["name"], f["size"], f["type"]) for f in row["photos_files"]] == \
        [(i["id"], i["name"], i["size"], i["type"]) for i in listed]
    assert row["basis_files"] == []
    r = await env["h1"].get(f"/api/case/{case_id}/files/photos/{first['id']}")
    assert r.status_code == 200 and r.content == JPG
    assert r.headers["content-type"] == "image/jpeg" and r.headers["content-disposition"].startswith("inline;")
    assert r.headers["x-content-type-options"] == "nosniff"
    r = await env["h1"].get(f"/api/case/{case_id}/files/photos/{first['id']}", params={"download": "1"})
    assert r.headers["content-disposition"].startswith("attachment;") and r.content == JPG
    assert "filename*=UTF-8''%E7%8E%B0%E5%9C%BA1.jpg" in r.headers["content-disposition"]


async def test_a_renamed_page_or_an_unaccepted_type_is_refused_naming_the_field_and_nothing_is_kept(env):
    case_id = await new_case(env, "路灯损坏")
    before = len(stored_blobs(env))
    r = await upload(env["h1"], case_id, "photos", "photo.jpg", HTML)
    assert r.status_code == 400 and "现场照片" in r.text and "不是 jpg 文件" in r.text, r.text
    r = await upload(env["h1"], case_id, "photos", "page.html", HTML)
    assert r.status_code == 400 and "现场照片" in r.text and "jpg、png" in r.text, r.text
    r = await upload(env["h1"], case_id, "basis", "依据.jpg", JPG)
    assert r.status_code == 400 and "评估依据" in r.text, r.text
    r = await env["h1"].post(f"/api/case/{case_id}/files/photos", data={"note": "x"},
                             files={"other": ("a.jpg", JPG)})
    assert r.status_code == 400 and "请选择要上传的现场照片" in r.text, r.text
    r = await upload(env["h1"], case_id, "title", "a.jpg", JPG)
    assert r.status_code == 404 and "title" in r.text
    assert len(stored_blobs(env)) == before
    assert (await env["h1"].get(f"/api/case/{case_id}/files/photos")).json()["items"] == []
    assert not list((env["dir"] / "var" / "attachments" / "incoming").iterdir())


async def test_a_file_over_max_mb_is_refused_with_413_and_too_many_files_with_400(env):
    case_id = await new_case(env, "违章搭建")
    big = JPG + b"\x00" * (5 * (1 << 20))
    r = await upload(env["h1"], case_id, "photos", "big.jpg", big)
    assert r.status_code == 413 and "5 MB" in r.text, r.text
    for n in range(9):
        assert (await upload(env["h1"], case_id, "photos", f"p{n}.jpg", JPG)).status_code == 201
    r = await upload(env["h1"], case_id, "photos", "p9.jpg", JPG)
    assert r.status_code == 400 and "最多上传 9 个文件" in r.text, r.text
    assert len((await env["h1"].get(f"/api/case/{case_id}/files/photos")).json()["items"]) == 9


async def test_files_are_reached_only_through_a_row_in_the_users_scope_and_grant(env):
    case_id = await new_case(env, "占道经营", unit="U1")
    file_id = (await upload(env["h1"], case_id, "photos", "a.jpg", JPG)).json()["id"]
    base = f"/api/case/{case_id}/files/photos"
    h2 = env["h2"]  # a handler of another unit: the row is outside their scope
    for r in (await h2.get(base), await h2.get(f"{base}/{file_id}"), await upload(h2, case_id, "photos", "b.jpg", JPG),
              await h2.delete(f"{base}/{file_id}")):
        assert r.status_code == 404, r.text
        assert "a.jpg" not in r.text and "photo-bytes" not in r.text
    look = env["look"]  # may read every case, may not change its files
    assert (await look.get(f"{base}/{file_id}")).content == JPG
    assert (await upload(look, case_id, "photos", "c.jpg", JPG)).status_code == 403
    assert (await look.delete(f"{base}/{file_id}")).status_code == 403
    for bad in (f"{base}/99999999999999999999", f"{base}/0", "/api/case/99999999999999999999/files/photos",
                f"{base}/{file_id}?screen=nosuch"):
        r = await env["h1"].get(bad)
        assert r.status_code == 404, (bad, r.text)
    # a file of another row is not reached through this one
    other = await new_case(env, "另一个", unit="U1")
    assert (await env["h1"].get(f"/api/case/{other}/files/photos/{file_id}")).status_code == 404
    assert [i["name"] for i in (await env["h1"].get(base)).json()["items"]] == ["a.jpg"]


async def test_sensitive_files_are_encrypted_at_rest_and_a_new_one_replaces_the_old(env):
    case_id = await new_case(env, "评估")
    first = (await upload(env["root"], case_id, "basis", "依据一.pdf", PDF)).json()
    blobs = {p.name: p.read_bytes() for p in stored_blobs(env)}
    record = (await env["ctx"].runtime_table("specadmin_attachment").select()
              .where(env["ctx"].runtime_table("specadmin_attachment").id == first["id"]))[0]
    blob = blobs[record["storage_key"]]
    assert b"secret-basis-text" not in blob and b"%PDF" not in blob and record["encrypted"] is True
    r = await env["root"].get(f"/api/case/{case_id}/files/basis/{first['id']}")
    assert r.content == PDF and r.headers["content-type"] == "application/pdf"
    table = env["ctx"].table("case")
    raw = (await table.select(table.basis).where(table.id == case_id))[0]["basis"]
    assert raw and "依据一" not in raw  # the names column of a sensitive field is encrypted too
    shown = (await env["h1"].get(f"/api/case/{case_id}")).json()["basis_files"]  # h1 sees sensitive values masked
    assert len(shown) == 1 and "依据一" not in shown[0]["name"]
    second = (await upload(env["root"], case_id, "basis", "依据二.pdf", PDF)).json()
    items = (await env["root"].get(f"/api/case/{case_id}/files/basis")).json()["items"]
    assert [i["id"] for i in items] == [second["id"]]
    assert record["storage_key"] not in {p.name for p in stored_blobs(env)}


async def test_deleting_a_file_or_its_row_removes_it_and_the_log_names_it(env):
    case_id = await new_case(env, "垃圾堆放")
    a = (await upload(env["h1"], case_id, "photos", "甲.jpg", JPG)).json()
    b = (await upload(env["h1"], case_id, "photos", "乙.png", PNG)).json()
    r = await env["h1"].delete(f"/api/case/{case_id}/files/photos/{a['id']}")
    assert r.status_code == 204, r.text
    assert (await env["h1"].get(f"/api/case/{case_id}")).json()["photos"] == "乙.png"
    assert (await env["h1"].get(f"/api/case/{case_id}/files/photos/{a['id']}")).status_code == 404
    oplog = env["ctx"].table("oplog")
    entries = await oplog.select(oplog.before, oplog.after).where(
        oplog.subject_type == "case", oplog.subject_id == str(case_id), oplog.op_type == "update").order_by(oplog.id)
    assert [json.loads(e["after"])["photos"] for e in entries] == ["甲.jpg", "甲.jpg、乙.png", "乙.png"]
    t = env["ctx"].runtime_table("specadmin_attachment")
    key = (await t.select(t.storage_key).where(t.id == b["id"]))[0]["storage_key"]
    assert key in {p.name for p in stored_blobs(env)}
    assert (await env["root"].delete(f"/api/case/{case_id}")).status_code == 204
    assert not await t.exists().where(t.entity == "case", t.row_id == case_id)
    assert key not in {p.name for p in stored_blobs(env)}


async def test_exports_show_the_file_names_and_imports_leave_file_fields_out(env):
    case_id = await new_case(env, "导出检查")
    await upload(env["h1"], case_id, "photos", "一.jpg", JPG)
    await upload(env["h1"], case_id, "photos", "二.png", PNG)
    r = await env["root"].get("/api/case/export.csv", params={"screen": "case_admin", "title": "导出检查"})
    assert r.status_code == 200, r.text
    text = r.content.decode("utf-8-sig")
    assert "现场照片" in text and "一.jpg、二.png" in text
    screen = env["ctx"].app.screen("case_admin")
    assert screen.import_spec is None or not {"photos", "basis"} & set(screen.import_spec.columns)
    r = await env["root"].patch(f"/api/case/{case_id}", json={"photos": "x.jpg"})
    assert r.status_code in (400, 422) and "photos" in r.text, r.text


async def test_a_stored_blob_without_a_record_is_swept_at_start_up(env):
    from specadmin.runtime.attachments.storage import storage_for
    from specadmin.runtime.attachments.store import sweep

    stray = env["dir"] / "stray"
    stray.write_bytes(b"left by a crash")
    await storage_for(env["dir"]).put("ab" + "0" * 30, stray)
    kept = {p.name for p in stored_blobs(env)} - {"ab" + "0" * 30}
    assert await sweep(env["ctx"]) == 1
    assert {p.name for p in stored_blobs(env)} == kept


async def test_file_field_file_parameter_import_and_feed_mistakes_are_reported_with_their_codes_and_lines(tmp_path):
    from specadmin.generator.build import load_app
    from specadmin.generator.errors import SpecInvalid

    (tmp_path / "modules").mkdir()
    (tmp_path / "app.yaml").write_text("app: demo\nlabel: 示例\nmodules: [m]\n", encoding="utf-8")
    (tmp_path / "modules" / "m.yaml").write_text(
        "entities:\n"
        "  doc:\n"
        "    label: 文档\n"
        "    display: title\n"
        "    fields:\n"
        "      title: {type: string, label: 标题, accept: [pdf]}\n"
        "      scan: {type: file, label: 扫描件, accept: [pdf, exe]}\n"
        "      pics: {type: file, label: 图片, max_files: 3, max_mb: 99999}\n"
        "      must: {type: file, label: 必传, required: true}\n"
        "      kind: {type: file, label: 身份, sensitive: id_number}\n"
        "screens:\n"
        "  doc_admin:\n"
        "    entity: doc\n"
        "    label: 文档\n"
        "    list: [title]\n"
        "    custom_actions:\n"
        "      redo:\n"
        "        label: 重做\n"
        "        batch: true\n"
        "        set: {scan: 旧的}\n"
        "        params:\n"
        "          f1: {type: file, label: 附件一}\n"
        "          note: {type: string, label: 说明, max_mb: 3}\n"
        "    actions: [import]\n"
        "    import: {columns: [title, scan]}\n"
        "roles:\n"
        "  hub: {label: 接入, grants: {}}\n"
        "feeds:\n"
        "  doc_in:\n"
        "    kind: inbound\n"
        "    label: 接收\n"
        "    entity: doc\n"
        "    ops: [create]\n"
        "    fields: [title, scan]\n"
        "    caller_role: hub\n", encoding="utf-8")
    with pytest.raises(SpecInvalid) as info:
        load_app(tmp_path)
    found = {(e.code, e.line) for e in info.value.errors}
    assert {("SA160", 6), ("SA161", 7), ("SA162", 8), ("SA163", 9), ("SA163", 10),
            ("SA164", 20), ("SA164", 22), ("SA160", 23), ("SA110", 25), ("SA226", 34)} <= found, found
    assert sum(1 for e in info.value.errors if (e.code, e.line) == ("SA164", 22)) == 2  # batch, and no set attaches it
    assert sum(1 for e in info.value.errors if e.code == "SA162") == 2
    assert all(e.file.endswith("m.yaml") for e in info.value.errors)


async def test_the_detail_page_links_the_files_and_the_edit_page_uploads_them(env):
    case_id = await new_case(env, "页面检查")
    file_id = (await upload(env["h1"], case_id, "photos", "照片.jpg", JPG)).json()["id"]
    r = await env["h1"].get(f"/s/case_admin/{case_id}")
    assert r.status_code == 200, r.text
    url = f"/api/case/{case_id}/files/photos/{file_id}?screen=case_admin"
    assert f'href="{url}"' in r.text and f'href="{url}&amp;download=1"' in r.text and "照片.jpg" in r.text
    assert "file-upload" not in r.text  # the detail page only links
    r = await env["h1"].get(f"/s/case_admin/{case_id}/edit")
    assert r.status_code == 200, r.text
    assert 'id="file-input-photos" accept=".jpg,.png" multiple' in r.text
    assert f'data-url="/api/case/{case_id}/files/photos?screen=case_admin"' in r.text
    assert "attachments.js" in r.text


async def stage(client, name: str, data: bytes, param: str = "files"):
    return await client.post(f"/api/case/actions/send_back/files/{param}", files={"file": (name, data)})


async def test_sending_back_attaches_the_files_uploaded_for_it_and_logs_them_by_name(env):
    case_id = await new_case(env, "退回检查")
    one = await stage(env["h1"], "退回1.pdf", PDF)
    two = await stage(env["h1"], "退回2.jpg", JPG)
    assert one.status_code == 201 and two.status_code == 201, one.text + two.text
    ids = [one.json()["id"], two.json()["id"]]
    r = await env["h1"].post("/api/case/actions/send_back",
                             json={"ids": [case_id], "params": {"opinion": "材料不全", "files": ids}})
    assert r.status_code == 200 and r.json()["done"] == [case_id], r.text
    row = (await env["h1"].get(f"/api/case/{case_id}")).json()
    assert row["status"] == "已退回" and row["back_note"] == "材料不全" and row["back_files"] == "退回1.pdf、退回2.jpg"
    items = (await env["h1"].get(f"/api/case/{case_id}/files/back_files")).json()["items"]
    assert [i["id"] for i in items] == ids
    assert (await env["h1"].get(f"/api/case/{case_id}/files/back_files/{ids[0]}")).content == PDF
    oplog = env["ctx"].table("oplog")
    entries = await oplog.select(oplog.after).where(oplog.subject_type == "case", oplog.subject_id == str(case_id),
                                                    oplog.op_type == "update")
    assert [json.loads(e["after"]).get("back_files") for e in entries] == ["退回1.pdf、退回2.jpg"]
    # the same files cannot be attached again, nor to another row
    other = await new_case(env, "另一退回")
    r = await env["h1"].post("/api/case/actions/send_back",
                             json={"ids": [other], "params": {"opinion": "再退", "files": ids[:1]}})
    assert r.status_code == 422 and "退回附件" in r.json()["errors"]["files"], r.text
    assert (await env["h1"].get(f"/api/case/{other}")).json()["status"] is None


async def test_action_files_of_another_user_or_of_the_wrong_kind_are_refused_naming_the_parameter(env):
    case_id = await new_case(env, "退回拒绝")
    theirs = (await stage(env["h2"], "别人的.pdf", PDF)).json()["id"]
    r = await env["h1"].post("/api/case/actions/send_back",
                             json={"ids": [case_id], "params": {"opinion": "x", "files": [theirs]}})
    assert r.status_code == 422 and list(r.json()["errors"]) == ["files"], r.text
    r = await env["h1"].post("/api/case/actions/send_back",
                             json={"ids": [case_id], "params": {"opinion": "x", "files": ["abc"]}})
    assert r.status_code in (400, 422) and "files" in r.text, r.text
    r = await stage(env["h1"], "page.pdf", HTML)
    assert r.status_code == 400 and "退回附件" in r.text, r.text
    assert (await stage(env["h1"], "a.pdf", PDF, param="opinion")).status_code == 404
    assert (await stage(env["look"], "a.pdf", PDF)).status_code == 403  # no grant of the action
    r = await upload(env["root"], case_id, "back_files", "direct.pdf", PDF)
    assert r.status_code == 403 and "只能由操作上传" in r.text, r.text
    row = (await env["h1"].get(f"/api/case/{case_id}")).json()
    assert row["status"] is None and row["back_files"] is None


async def test_a_file_name_keeps_no_folders_or_control_characters_and_downloads_with_a_safe_header(env):
    from specadmin.runtime.attachments.store import clean_name

    assert clean_name("..\\..\\现场\r\n照片.jpg") == "现场照片.jpg" and clean_name("a/b/\x00") == "未命名文件"
    case_id = await new_case(env, "文件名")
    file_id = (await upload(env["h1"], case_id, "photos", '我的"照片";x=1.jpg', JPG)).json()["id"]
    r = await env["h1"].get(f"/api/case/{case_id}/files/photos/{file_id}", params={"download": "1"})
    assert r.status_code == 200 and r.content == JPG
    header = r.headers["content-disposition"]
    assert header.startswith('attachment; filename="') and header.count('"') == 2, header
    assert "filename*=UTF-8''%E6%88%91%E7%9A%84%22%E7%85%A7%E7%89%87%22%3Bx%3D1.jpg" in header


async def test_rotating_the_key_reencrypts_sensitive_files_before_the_old_key_goes(env):
    import os

    from specadmin.runtime.keyring.rotation import rotate_key

    if os.environ.get("SPECADMIN_SM4_KEY"):
        pytest.fail("the key must come from var/keys for rotate-key to rewrite it")
    case_id = await new_case(env, "换密钥")
    file_id = (await upload(env["root"], case_id, "basis", "依据.pdf", PDF)).json()["id"]
    t = env["ctx"].runtime_table("specadmin_attachment")
    key = (await t.select(t.storage_key).where(t.id == file_id))[0]["storage_key"]
    old_blob = next(p for p in stored_blobs(env) if p.name == key).read_bytes()
    report = await rotate_key(env["ctx"], os.urandom(16))
    assert report.complete, report.summary()
    assert not (env["dir"] / "var" / "keys" / "sm4.key.previous").exists()
    new_blob = next(p for p in stored_blobs(env) if p.name == key).read_bytes()
    assert new_blob[1:5] != old_blob[1:5] and b"secret-basis-text" not in new_blob
    assert (await env["root"].get(f"/api/case/{case_id}/files/basis/{file_id}")).content == PDF


async def test_the_send_back_dialog_uploads_its_files_through_the_page_and_the_action_takes_their_ids(env):
    case_id = await new_case(env, "页面退回")
    r = await env["h1"].get(f"/s/case_admin/{case_id}")
    assert 'data-param="files" multiple' in r.text and "data-file-ids" in r.text and "attachments.js" in r.text
    staged = await env["h1"].post("/s/case_admin/action/send_back/files/files", files={"file": ("退回.pdf", PDF)})
    assert staged.status_code == 201, staged.text
    assert (await env["look"].post("/s/case_admin/action/send_back/files/files",
                                   files={"file": ("x.pdf", PDF)})).status_code == 403
    r = await env["h1"].post("/s/case_admin/action/send_back", headers={"Accept": "application/json"},
                             data={"ids": str(case_id), "params_form": "1", "opinion": "补充材料",
                                   "files": str(staged.json()["id"])})
    assert r.status_code == 200, r.text
    row = (await env["h1"].get(f"/api/case/{case_id}")).json()
    assert row["back_files"] == "退回.pdf" and row["back_note"] == "补充材料"


async def test_a_tampered_or_missing_file_answers_404_not_500(env):
    case_id = await new_case(env, "篡改")
    sealed = (await upload(env["root"], case_id, "basis", "依据.pdf", PDF)).json()["id"]
    plain = (await upload(env["root"], case_id, "photos", "p.jpg", JPG)).json()["id"]
    t = env["ctx"].runtime_table("specadmin_attachment")
    keys = {r["id"]: r["storage_key"] for r in await t.select(t.id, t.storage_key).where(t.id.is_in([sealed, plain]))}
    blobs = {p.name: p for p in stored_blobs(env)}
    data = bytearray(blobs[keys[sealed]].read_bytes())
    data[40] ^= 1
    blobs[keys[sealed]].write_bytes(bytes(data))
    r = await env["root"].get(f"/api/case/{case_id}/files/basis/{sealed}")
    assert r.status_code == 404 and "无法解密" in r.text, r.text
    blobs[keys[plain]].write_bytes(JPG + b"changed")
    r = await env["root"].get(f"/api/case/{case_id}/files/photos/{plain}")
    assert r.status_code == 404 and "已损坏" in r.text, r.text
    blobs[keys[plain]].unlink()
    r = await env["root"].get(f"/api/case/{case_id}/files/photos/{plain}")
    assert r.status_code == 404 and "已不存在" in r.text, r.text
