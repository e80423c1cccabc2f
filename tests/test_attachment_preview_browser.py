"""Attachment preview in headless Chromium (issue 13, task D item 1): on the detail page a click on an
image's thumbnail opens its large view in a dialog on the same page, which 关闭 closes; no CSP violation.
The app is tests/test_attachment_preview.py's."""
from __future__ import annotations

import httpx
import pytest
from browser_support import csp_violations, login, serve, watch_csp
from conftest import write_spec_app
from test_attachment_preview import MODULE, PASSWORD, png

pytestmark = pytest.mark.browser


async def _load(ctx) -> None:
    from specadmin.runtime.identity.users import ensure_user

    org = ctx.table("org")
    oid = (await org.insert(org(code="U1", name="单位一", level="city", org_type="department", active=True))
           .returning(org.id))[0]["id"]
    await org.update({org.path: f"/{oid}/"}).where(org.id == oid)
    await ensure_user(ctx, "h1", PASSWORD, name="处置一", org_code="U1", roles=("handler",))
    report = ctx.table("report")
    await report.insert(report(title="井盖缺失", unit=oid, version=1))


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    from specadmin.generator.writer import generate

    app_dir = write_spec_app(tmp_path_factory.mktemp("preview-browser"), "app: demo\nlabel: 示例\nmodules: [reports]\n",
                             {"reports": MODULE})
    generate(app_dir)
    with serve(app_dir, _load) as base:
        with httpx.Client(base_url=base) as client:
            assert client.post("/api/auth/login", json={"username": "h1", "password": PASSWORD}).status_code == 200
            client.get("/api/auth/me")
            r = client.post("/api/report/1/files/files_before", files={"file": ("现场.png", png(400, 300))},
                            headers={"x-csrftoken": client.cookies["csrftoken"]})
            assert r.status_code == 201, r.text
        yield base


def test_clicking_a_thumbnail_shows_the_large_image(server, browser):
    base = server
    page = login(browser, base, "h1", PASSWORD)
    watch_csp(page)
    page.goto(f"{base}/s/report_admin/1")
    viewer = page.locator("dialog.file-viewer")
    assert viewer.count() == 0
    page.locator(".detail-item[data-field=files_before] a.file-thumb").click()
    viewer.wait_for(state="visible")
    assert viewer.locator(".file-viewer-name").inner_text() == "现场.png"
    page.wait_for_function("() => document.querySelector('dialog.file-viewer img').naturalWidth === 400")
    assert page.url == f"{base}/s/report_admin/1"  # shown on the page, not navigated away
    viewer.locator("button.file-viewer-close").click()
    viewer.wait_for(state="hidden")
    assert csp_violations(page) == []
    page.context.close()
