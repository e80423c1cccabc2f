"""Sensitive columns in the ops console: shown masked, never written.

piccolo-admin reads and writes columns as stored. A sensitive field is stored as an SM4 token with
an HMAC blind index beside it (runtime/keyring), so the console would show ciphertext and, on a
save, write plaintext without its index. Here every row it answers is rewritten: the field shows
its mask (as in lists and exports), its blind index only that there is one; and every write is
checked first: a sensitive column (or index) sent unchanged, i.e. as the console showed it, is
dropped so the stored token stays; any other value is refused. Changing a sensitive value goes
through the app's own pages, which encrypt it, index it and log the change. A password (a Secret
column) is not set here either: the app resets passwords under its password rules.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from specadmin.specs.physical import blind_index_column

if TYPE_CHECKING:
    from specadmin.runtime.app.context import AppContext

INDEX_SHOWN = "******"


class Refused(Exception):
    """A console write the mount answers with 403 and this Chinese message."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


class SensitiveColumns:
    """The sensitive columns of every table, by table name: {column: mask kind}, and their indexes."""

    def __init__(self, ctx: "AppContext"):
        self.ctx = ctx
        self.kinds: dict[str, dict[str, str]] = {}
        self.indexes: dict[str, dict[str, str]] = {}  # table → {index column: field label}
        self.labels: dict[str, dict[str, str]] = {}
        self.secrets: dict[str, set[str]] = {}  # Secret columns (a password hash): never set here
        for entity in ctx.app.entities:
            table_class = ctx.table(entity.name)
            table = table_class._meta.tablename
            if table_class._meta.secret_columns:
                self.secrets[table] = {c._meta.name for c in table_class._meta.secret_columns}
            fields = [f for f in entity.fields if f.sensitive and f.stored]
            if not fields:
                continue
            self.kinds[table] = {f.name: f.sensitive for f in fields}
            self.indexes[table] = {blind_index_column(f.name): f.label for f in fields}
            self.labels[table] = {f.name: f.label for f in fields}

    def columns(self, table: str) -> set[str]:
        return set(self.kinds.get(table, {})) | set(self.indexes.get(table, {}))

    def shown(self, table: str, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Rows as the console may show them: masks for sensitive values, no index values."""
        kinds, indexes = self.kinds.get(table), self.indexes.get(table, {})
        if not kinds:
            return rows
        plain = self.ctx.sensitive.decode_many(
            r.get(name) for r in rows for name in kinds if isinstance(r.get(name), str))
        for row in rows:
            for name, kind in kinds.items():
                if name in row:
                    value = row[name]
                    row[name] = self.ctx.sensitive.masked(plain.get(value), kind) if isinstance(value, str) else None
            for name in indexes:
                if name in row:
                    row[name] = INDEX_SHOWN if row[name] else None
        return rows

    def checked_write(self, table: str, data: Any, stored: dict[str, Any] | None) -> Any:
        """The body of a console write without its sensitive columns; raises Refused when one changes.

        `stored` is the row before the write (None for a new row)."""
        watched, secrets = self.columns(table), self.secrets.get(table, set())
        if not (watched or secrets) or not isinstance(data, dict):
            return data
        shown = self.shown(table, [dict(stored)])[0] if stored is not None else {}
        out = {}
        for name, value in data.items():
            if name in secrets:
                if _empty(value):
                    continue  # piccolo-admin's edit form sends the password field empty
                raise Refused("运维控制台不能设置密码：请在系统的人员管理中重置密码（按密码规则并记入操作日志）")
            if name not in watched:
                out[name] = value
                continue
            if _empty(value) and _empty(shown.get(name)) or value == shown.get(name):
                continue  # as shown: the stored token (and its index) stays
            label = self.labels[table].get(name) or self.indexes[table].get(name, name)
            raise Refused(f"运维控制台不能修改敏感字段「{label}」：请在业务页面修改（加密保存并记入操作日志）")
        return out


def _empty(value: Any) -> bool:
    return value is None or value == ""
