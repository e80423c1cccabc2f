"""Chromium on Chongzhou's 事件表单配置 (plugins/workflow/forms_admin.py): the 预览 link of a published form's
detail page opens the form rendered from its stored JSON Schema (titles, the required mark) and a wrong value
filled in is named by the check. One test; the API behaviour is tests/test_event_forms.py."""
from __future__ import annotations

import pytest
from test_chongzhou_app import DEMO, PASSWORD



@pytest.fixture(scope="module")
def server(tmp_path_factory):
    from browser_support import serve
    from conftest import copy_app

    with serve(copy_app("chongzhou", tmp_path_factory.mktemp("event-forms-browser")), DEMO.load) as base:
        yield base


@pytest.mark.browser
def test_chromium_the_preview_shows_the_forms_fields_and_names_a_wrong_value(server, browser):
    from browser_support import csp_violations, login_wide, page_api, screenshot, watch_csp

    page = login_wide(browser, server, "config", PASSWORD)
    watch_csp(page)
    items = page_api(page, "/api/event_form", screen="event_form_admin", status="published")["items"]
    page.goto(f"{server}/s/event_form_admin/{items[0]['id']}")
    page.locator("#form-preview").click()
    page.wait_for_selector("form.wf-form-preview")
    labels = page.locator("form.wf-form-preview label").all_text_contents()
    assert any("摊位数量" in t and "*" in t for t in labels) and any("经营品类" in t for t in labels), labels
    page.fill("#p-stall_count", "两个")
    with page.expect_navigation():
        page.click("#preview-check")
    assert "stall_count：应为整数" in page.locator("#preview-outcome").text_content()
    assert page.input_value("#p-stall_count") == "两个"  # what was typed stays in the form
    screenshot(page, "event-form-preview")
    assert csp_violations(page) == []
