"""Issue 13's Chromium scenario on the Chongzhou event hub (examples/chongzhou, its demo data and the flow
modules/event_flow.yaml), served by a real `specadmin serve` process, clicking as a person would: the
崇阳街道城运中心 (town) writes a draft on 事件发起 and launches it, dispatches it on 事件办理 through the 交办
dialog's org picker to 城管局 as lead and 住建局 as co-handler; 住建局 (dept1) finds it in 我的待办 (menu badge
+1) and returns it; the town approves the return from its 待审核 box; 城管局 (dept2) handles it; the town, the
closing org, finds it in its 待结案 box, checks the handling tree (org filter, collapse/expand) and closes it.
Each step is seen in the right org's todo with the badge count; the timeline and the handling tree end as
the API says; 处置汇总 copies its briefing. Screenshots at 1440×900 into test-artifacts/screenshots/; no page
may report a Content-Security-Policy violation."""
from __future__ import annotations

import pytest
from browser_support import csp_violations, login_wide, page_api, screenshot, serve, watch_csp
from conftest import copy_app
from test_chongzhou_app import DEMO, PASSWORD

pytestmark = pytest.mark.browser
TITLE = "崇阳大道东段流动摊贩占道"
PEOPLE = ("town", "dept1", "dept2")


async def _load(ctx) -> None:
    await DEMO.load(ctx)  # the demo's town, dept1 and dept2 hold the flow's role event_handler


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    with serve(copy_app("chongzhou", tmp_path_factory.mktemp("workflow-browser")), _load) as base:
        yield base


def _person(browser, base, username):
    page = login_wide(browser, base, username, PASSWORD)
    watch_csp(page)
    return page


def _badge(page, base) -> int:
    page.goto(f"{base}/")
    badge = page.locator("nav [data-badge=workflow_todo]")
    count = int(badge.text_content()) if badge.count() else 0
    group = page.locator("nav details:has(a[data-screen=workflow_todo]) [data-group-badge]")
    assert (int(group.text_content()) if group.count() else 0) >= count  # seen on the folded group's title
    return count


def _dialog(page):
    return page.locator("dialog.sa-dialog[open]")


def _act(page, action: str, **fields) -> None:
    """Click the action's button in the workflow panel, fill its dialog and confirm."""
    page.locator(f"#wf-actions button[data-action={action}]").click()
    dialog = _dialog(page)
    for name, value in fields.items():
        dialog.locator(f"[name={name}]").fill(value)
    with page.expect_navigation():
        dialog.locator("button.dialog-ok").click()


def _pick(select, name: str) -> None:
    """Choose the option whose text (indented by org level) is the org's name."""
    value = select.evaluate("(s, name) => Array.from(s.options).find(o => o.textContent.trim() === name).value", name)
    select.select_option(value)


def _open_from_todo(page, base, box: str) -> None:
    """我的待办 from the menu, the box's tab, a search on the title, then the event's row."""
    page.goto(f"{base}/")
    group = page.locator("nav details:has(a[data-screen=workflow_todo])")
    if group.get_attribute("open") is None:
        group.locator("summary").click()  # the menu group folds; its title carries the badge too
    with page.expect_navigation():
        page.click("nav a[data-screen=workflow_todo]")
    with page.expect_navigation():  # each box and the search are pages of their own: wait for each
        page.click(f".wf-boxes a[data-box={box}]")
    page.fill(".wf-search input[name=q]", TITLE)
    with page.expect_navigation():
        page.click("#wf-search")
    rows = page.locator("tr.wf-todo-row")
    assert rows.count() == 1 and rows.first.get_attribute("data-box") == box
    assert page.locator("#wf-legend [data-light=green] .wf-light-count").inner_text() == "1"
    page.click(f"tr.wf-todo-row a.wf-event-link:has-text('{TITLE}')")
    page.wait_for_selector("#workflow-panel")


def _timeline(page) -> list[tuple[str, str]]:
    rows = page.locator("tr.wf-log-row")
    return [(rows.nth(i).locator(".wf-log-action").inner_text(), rows.nth(i).locator(".wf-log-org").inner_text())
            for i in range(rows.count())]


def _tree(page) -> list[list]:
    """[org, role, task state, depth] of each node of 处置情况, in document order."""
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
    town, dept1, dept2 = (_person(browser, server, who) for who in PEOPLE)
    before = {"town": _badge(town, server), "dept1": _badge(dept1, server), "dept2": _badge(dept2, server)}

    # 事件发起: a draft, then 发起 (its confirm dialog) from the workflow panel
    town.goto(f"{server}/s/event_launch/new")
    town.fill("input[name=title]", TITLE)
    town.select_option("select[name=event_type]", label="占道经营")
    town.fill("input[name=address]", "崇阳大道东段")
    town.fill("[name=form_data]", '{"stall_count": 3, "goods": "水果"}')  # 占道经营's published form
    with town.expect_navigation():  # the draft is saved before the list is read
        town.click("form.edit-form button[type=submit]")
    town.goto(f"{server}/s/event_launch")
    town.click(f"tr.row a.row-link:has-text('{TITLE}')")
    assert town.locator("#wf-state").inner_text() == "草稿"
    _act(town, "launch")
    assert town.locator("#wf-state").inner_text() == "已发起"
    event_id = int(town.url.split("?")[0].rsplit("/", 1)[1])

    # 交办 on 事件办理: the org picker writes the assignments as the town picks them
    town.goto(f"{server}/s/event_handling/{event_id}")
    town.locator("#wf-actions button[data-action=dispatch]").click()
    dialog = _dialog(town)
    rows = dialog.locator(".wf-picker-row")
    _pick(rows.nth(0).locator(".wf-pick-org"), "崇州市城市管理局")
    rows.nth(0).locator(".wf-pick-role").select_option(label="主办")
    rows.nth(0).locator(".wf-pick-req").fill("请城管局牵头清理占道摊贩")
    dialog.locator("button.wf-pick-add").click()
    _pick(rows.nth(1).locator(".wf-pick-org"), "崇州市住房和城乡建设局")
    rows.nth(1).locator(".wf-pick-role").select_option(label="协办")
    rows.nth(1).locator(".wf-pick-req").fill("请住建局配合")
    written = dialog.locator("[name=assignments]").input_value()
    assert '"role":"lead","requirement":"请城管局牵头清理占道摊贩"' in written and '"role":"co"' in written
    screenshot(town, "workflow-dispatch-dialog")
    with town.expect_navigation():
        dialog.locator("button.dialog-ok").click()
    assert town.locator("#wf-state").inner_text() == "处置中"
    assert _badge(town, server) == before["town"]  # the owner's task is done: nothing new in the town's boxes

    # 住建局 finds it in its todo and returns it
    assert _badge(dept1, server) == before["dept1"] + 1
    _open_from_todo(dept1, server, "todo")
    assert "请住建局配合" in dept1.locator("#wf-tree").inner_text()
    _act(dept1, "return", reason="不属于住建局职责")
    assert _badge(dept1, server) == before["dept1"]  # under review: in none of its boxes

    # the town approves the return from its 待审核 box
    assert _badge(town, server) == before["town"] + 1
    _open_from_todo(town, server, "review")
    assert "不属于住建局职责" in town.locator("#wf-tree").inner_text()
    _act(town, "approve_return", opinion="同意退回")
    assert _badge(town, server) == before["town"]

    # 城管局 handles it: the event is handled and the closing task goes to the town
    assert _badge(dept2, server) == before["dept2"] + 1
    _open_from_todo(dept2, server, "todo")
    _act(dept2, "handle", opinion="摊贩已劝离，现场已清理")
    assert dept2.locator("#wf-state").inner_text() == "已处置"
    assert _badge(dept2, server) == before["dept2"]

    # the closing org verifies (the handling tree, its org filter, collapse/expand) and closes
    assert _badge(town, server) == before["town"] + 1
    _open_from_todo(town, server, "closing")
    assert "摊贩已劝离，现场已清理" in town.locator("#wf-tree").inner_text()
    town.fill("#wf-org-filter", "城市管理")
    visible = [n.inner_text() for n in town.locator("#wf-tree .wf-node .wf-org").all() if n.is_visible()]
    assert visible == ["崇阳街道城运中心", "崇州市城市管理局"]  # the match and the owner's node above it
    town.fill("#wf-org-filter", "")
    town.click("#wf-collapse")
    assert not town.locator("#wf-tree .wf-requirement").first.is_visible()
    town.click("#wf-expand")
    assert town.locator("#wf-tree .wf-requirement").first.is_visible()
    screenshot(town, "workflow-verify")
    _act(town, "close", opinion="核验通过，予以结案")
    assert town.locator("#wf-state").inner_text() == "已办结"
    assert _badge(town, server) == before["town"]

    # the timeline and the handling tree match what happened, and the API
    town.goto(f"{server}/s/event_handling/{event_id}")
    centre, cgj, zjj = "崇阳街道城运中心", "崇州市城市管理局", "崇州市住房和城乡建设局"
    assert _timeline(town) == [("发起", centre), ("交办", centre), ("退回", zjj), ("同意退回", centre), ("处置", cgj),
                               ("结案", centre)]
    tree = _tree(town)
    assert tree == [[centre, "发起", "已提交", 0], [cgj, "主办", "已提交", 1], [zjj, "协办", "已退回", 1],
                    [centre, "审核", "已提交", 2], [centre, "结案", "已提交", 0]]
    api = page_api(town, f"/api/workflow/event/{event_id}")
    assert _api_tree(api["tasks"]) == tree
    assert [(e["action_label"], e["org_name"]) for e in api["log"]] == _timeline(town)
    assert town.locator(".wf-going li").all_inner_texts() == ["无"]
    assert cgj in town.locator(".wf-done").inner_text()
    town.click("#wf-copy")
    town.wait_for_selector("#wf-copied:has-text('已复制')")
    assert town.locator("#wf-briefing").input_value().startswith(f"【事件处置汇总】{TITLE}：当前状态已办结。")
    town.locator("#wf-summary").scroll_into_view_if_needed()
    screenshot(town, "workflow-detail-closed")
    town.goto(f"{server}/workflow/todo?view=dispatched")
    screenshot(town, "workflow-todo-dispatched")
    for page in (town, dept1, dept2):
        assert csp_violations(page) == []
        page.context.close()
