"""Files for API callers and inbound feeds (issue item 9, the /ext part), on SQLite and PostgreSQL:
`/ext/api/<entity>/<id>/files/<field>` upload, list and download within the caller's grants and
data scope (404 and nothing outside), SM2-signed uploads covering the file's SHA-256, and inbound
feed records carrying files as Base64 (stored in the record's transaction, SM4 when sensitive, a
bad file refused per record). The app is the examples of specs/REFERENCE.md ("attachments")."""
from __future__ import annotations

import base64
import hashlib
import secrets
import time

import httpx
import pytest
from conftest import BACKENDS, api_login, reference_blocks, start_app

pytestmark = pytest.mark.asyncio(loop_scope="session")
PASSWORD = "ExtFiles@2026x"
JPG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + b"photo-bytes" * 50
PDF = b"%PDF-1.7\n" + "评估依据 secret-basis-text".encode() * 40
HTML = b"<html><script>alert(1)</script></html>"
# Beside the documented example: an all-or-nothing feed (a bad file rolls the whole batch back).
EXTRA = """\
feeds:
  case_all:
    kind: inbound
    label: 事件整批接收
    entity: case
    ops: [create]
    fields: [title, photos]
    caller_role: case_feed
"""


@pytest.fixture(scope="module", params=BACKENDS)
async def env(request, tmp_path_factory):
    from specadmin.generator.writer import generate
    from specadmin.runtime.api_callers.keys import issue_token, register_key
    from specadmin.runtime.identity.users import ensure_user

    app_dir = tmp_path_factory.mktemp(f"extfiles-{request.param}")
    (app_dir / "modules").mkdir()
    (app_dir / "app.yaml").write_text("app: demo\nlabel: 示例\nmodules: [cases, case_feed, extra]\n", encoding="utf-8")
    blocks = reference_blocks()
    for name in ("cases", "case_feed"):
        (app_dir / "modules" / f"{name}.yaml").write_text(blocks[f"modules/{name}.yaml"], encoding="utf-8")
    (app_dir / "modules" / "extra.yaml").write_text(EXTRA, encoding="utf-8")
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
    callers = ctx.table("api_caller")
    keys, tokens = {}, {}
    for code, role, unit in (("u1", "handler", "U1"), ("u2", "handler", "U2"), ("feeder", "case_feed", None)):
        keys[code] = await register_key(ctx, code, role=role)
        if unit:
            await callers.update({callers.org: orgs[unit]}).where(callers.code == code)
        tokens[code] = await issue_token(ctx, code)
    root = await api_login(app, "root", PASSWORD)
    client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver")
    yield {"app": app, "ctx": ctx, "dir": app_dir, "orgs": orgs, "root": root, "client": client, "keys": keys,
           "tokens": tokens}
    await root.aclose()
    await client.aclose()
    for hook in app.on_shutdown:
        await hook(app)


def bearer(env, code: str) -> dict:
    return {"Authorization": f"Bearer {env['tokens'][code]}"}


def signed(env, code: str, method: str, path: str, body: bytes) -> dict:
    from specadmin.runtime.crypto import sign, signing_string

    private, public = env["keys"][code]
    stamp, nonce = str(int(time.time())), secrets.token_hex(12)
    return {"X-SA-Caller": code, "X-SA-Timestamp": stamp, "X-SA-Nonce": nonce,
            "X-SA-Signature": sign(private, public, signing_string(method, path, [], body, stamp, nonce))}


async def new_case(env, title: str, unit: str = "U1") -> int:
    r = await env["root"].post("/api/case", json={"title": title, "unit": env["orgs"][unit]})
    assert r.status_code == 201, r.text
    return r.json()["id"]


def stored_blobs(env) -> list:
    root = env["dir"] / "var" / "attachments" / "files"
    return sorted(p for p in root.rglob("*") if p.is_file()) if root.exists() else []


async def test_a_caller_uploads_lists_and_downloads_the_files_of_a_row_in_its_scope(env):
    case_id = await new_case(env, "井盖缺失")
    path = f"/ext/api/case/{case_id}/files/photos"
    r = await env["client"].post(path, files={"file": ("现场1.jpg", JPG)}, headers=bearer(env, "u1"))
    assert r.status_code == 201, r.text
    file_id = r.json()["id"]
    listed = await env["client"].get(path, headers=bearer(env, "u1"))
    assert listed.status_code == 200 and [i["name"] for i in listed.json()["items"]] == ["现场1.jpg"]
    r = await env["client"].get(f"{path}/{file_id}", headers=bearer(env, "u1"))
    assert r.status_code == 200 and r.content == JPG
    assert r.headers["x-content-sha256"] == hashlib.sha256(JPG).hexdigest()
    assert r.headers["content-disposition"].startswith("attachment;")
    assert (await env["root"].get(f"/api/case/{case_id}")).json()["photos"] == "现场1.jpg"
    r = await env["client"].post(path, files={"file": ("page.jpg", HTML)}, headers=bearer(env, "u1"))
    assert r.status_code == 400 and "现场照片" in r.text and "不是 jpg 文件" in r.text, r.text


async def test_a_caller_outside_its_scope_gets_404_and_nothing_is_kept_or_shown(env):
    case_id = await new_case(env, "路灯损坏")
    path = f"/ext/api/case/{case_id}/files/photos"
    file_id = (await env["client"].post(path, files={"file": ("a.jpg", JPG)}, headers=bearer(env, "u1"))).json()["id"]
    before = stored_blobs(env)
    r = await env["client"].post(path, files={"file": ("b.jpg", JPG)}, headers=bearer(env, "u2"))
    assert r.status_code == 404, r.text
    for url in (path, f"{path}/{file_id}"):
        r = await env["client"].get(url, headers=bearer(env, "u2"))
        assert r.status_code == 404 and "a.jpg" not in r.text and JPG not in r.content, r.text
    r = await env["client"].get(path, headers=bearer(env, "feeder"))  # its role grants no screen of case
    assert r.status_code in (403, 404) and "a.jpg" not in r.text, r.text
    assert stored_blobs(env) == before
    assert [i["name"] for i in (await env["root"].get(f"/api/case/{case_id}/files/photos")).json()["items"]] == ["a.jpg"]


async def test_a_signed_upload_is_accepted_only_for_the_file_whose_sha256_it_signed(env):
    case_id = await new_case(env, "违章搭建")
    path = f"/ext/api/case/{case_id}/files/basis"
    digest = hashlib.sha256(PDF).hexdigest()
    headers = {**signed(env, "u1", "POST", path, digest.encode()), "X-SA-Content-SHA256": digest}
    r = await env["client"].post(path, files={"file": ("依据.pdf", PDF)}, headers=headers)
    assert r.status_code == 201, r.text
    before = stored_blobs(env)
    headers = {**signed(env, "u1", "POST", path, digest.encode()), "X-SA-Content-SHA256": digest}
    r = await env["client"].post(path, files={"file": ("依据.pdf", PDF + b"tampered")}, headers=headers)
    assert r.status_code == 401 and "X-SA-Content-SHA256" in r.text, r.text
    other = hashlib.sha256(b"other").hexdigest()  # the header changed after signing
    headers = {**signed(env, "u1", "POST", path, digest.encode()), "X-SA-Content-SHA256": other}
    r = await env["client"].post(path, files={"file": ("依据.pdf", PDF)}, headers=headers)
    assert r.status_code == 401 and r.json()["detail"] == "签名无效", r.text
    r = await env["client"].post(path, files={"file": ("依据.pdf", PDF)}, headers=signed(env, "u1", "POST", path, b""))
    assert r.status_code == 400 and "X-SA-Content-SHA256" in r.text, r.text
    feed = "/ext/feeds/case_in"  # only a file route signs by the file's digest; elsewhere the body is signed
    headers = {**signed(env, "u1", "POST", feed, digest.encode()), "X-SA-Content-SHA256": digest}
    r = await env["client"].post(feed, files={"file": ("依据.pdf", PDF)}, headers=headers)
    assert r.status_code == 401 and r.json()["detail"] == "签名无效", r.text
    assert stored_blobs(env) == before
    items = (await env["root"].get(f"/api/case/{case_id}/files/basis")).json()["items"]
    assert len(items) == 1


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


async def test_a_feed_record_carries_its_files_encrypted_when_sensitive_and_a_bad_file_fails_only_its_record(env):
    before = stored_blobs(env)
    records = [
        {"title": "推送事件一", "unit": env["orgs"]["U1"],
         "photos": [{"name": "现场.jpg", "content_base64": b64(JPG)}],
         "basis": {"name": "依据.pdf", "content_base64": b64(PDF)}},
        {"title": "推送事件二", "photos": [{"name": "伪装.jpg", "content_base64": b64(HTML)}]},
        {"title": "推送事件三", "basis": {"name": "依据.pdf", "content_base64": "不是base64"}},
    ]
    r = await env["client"].post("/ext/feeds/case_in", json=records, headers=bearer(env, "feeder"))
    assert r.status_code == 200, r.text
    results = r.json()["results"]
    assert [x["status"] for x in results] == ["created", "error", "error"], results
    assert "现场照片" in results[1]["errors"]["photos"] and "不是 jpg 文件" in results[1]["errors"]["photos"]
    assert "Base64" in results[2]["errors"]["basis"]
    case_id = results[0]["id"]
    row = (await env["root"].get(f"/api/case/{case_id}")).json()
    assert row["photos"] == "现场.jpg" and [f["name"] for f in row["basis_files"]] == ["依据.pdf"]
    listed = (await env["root"].get("/api/case", params={"q": "推送事件"})).json()["items"]
    assert [i["title"] for i in listed] == ["推送事件一"]
    basis_id = row["basis_files"][0]["id"]
    assert (await env["root"].get(f"/api/case/{case_id}/files/basis/{basis_id}")).content == PDF
    new = [p for p in stored_blobs(env) if p not in before]
    assert len(new) == 2 and sum(JPG in p.read_bytes() for p in new) == 1
    assert not any(b"secret-basis-text" in p.read_bytes() for p in new)  # the sensitive PDF is stored encrypted


async def test_an_all_or_nothing_feed_batch_with_a_bad_file_keeps_no_row_and_no_file(env):
    before = stored_blobs(env)
    records = [{"title": "整批一", "photos": [{"name": "a.jpg", "content_base64": b64(JPG)}]},
               {"title": "整批二", "photos": [{"name": "b.jpg", "content_base64": b64(HTML)}]}]
    r = await env["client"].post("/ext/feeds/case_all", json=records, headers=bearer(env, "feeder"))
    assert r.status_code == 422, r.text
    assert [x["status"] for x in r.json()["results"]] == ["not_written", "error"]
    assert (await env["root"].get("/api/case", params={"q": "整批"})).json()["items"] == []
    assert stored_blobs(env) == before
