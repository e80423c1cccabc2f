"""The workflow's pages in headless Chromium, clicking as a person would (issue 13's scenario), on the small
event app of tests/workflow_fixture.py served by a real `specadmin serve` process (the Chongzhou app has no
`workflow:` section yet): the town centre (城运中心) writes a draft and launches it, dispatches it through
the 交办 dialog's org picker to 部门甲 as lead and 部门乙 as co-handler; 部门甲 finds it in 我的待办 (menu
badge 1) and returns it; the town approves the return from its 审核 box; 部门乙 handles it; the town,
the closing org, sees it in its 结案 box, checks the handling tree and closes it. Each step is seen in the
right org's todo with the badge count, and the timeline and the handling tree end as the API says.
Screenshots at 1440×900 into test-artifacts/screenshots/. No page may report a CSP violation."""
from __future__ import annotations

from types import SimpleNamespace

import pytest
from browser_support import csp_violations, login_wide, page_api, screenshot, serve, watch_csp
from workflow_fixture import PASSWORD, populate, write_app

pytestmark = pytest.mark.browser
TITLE = "东街路灯不亮"
IDS: dict = {}


async def _load(ctx) -> None:
    org = ctx.table("org")
    hq = (await org.insert(org(code="HQ", name="总部", level="city", org_type="department", active=True))
          .returning(org.id))[0]["id"]
    await org.update({org.path: f"/{hq}/"}).where(org.id == hq)
    await ctx.refresh_caches()
    IDS.update(await populate(SimpleNamespace(state=SimpleNamespace(ctx=ctx))))


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    from specadmin.generator.writer import generate

    app_dir = write_app(tmp_path_factory.mktemp("workflow-browser"))
    generate(app_dir)
    with serve(app_dir, _load) as base:
        yield base


def _person(browser, base, username):
    page = login_wide(browser, base, username, PASSWORD)
    watch_csp(page)
    return page


def _badge(page, base) -> int:
    page.goto(f"{base}/")
    badge = page.locator("nav [data-badge=workflow_todo]")
    return int(badge.inner_text()) if badge.count() else 0


def _dialog(page):
    return page.locator("dialog.sa-dialog[open]")


def _act(page, action: str, **fields) -> None:
    """Click the action's button in the workflow panel, fill its dialog (when it has one) and confirm."""
    page.locator(f"#wf-actions button[data-action={action}]").click()
    dialog = _dialog(page)
    for name, value in fields.items():
        dialog.locator(f"[name={name}]").fill(value)
    with page.expect_navigation():
        dialog.locator("button.dialog-ok").click()


def _open_from_todo(page, base, box: str) -> None:
    """我的待办 from the menu, the box's tab, then the event's row."""
    page.goto(f"{base}/")
    page.click("nav a[data-screen=workflow_todo]")
    page.click(f".wf-boxes a[data-box={box}]")
    rows = page.locator("tr.wf-todo-row")
    assert rows.count() == 1 and rows.first.get_attribute("data-box") == box
    assert page.locator(f".wf-boxes a[data-box={box}] .tab-count").get_attribute("data-count") == "1"
    assert page.locator("#wf-legend [data-light=green] .wf-light-count").inner_text() == "1"
    page.click(f"tr.wf-todo-row a.wf-event-link:has-text('{TITLE}')")
    page.wait_for_selector("#workflow-panel")


def _timeline(page) -> list[tuple[str, str]]:
    rows = page.locator("tr.wf-log-row")
    return [(rows.nth(i).locator(".wf-log-action").inner_text(), rows.nth(i).locator(".wf-log-org").inner_text())
            for i in range(rows.count())]


def _tree(page) -> list[tuple[str, str, str, int]]:
    """(org, role, task state, depth) of each node of 处置情况, in document order."""
    return page.evaluate("""() => Array.from(document.querySelectorAll('#wf-tree .wf-node')).map(li => {
        let depth = 0, up = li.parentElement.closest('.wf-node');
        while (up) { depth += 1; up = up.parentElement.closest('.wf-node'); }
        const s = li.querySelector(':scope > details > summary');
        return [s.querySelector('.wf-org').textContent, s.querySelector('.wf-role').textContent,
                s.querySelector('.wf-task-state').textContent, depth];
    })""")


def _api_tree(nodes, depth=0) -> list:
    out = []
    for n in nodes:
        out.append([n["org_name"], n["role_label"], n["state_label"], depth])
        out.extend(_api_tree(n["children"], depth + 1))
    return out


def test_town_dispatches_a_return_is_approved_the_other_handles_and_the_town_closes(server, browser):
    town = _person(browser, server, "town")
    assert _badge(town, server) == 0
    town.goto(f"{server}/s/event_draft")
    town.click("text=新增")
    town.fill("input[name=title]", TITLE)
    town.select_option("select[name=event_type]", label="市容")
    town.click("form.edit-form button[type=submit]")
    town.goto(f"{server}/s/event_draft")
    town.click(f"tr.row a.row-link:has-text('{TITLE}')")
    assert town.locator("#wf-state").inner_text() == "草稿"
    with town.expect_navigation():
        town.locator("#wf-actions button[data-action=launch]").click()
    assert town.locator("#wf-state").inner_text() == "已发起"
    event_id = int(town.url.rsplit("/", 1)[1].split("?")[0])

    # 交办: the dialog's org picker writes the assignments as the town picks them
    town.goto(f"{server}/s/event_work/{event_id}")
    town.locator("#wf-actions button[data-action=dispatch]").click()
    dialog = _dialog(town)
    rows = dialog.locator(".wf-picker-row")
    rows.nth(0).locator(".wf-pick-org").select_option(label="部门甲", force=True)
    rows.nth(0).locator(".wf-pick-role").select_option(label="主办", force=True)
    rows.nth(0).locator(".wf-pick-req").fill("请主办修复路灯")
    dialog.locator("button.wf-pick-add").click()
    rows.nth(1).locator(".wf-pick-org").select_option(label="部门乙", force=True)
    rows.nth(1).locator(".wf-pick-role").select_option(label="协办", force=True)
    rows.nth(1).locator(".wf-pick-req").fill("请协办排查线路")
    written = dialog.locator("[name=assignments]").input_value()
    assert f'"org":{IDS["DA"]},"role":"lead"' in written and f'"org":{IDS["DB"]},"role":"co"' in written
    screenshot(town, "workflow-dispatch-dialog")
    with town.expect_navigation():
        dialog.locator("button.dialog-ok").click()
    assert town.locator("#wf-state").inner_text() == "处置中"
    assert _badge(town, server) == 0  # the owner's task is done; nothing waits in the town's boxes

    # 部门甲 finds it in its todo and returns it
    da = _person(browser, server, "da")
    assert _badge(da, server) == 1
    _open_from_todo(da, server, "todo")
    assert "请主办修复路灯" in da.locator("#wf-tree").inner_text()
    _act(da, "return", reason="不属于本部门职责")
    assert da.locator("#wf-state").inner_text() == "处置中"
    assert _badge(da, server) == 1  # 退回审核中 is still the department's open task
    da.goto(f"{server}/workflow/todo")
    assert da.locator("tr.wf-todo-row .wf-todo-state").all_inner_texts() == ["退回审核中"]

    # the town approves the return from its 审核 box
    assert _badge(town, server) == 1
    _open_from_todo(town, server, "review")
    assert "不属于本部门职责" in town.locator("#wf-tree").inner_text()
    _act(town, "approve_return", opinion="同意退回")
    assert _badge(town, server) == 0
    assert _badge(da, server) == 0

    # 部门乙 handles it; the event is handled and the closing task goes to the town
    db = _person(browser, server, "db")
    assert _badge(db, server) == 1
    _open_from_todo(db, server, "todo")
    _act(db, "handle", opinion="线路已修复，路灯恢复")
    assert db.locator("#wf-state").inner_text() == "已处置"
    assert _badge(db, server) == 0

    # the closing org verifies (the handling tree, the org filter) and closes
    assert _badge(town, server) == 1
    _open_from_todo(town, server, "closing")
    assert "线路已修复，路灯恢复" in town.locator("#wf-tree").inner_text()
    town.fill("#wf-org-filter", "部门乙")
    visible = [n for n in town.locator("#wf-tree .wf-node .wf-org").all() if n.is_visible()]
    assert [n.inner_text() for n in visible] == ["部门乙"]
    town.fill("#wf-org-filter", "")
    town.click("#wf-collapse")
    assert not town.locator("#wf-tree .wf-requirement").first.is_visible()
    town.click("#wf-expand")
    assert town.locator("#wf-tree .wf-requirement").first.is_visible()
    screenshot(town, "workflow-verify")
    _act(town, "close", opinion="核验通过，予以结案")
    assert town.locator("#wf-state").inner_text() == "已办结"
    assert _badge(town, server) == 0

    # the timeline and the handling tree match what happened, and the API
    town.goto(f"{server}/s/event_work/{event_id}")
    assert _timeline(town) == [("发起", "城运中心"), ("交办", "城运中心"), ("退回", "部门甲"), ("同意退回", "城运中心"),
                               ("处置", "部门乙"), ("结案", "城运中心")]
    tree = _tree(town)
    assert tree == [["城运中心", "发起", "已提交", 0], ["部门甲", "主办", "已退回", 0], ["城运中心", "审核", "已提交", 1],
                    ["部门乙", "协办", "已提交", 0], ["城运中心", "结案", "已提交", 0]]
    api = page_api(town, f"/api/workflow/event/{event_id}")
    assert _api_tree(api["tasks"]) == tree
    assert [(e["action_label"], e["org_name"]) for e in api["log"]] == _timeline(town)
    assert town.locator(".wf-going li").all_inner_texts() == ["无"]
    assert "部门乙（" in town.locator(".wf-done").inner_text()
    town.click("#wf-copy")
    town.wait_for_selector("#wf-copied:has-text('已复制')")
    assert town.locator("#wf-briefing").input_value().startswith(f"【事件处置汇总】{TITLE}：当前状态已办结。")
    town.locator("#wf-summary").scroll_into_view_if_needed()
    screenshot(town, "workflow-detail-closed")
    for page in (town, da, db):
        assert csp_violations(page) == []
        page.context.close()
