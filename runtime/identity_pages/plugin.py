"""Built-in plugin `identity_pages`: the pages people use to sign in and to manage access, on top
of the `identity` plugin's data and rules and the `pages` plugin's layout: the login page and
logout, and 菜单权限 (the menu tree of a role, role group or person, linked from 菜单授权管理)."""
from __future__ import annotations

from pathlib import Path

from specadmin.runtime.identity.grant_tree import GRANT_SCREEN
from specadmin.runtime.identity_pages.grant_page import GRANT_PAGES, PAGE
from specadmin.runtime.identity_pages.login_page import LOGIN_PAGES
from specadmin.runtime.pages.support import add_screen_tool
from specadmin.runtime.plugin import Plugin


def _links(engine) -> None:
    add_screen_tool(engine, GRANT_SCREEN, "菜单权限", PAGE, "btn-grant-tree")


plugin = Plugin(name="identity_pages", label="登录与授权页面", builtin=True, order=96,
                routes=lambda ctx, options: [*LOGIN_PAGES, *GRANT_PAGES],
                templates=Path(__file__).with_name("templates"), template_globals=_links)
