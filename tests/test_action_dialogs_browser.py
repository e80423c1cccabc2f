"""The administration actions in headless Chromium, clicked as an administrator would: parameter
dialogs (授权, 批量调整组织, 分配角色, 重置密码), the delete confirm dialog and toasts instead of the
browser's confirm() and a separate page, against a real server process (Kaiping on SQLite)."""
from __future__ import annotations

import pytest
from browser_support import csp_violations, login, row_links, serve, watch_csp
from conftest import copy_app
from kaiping_fixture import PASSWORD, build

pytestmark = pytest.mark.browser
PEOPLE = {"mover1": "调动一", "mover2": "调动二", "norole": "待分配", "pwreset": "忘密码", "todelete": "已离职"}


async def _load(ctx) -> None:
    from specadmin.runtime.identity.users import ensure_user

    await build(ctx)
    await ensure_user(ctx, "admin", PASSWORD, name="管理员", org_code="KP", superuser=True)
    for username, name in PEOPLE.items():
        await ensure_user(ctx, username, PASSWORD, name=name, org_code="U1")
    role = ctx.table("role")
    await role.insert(role(code="grantee_role", label="被授权角色", active=True))
    await ensure_user(ctx, "grantee", PASSWORD, name="被授权人", org_code="U1", roles=("grantee_role",))


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    with serve(copy_app("kaiping", tmp_path_factory.mktemp("action-dialogs")), _load) as base:
        yield base



@pytest.fixture
def admin(server, browser):
    page = login(browser, server, "admin", PASSWORD)
    watch_csp(page)
    yield page
    assert csp_violations(page) == []
    page.context.close()


def _row(page, text: str):
    return page.locator(f"table.list tr.row:has-text('{text}')")


def _clipped_ops(page) -> list[str]:
    """Operations cells whose actions do not all show (cut off behind “…”)."""
    return page.evaluate("""() => [...document.querySelectorAll('table.list td.col-ops')]
        .filter(td => td.scrollWidth > td.clientWidth + 1).map(td => td.innerText)""")


def _dialog(page):
    return page.locator("dialog.sa-dialog[open]")


def test_granting_a_screen_through_the_dialog_opens_it_to_the_roles_holders(server, browser, admin):
    grantee = login(browser, server, "grantee", PASSWORD)
    assert "场所信息管理" not in grantee.locator("nav").inner_text()
    admin.goto(f"{server}/s/role_admin")
    assert _clipped_ops(admin) == []  # 分配人员, 授权, 取消授权 all show
    _row(admin, "grantee_role").locator("button[data-action=grant]").click()
    dialog = _dialog(admin)
    assert dialog.locator(".dialog-title").inner_text() == "授权"
    dialog.locator("select[name=screen]").select_option("place_admin")
    assert dialog.locator("input[name=actions][value=list]").is_checked()  # the declared default
    dialog.locator("input[name=actions][value=update]").check()
    with admin.expect_navigation():
        dialog.locator("button.dialog-ok").click()
    assert "授权成功 1 条" in admin.locator("#toast-stack .flash").inner_text()
    grantee.goto(f"{server}/")
    assert "场所信息管理" in grantee.locator("nav").inner_text()
    grantee.goto(f"{server}/s/place_admin")
    assert row_links(grantee) == {"P3"}  # its first tab (未设置) lists the place without thresholds
    grantee.context.close()


def test_batch_change_org_moves_the_two_chosen_people(server, admin):
    admin.goto(f"{server}/s/user_admin")
    assert _clipped_ops(admin) == []  # 调整组织, 分配角色 all show
    for username in ("mover1", "mover2"):
        _row(admin, username).locator("input.row-check").check()
    admin.click("button.batch-action[data-action=change_org]")
    dialog = _dialog(admin)
    assert "已选 2 条记录" in dialog.inner_text()
    dialog.locator("select[name=org]").select_option(label="开平市卫生健康局")
    with admin.expect_navigation():
        dialog.locator("button.dialog-ok").click()
    assert "调整组织成功 2 条" in admin.locator("#toast-stack").inner_text()
    for username in ("mover1", "mover2"):
        assert "开平市卫生健康局" in _row(admin, username).inner_text()


def test_assigning_no_role_shows_the_problem_in_the_dialog(server, admin):
    admin.goto(f"{server}/s/user_admin")
    _row(admin, "norole").locator("button[data-action=assign_roles]").click()
    dialog = _dialog(admin)
    dialog.locator("button.dialog-ok").click()
    error = dialog.locator(".field-error[data-field=roles]")
    assert error.inner_text() == "请选择角色"
    assert "请检查填写的内容" in dialog.locator(".dialog-alert").inner_text()
    assert admin.url.endswith("/s/user_admin")  # still on the page, the dialog still open
    dialog.locator("input[name=roles]").first.check()
    with admin.expect_navigation():
        dialog.locator("button.dialog-ok").click()
    assert "分配角色成功 1 条" in admin.locator("#toast-stack").inner_text()


def test_reset_password_shows_the_generated_password_once_and_it_logs_in(server, browser, admin):
    admin.goto(f"{server}/s/user_admin")
    _row(admin, "pwreset").locator("button[data-action=reset_password]").click()
    dialog = _dialog(admin)
    assert "确定要重置所选人员的密码吗？" in dialog.inner_text()
    assert dialog.locator("input[name=password][type=password]").count() == 1
    dialog.locator("button.dialog-ok").click()
    result = admin.locator("dialog.sa-dialog.dialog-result[open]")
    assert "只显示这一次" in result.inner_text() and "忘密码" in result.inner_text()
    password = result.locator(".outcome-value").inner_text().strip()
    assert len(password) >= 8
    with admin.expect_navigation():
        result.locator("button.dialog-ok").click()
    assert "重置密码成功 1 条" in admin.locator("#toast-stack").inner_text()
    assert password not in admin.locator("body").inner_text()
    admin.reload()
    assert password not in admin.locator("body").inner_text()
    person = login(browser, server, "pwreset", password)
    assert "忘密码" in person.locator("#current-user").inner_text()
    person.context.close()


def test_delete_asks_in_a_dialog_and_cancel_keeps_the_row(server, admin):
    admin.goto(f"{server}/s/user_admin")
    _row(admin, "todelete").locator("a.op-delete").click()
    dialog = _dialog(admin)
    assert "删除后不可恢复" in dialog.inner_text() and "todelete" in dialog.inner_text()
    dialog.locator("button.dialog-cancel").click()
    assert _dialog(admin).count() == 0 and _row(admin, "todelete").count() == 1
    _row(admin, "todelete").locator("a.op-delete").click()
    with admin.expect_navigation():
        _dialog(admin).locator("button.dialog-ok").click()
    assert admin.url.split("?")[0].endswith("/s/user_admin")
    assert "删除成功" in admin.locator("#toast-stack").inner_text()
    assert _row(admin, "todelete").count() == 0
