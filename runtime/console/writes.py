"""Writes through the ops console, each in one transaction with its operation-log entry.

piccolo-admin writes rows directly (no entity service), so the mount wraps each write it serves
for a table (POST, PUT, PATCH, DELETE under /admin/api/tables/<table>/): sensitive columns are
checked first (console/sensitive.py), then piccolo-admin runs inside a database transaction with
its answer held back; when it answers 2xx the row is read again and the operation log gets who
(the superuser), what (新增/修改/删除, the entity, the row, before and after with sensitive values
masked and secrets left out) and that it came through the console. Then the transaction commits
and the answer goes out. A refused or failed write, or a failed log entry, leaves nothing.
"""
from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from specadmin.specs.physical import ROW_VERSION

from specadmin.runtime.console.relay import Held, run_held, with_body
from specadmin.runtime.console.sensitive import SensitiveColumns
from specadmin.runtime.data import audit

if TYPE_CHECKING:
    from litestar.types import ASGIApp, Scope
    from piccolo.table import Table

    from specadmin.runtime.app.context import AppContext
    from specadmin.runtime.security.principal import Principal

OPS = {"POST": "create", "PUT": "update", "PATCH": "update", "DELETE": "delete"}
VIA = {"via": "运维控制台"}


class ConsoleWrites:
    def __init__(self, ctx: "AppContext", admin_app: "ASGIApp", tables: dict[str, type["Table"]],
                 sensitive: SensitiveColumns):
        self.ctx, self.admin_app, self.tables, self.sensitive = ctx, admin_app, tables, sensitive
        self.subjects: dict[str, tuple[str, str | None]] = {}  # table → (subject type, display column)
        for entity in ctx.app.entities:
            self.subjects[ctx.table(entity.name)._meta.tablename] = (entity.name, entity.display)
        for (entity, field_name), join in ctx.package.tables.JOIN_TABLES.items():
            self.subjects[join._meta.tablename] = (entity, None)

    async def run(self, scope: "Scope", principal: "Principal", tablename: str, row_id: int | None,
                  body: bytes) -> Held:
        """Serve one write; raises sensitive.Refused before anything is written."""
        table = self.tables[tablename]
        method = scope["method"]
        before = await self._row(table, row_id) if row_id is not None else None
        if method in ("POST", "PUT", "PATCH") and body:
            try:
                data = json.loads(body)
            except ValueError:
                data = None  # piccolo-admin answers the malformed body itself
            if isinstance(data, dict):
                checked = dict(self.sensitive.checked_write(tablename, data, before))
                if any(c._meta.name == ROW_VERSION for c in table._meta.columns):
                    # The row version is the server's: 1 for a new row, one more for each change
                    # (so an edit form opened before a console change is refused as stale).
                    checked[ROW_VERSION] = 1 if before is None else int(before.get(ROW_VERSION) or 0) + 1
                body = json.dumps(checked, ensure_ascii=False, default=str).encode()
        async with self.ctx.engine.transaction():
            held = await run_held(self.admin_app, with_body(scope, body), body)
            if 200 <= held.status < 300:
                if method == "POST":
                    row_id = _created_id(held.json())
                after = await self._row(table, row_id) if method != "DELETE" and row_id is not None else None
                await self._log(principal, OPS[method], tablename, table, row_id, before, after)
        return held

    async def _row(self, table: type["Table"], row_id: int | None) -> dict[str, Any] | None:
        if row_id is None:
            return None
        return await table.select().where(table._meta.primary_key == row_id).first()

    async def _log(self, principal: "Principal", op: str, tablename: str, table: type["Table"],
                   row_id: int | None, before: dict | None, after: dict | None) -> None:
        secrets = {c._meta.name for c in table._meta.secret_columns}
        view_before, view_after = (self._view(tablename, row, secrets) for row in (before, after))
        subject, display = self.subjects.get(tablename, (tablename, None))
        name = (view_after or view_before or {}).get(display) if display else None
        if op == "update" and view_before is not None and view_after is not None:
            changed = [k for k in view_after if view_after.get(k) != view_before.get(k)]
            view_before = {k: view_before.get(k) for k in changed}
            view_after = {k: view_after[k] for k in changed}
        await audit.record(self.ctx, principal, op, subject, row_id, name if name is not None else row_id,
                           view_before, {**(view_after or {}), **VIA})

    def _view(self, tablename: str, row: dict | None, secrets: set[str]) -> dict | None:
        if row is None:
            return None
        shown = self.sensitive.shown(tablename, [dict(row)])[0]
        return {k: v for k, v in shown.items() if k not in secrets and k != ROW_VERSION}  # bookkeeping


def _created_id(data: Any) -> int | None:
    """The id piccolo-admin answers for a new row: [{"id": 5}]."""
    if isinstance(data, list) and data and isinstance(data[0], dict):
        value = data[0].get("id")
        return value if isinstance(value, int) else None
    return None
