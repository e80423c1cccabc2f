"""The 交办 dialog's org picker in Chromium on the Chongzhou demo (a real `specadmin serve`): the town launches an
占道经营 event, opens 交办, sees 城管局 offered as 推荐单位 (one click: a row with the 事项清单's requirement),
narrows the org list by a keyword and by 仅下级, saves the rows as a 常用单位组 and loads it back into an
emptied picker. No Content-Security-Policy violation."""
from __future__ import annotations

import pytest
from browser_support import csp_violations, login_wide, screenshot, serve, watch_csp
from conftest import copy_app
from test_chongzhou_app import DEMO, PASSWORD
from test_workflow_browser import _act, _dialog, _pick

pytestmark = pytest.mark.browser
TITLE = "蜀州中路流动摊贩占道"


async def _load(ctx) -> None:
    await DEMO.load(ctx)


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    with serve(copy_app("chongzhou", tmp_path_factory.mktemp("workflow-picker")), _load) as base:
        yield base


def _options(select) -> list[str]:
    return [t.strip() for t in select.locator("option").all_inner_texts()][1:]  # after 请选择单位


def test_the_dispatch_picker_filters_recommends_and_loads_a_saved_group(server, browser):
    town = login_wide(browser, server, "town", PASSWORD)
    watch_csp(town)
    town.goto(f"{server}/s/event_launch/new")
    town.fill("input[name=title]", TITLE)
    town.select_option("select[name=event_type]", label="占道经营")
    town.fill("[name=form_data]", '{"stall_count": 1}')
    with town.expect_navigation():
        town.click("form.edit-form button[type=submit]")
    town.goto(f"{server}/s/event_launch")
    town.click(f"tr.row a.row-link:has-text('{TITLE}')")
    _act(town, "launch")
    event_id = int(town.url.split("?")[0].rsplit("/", 1)[1])

    town.goto(f"{server}/s/event_handling/{event_id}")
    town.locator("#wf-actions button[data-action=dispatch]").click()
    dialog = _dialog(town)
    first = dialog.locator(".wf-picker-row").nth(0).locator(".wf-pick-org")
    assert "崇州市住房和城乡建设局" in _options(first)

    # 关键字 then 仅下级: the row's org list follows both
    dialog.locator(".wf-pick-q").fill("住房")
    town.wait_for_function("() => document.querySelector('.wf-picker').dataset.filtered === '1'")
    assert _options(first) == ["崇州市住房和城乡建设局"]
    dialog.locator(".wf-pick-q").fill("")
    dialog.locator(".wf-pick-below").check()
    town.wait_for_function("() => !Array.from(document.querySelector('.wf-pick-org').options)"
                           ".some(o => o.textContent.includes('住房和城乡建设局'))")
    below = _options(first)
    assert "永康社区" in below and "崇阳街道社会事务办" in below and "崇州市城市管理局" not in below
    dialog.locator(".wf-pick-below").uncheck()
    town.wait_for_function("() => Array.from(document.querySelector('.wf-pick-org').options)"
                           ".some(o => o.textContent.includes('住房和城乡建设局'))")

    # 推荐单位: one click gives a row with the list's org and requirement
    dialog.locator("button.wf-pick-rec", has_text="崇州市城市管理局").click()
    rows = dialog.locator(".wf-picker-row")
    assert rows.count() == 1  # the empty first row gave way
    assert rows.nth(0).locator(".wf-pick-org option:checked").inner_text().strip() == "崇州市城市管理局"
    assert "占道经营" in rows.nth(0).locator(".wf-pick-req").input_value()
    dialog.locator("button.wf-pick-add").click()
    _pick(rows.nth(1).locator(".wf-pick-org"), "崇州市住房和城乡建设局")
    rows.nth(1).locator(".wf-pick-role").select_option(label="协办")

    # 常用单位组: save, empty the picker, load it back
    dialog.locator(".wf-pick-group-name").fill("占道两局")
    dialog.locator("button.wf-pick-group-save").click()
    town.wait_for_function("() => Array.from(document.querySelectorAll('.wf-pick-group option'))"
                           ".some(o => o.textContent === '占道两局')")
    while rows.count():
        rows.nth(0).locator("button.wf-pick-drop").click()
    assert dialog.locator("[name=assignments]").input_value() == ""
    dialog.locator(".wf-pick-group").select_option(label="占道两局")
    dialog.locator("button.wf-pick-group-load").click()
    assert rows.count() == 2
    assert [rows.nth(i).locator(".wf-pick-org option:checked").inner_text().strip() for i in range(2)] == [
        "崇州市城市管理局", "崇州市住房和城乡建设局"]
    assert rows.nth(1).locator(".wf-pick-role").input_value() == "co"
    written = dialog.locator("[name=assignments]").input_value()
    assert '"role":"co"' in written and "占道经营" in written
    screenshot(town, "workflow-dispatch-picker")
    assert csp_violations(town) == []
