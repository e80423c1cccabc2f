"""Attachments in headless Chromium (issue item 9): a file chosen on the edit page is uploaded
(static/attachments.js), shows on the detail page, and its download link gives the same bytes;
no CSP violation on the way. The app is the example of specs/REFERENCE.md ("attachments")."""
from __future__ import annotations

import pytest
from browser_support import csp_violations, login, serve, watch_csp
from conftest import reference_blocks

pytestmark = pytest.mark.browser
PASSWORD = "Attach@2026x"
JPG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + b"browser-photo" * 40


async def _load(ctx) -> None:
    from specadmin.runtime.identity.users import ensure_user

    org = ctx.table("org")
    oid = (await org.insert(org(code="HQ", name="总部", level="city", org_type="department", active=True))
           .returning(org.id))[0]["id"]
    await org.update({org.path: f"/{oid}/"}).where(org.id == oid)
    await ensure_user(ctx, "admin", PASSWORD, name="管理员", org_code="HQ", superuser=True)
    case = ctx.table("case")
    await case.insert(case(title="井盖缺失", unit=oid, version=1))


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    from specadmin.generator.writer import generate

    app_dir = tmp_path_factory.mktemp("attach-browser")
    (app_dir / "modules").mkdir()
    (app_dir / "app.yaml").write_text("app: demo\nlabel: 示例\nmodules: [cases]\n", encoding="utf-8")
    (app_dir / "modules" / "cases.yaml").write_text(reference_blocks()["modules/cases.yaml"], encoding="utf-8")
    generate(app_dir)
    with serve(app_dir, _load) as base:
        yield base


def test_a_photo_uploaded_on_the_edit_page_shows_on_the_detail_page_and_downloads(server, browser, tmp_path):
    photo = tmp_path / "现场.jpg"
    photo.write_bytes(JPG)
    page = login(browser, server, "admin", PASSWORD)
    watch_csp(page)
    page.goto(f"{server}/s/case_admin/1/edit")
    assert page.locator("#file-input-photos").get_attribute("multiple") is not None
    with page.expect_navigation():
        page.set_input_files("#file-input-photos", str(photo))
    assert "现场.jpg" in page.locator("#files-panel [data-files=photos]").inner_text()
    page.goto(f"{server}/s/case_admin/1")
    item = page.locator(".detail-item[data-field=photos]")
    assert "现场.jpg" in item.inner_text()
    with page.expect_download() as info:
        item.locator("a.file-download").click()
    download = info.value
    assert download.suggested_filename == "现场.jpg"
    assert open(download.path(), "rb").read() == JPG
    assert csp_violations(page) == []
    page.context.close()


def test_the_send_back_dialog_uploads_its_file_and_the_row_keeps_it(server, browser, tmp_path):
    note = tmp_path / "退回说明.pdf"
    note.write_bytes(b"%PDF-1.4\n" + b"send-back" * 30)
    page = login(browser, server, "admin", PASSWORD)
    watch_csp(page)
    page.goto(f"{server}/s/case_admin/1")
    page.locator("button[data-action=send_back]").click()
    dialog = page.locator("dialog.sa-dialog[open]")
    dialog.locator("textarea[name=opinion]").fill("材料不全")
    dialog.locator("input[data-param=files]").set_input_files(str(note))
    dialog.locator(".file-status", has_text="已上传 1 个文件").wait_for()
    with page.expect_navigation():
        dialog.locator("button.dialog-ok").click()
    item = page.locator(".detail-item[data-field=back_files]")
    assert "退回说明.pdf" in item.inner_text()
    assert "材料不全" in page.locator(".detail-item[data-field=back_note]").inner_text()
    assert csp_violations(page) == []
    page.context.close()
