"""Attachment preview (issue 13, task D item 1): the file route serves images, PDF, video (mp4, webm) and
audio (mp3, wav) inline with their own Content-Type and `nosniff` (an inline PDF framable by the app's own
pages only), everything else as an octet-stream attachment, and only through a row the user may read
(another unit's user: 404; a user without the screen: 403). The detail page shows a thumbnail, the PDF
viewer and the players (test_attachment_preview_browser.py: a click on a thumbnail opens the large image).
On SQLite and PostgreSQL."""
from __future__ import annotations

import struct
import zlib

import pytest
from conftest import BACKENDS, api_login, spec_app, write_spec_app

ASYNC = pytest.mark.asyncio(loop_scope="session")
PASSWORD = "Preview@2026x"
MODULE = """\
entities:
  report:
    label: 上报
    display: title
    fields:
      title: {type: string, label: 标题, required: true}
      unit:  {type: ref, to: org, label: 单位}
      files_before: {type: file, label: 处置前, multi: true, accept: [jpg, png, pdf, mp4, webm, mp3, wav, docx, txt]}
screens:
  report_admin:
    entity: report
    label: 上报管理
    list: [title, unit]
    detail: [title, unit, files_before]
    actions: [create, update]
roles:
  handler:
    label: 处置人员
    grants:
      report_admin: {actions: [list, read, update], scope: {mode: own_unit, field: unit}}
  bystander:
    label: 无关人员
    grants: {}
"""


def png(width: int = 40, height: int = 30) -> bytes:
    """A real (decodable) red PNG."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
    raw = b"".join(b"\x00" + b"\xcc\x22\x22" * width for _ in range(height))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))


# name -> (bytes, Content-Type served inline, or None: an attachment)
FILES = {
    "现场.png": (png(), "image/png"),
    "报告.pdf": (b"%PDF-1.4\n" + b"report" * 30, "application/pdf"),
    "录像.mp4": (b"\x00\x00\x00\x18ftypmp42" + b"video" * 40, "video/mp4"),
    "录像.webm": (b"\x1a\x45\xdf\xa3" + b"webm" * 40, "video/webm"),
    "录音.mp3": (b"ID3\x04\x00" + b"audio" * 40, "audio/mpeg"),
    "录音.wav": (b"RIFF\x24\x00\x00\x00WAVEfmt " + b"wave" * 40, "audio/wav"),
    "说明.docx": (b"PK\x03\x04" + b"docx" * 40, None),
    "备注.txt": ("备注文字".encode() * 10, None),
}


@pytest.fixture(scope="module", params=BACKENDS)
async def env(request, tmp_path_factory):
    from specadmin.runtime.identity.users import ensure_user

    app_dir = write_spec_app(tmp_path_factory.mktemp(f"preview-{request.param}"), "app: demo\nlabel: 示例\nmodules: [reports]\n",
                             {"reports": MODULE})
    async with spec_app(app_dir, request.param, PASSWORD) as (app, root, _):
        ctx = app.state.ctx
        org = ctx.table("org")
        units = {}
        for code in ("U1", "U2"):
            oid = (await org.insert(org(code=code, name=f"单位{code}", level="city", org_type="department", active=True))
                   .returning(org.id))[0]["id"]
            await org.update({org.path: f"/{oid}/"}).where(org.id == oid)
            units[code] = oid
        await ctx.refresh_caches()
        for user, code, role in (("h1", "U1", "handler"), ("h2", "U2", "handler"), ("by", "U1", "bystander")):
            await ensure_user(ctx, user, PASSWORD, name=user, org_code=code, roles=(role,))
        r = await root.post("/api/report", json={"title": "占道", "unit": units["U1"]})
        assert r.status_code == 201, r.text
        report = r.json()["id"]
        clients = {name: await api_login(app, name, PASSWORD) for name in ("h1", "h2", "by")}
        ids = {}
        for name, (data, _) in FILES.items():
            r = await clients["h1"].post(f"/api/report/{report}/files/files_before", files={"file": (name, data)})
            assert r.status_code == 201, r.text
            ids[name] = r.json()["id"]
        try:
            yield {"app": app, "report": report, "ids": ids, **clients}
        finally:
            for client in clients.values():
                await client.aclose()


@ASYNC
async def test_previewable_types_are_served_inline_with_their_type_and_others_as_attachments(env):
    base = f"/api/report/{env['report']}/files/files_before"
    for name, (data, inline_type) in FILES.items():
        r = await env["h1"].get(f"{base}/{env['ids'][name]}")
        assert r.status_code == 200 and r.content == data, (name, r.status_code)
        assert r.headers["x-content-type-options"] == "nosniff"
        if inline_type:
            assert r.headers["content-type"].split(";")[0] == inline_type, name
            assert r.headers["content-disposition"].startswith("inline;"), name
        else:
            assert r.headers["content-type"] == "application/octet-stream", name
            assert r.headers["content-disposition"].startswith("attachment;"), name
        framed = name.endswith(".pdf")
        assert (r.headers["x-frame-options"] == "SAMEORIGIN") is framed, name
        assert ("frame-ancestors 'self'" in r.headers["content-security-policy"]) is framed, name
        assert "script-src" not in r.headers["content-security-policy"] or not framed
        r = await env["h1"].get(f"{base}/{env['ids'][name]}", params={"download": "1"})
        assert r.headers["content-disposition"].startswith("attachment;") and r.content == data


@ASYNC
async def test_a_preview_is_reached_only_through_a_readable_row(env):
    base = f"/api/report/{env['report']}/files/files_before"
    for name in ("现场.png", "录像.mp4", "报告.pdf"):
        r = await env["h2"].get(f"{base}/{env['ids'][name]}")  # another unit: the row is outside the scope
        assert r.status_code == 404 and FILES[name][0] not in r.content, r.text
        r = await env["by"].get(f"{base}/{env['ids'][name]}")  # no grant on the screen at all
        assert r.status_code == 403, r.text


@ASYNC
async def test_the_detail_page_shows_a_thumbnail_a_pdf_viewer_and_players(env):
    r = await env["h1"].get(f"/s/report_admin/{env['report']}")
    assert r.status_code == 200, r.text[:300]
    page, ids = r.text, env["ids"]
    url = f"/api/report/{env['report']}/files/files_before"
    assert f'<img src="{url}/{ids["现场.png"]}?screen=report_admin"' in page
    assert f'<iframe data-src="{url}/{ids["报告.pdf"]}?screen=report_admin"' in page
    assert f'<video class="file-video" controls preload="metadata" src="{url}/{ids["录像.webm"]}' in page
    assert f'<audio class="file-audio" controls preload="none" src="{url}/{ids["录音.mp3"]}' in page
    assert page.count("<video") == 2 and page.count("<audio") == 2 and page.count("<img src=") == 1
