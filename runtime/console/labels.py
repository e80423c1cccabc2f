"""Chinese names in the ops console: table and column labels from the spec.

piccolo-admin 1.x has no label option: a column is titled by its JSON-schema `title`, which
pydantic derives from the column name ("place_code" → "Place Code"; Piccolo keeps our generated
`verbose_name=` in the column's params but nothing reads it), and a table is named by its table
name with underscores as spaces ("scan record"). So the mount sets each column's `title` (and the
table's `help_text`) in the schema piccolo-admin serves, and the console's page carries the table
labels (and the column labels, for the few places that name columns without the schema, such as
the CSV export's column picker) for static/console.js, which writes them over what it shows.
"""
from __future__ import annotations

import html
import json
from typing import TYPE_CHECKING, Any

from specadmin.specs.physical import physical_tables

if TYPE_CHECKING:
    from specadmin.runtime.app.context import AppContext

# piccolo's BaseUser columns a user entity inherits, when the spec gives them no field of their own
BASE_USER_LABELS = {"username": "用户名", "password": "密码", "first_name": "名", "last_name": "姓",
                    "email": "电子邮箱", "active": "启用", "admin": "管理员", "superuser": "超级管理员",
                    "last_login": "最近登录时间"}
SENSITIVE_NOTE = "敏感字段：运维控制台只显示掩码，不能修改（请在业务页面修改）"
CONSOLE_SCRIPT = "/static/console.js"


class ConsoleLabels:
    """Labels of every table of the app by table name: {table: label}, {table: {column: label}}."""

    def __init__(self, ctx: "AppContext"):
        self.tables: dict[str, str] = {}
        self.columns: dict[str, dict[str, str]] = {}
        for t in physical_tables(ctx.app):
            entity = ctx.app.entity(t.entity) if t.entity else None
            labels = {"id": "ID"}
            for c in t.columns:
                label = c.label
                if not label and entity is not None and entity.has_field(c.name):
                    label = entity.field(c.name).label
                labels[c.name] = label or BASE_USER_LABELS.get(c.name, c.name)
            self.tables[t.tablename] = t.label
            self.columns[t.tablename] = labels

    def schema(self, tablename: str, schema: dict[str, Any], sensitive: set[str]) -> dict[str, Any]:
        """piccolo's JSON schema of one table with Chinese titles (and a note on sensitive columns)."""
        labels = self.columns.get(tablename, {})
        if tablename in self.tables:
            schema["title"] = self.tables[tablename]
            extra = schema.setdefault("extra", {})
            if isinstance(extra, dict) and not extra.get("help_text"):
                extra["help_text"] = self.tables[tablename]
        for name, prop in (schema.get("properties") or {}).items():
            if not isinstance(prop, dict):
                continue
            if name in labels:
                prop["title"] = labels[name]
            if name in sensitive:
                extra = prop.setdefault("extra", {})
                if isinstance(extra, dict):
                    extra["help_text"] = SENSITIVE_NOTE
        return schema

    def page(self, template: str, site_name: str) -> str:
        """piccolo-admin's index.html in Chinese, with the table labels for static/console.js."""
        names = {name.replace("_", " "): label for name, label in self.tables.items()}
        meta = (f'<meta name="specadmin-table-labels" content="{html.escape(json.dumps(names, ensure_ascii=False))}">\n'
                f'  <meta name="specadmin-column-labels" '
                f'content="{html.escape(json.dumps(self.columns, ensure_ascii=False))}">\n'
                f'  <script src="{CONSOLE_SCRIPT}" defer></script>\n')
        page = template.replace('<html lang="en">', '<html lang="zh-CN">', 1)
        page = page.replace("<title>Piccolo Admin</title>", f"<title>{html.escape(site_name)}</title>", 1)
        return page.replace("</head>", meta + "</head>", 1)
