"""Reading a pull's rows from a MySQL / MariaDB database (Piccolo has no engine for it) through aiomysql.

The query is one reviewed constant template (`SELECT {} FROM {} WHERE ... ORDER BY {} LIMIT {}`,
listed in tests/test_no_string_sql.py) composed with Piccolo's QueryString: the identifiers (table,
mapped columns, watermark) come from the spec, where the schema pattern allows only letters, digits
and `_` (a dot between schema and table); `quoted` checks that again and puts each part in backticks,
the only place identifier text enters the SQL. The watermark and the row limit are driver parameters.
"""
from __future__ import annotations

import re
from typing import Any
from urllib.parse import unquote, urlsplit

from piccolo.querystring import QueryString

from specadmin.runtime.pulls.errors import SourceError
from specadmin.runtime.pulls.spec import Pull

_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)?")


def quoted(*names: str) -> QueryString:
    """`a`, `b`.`c` ... for names the spec's pattern allows; anything else is refused, never quoted."""
    for name in names:
        if not _IDENTIFIER.fullmatch(name):
            raise SourceError(f"外部数据库的表名或列名不合规：{name[:60]}")
    return QueryString(", ".join(".".join(f"`{part}`" for part in name.split(".")) for name in names))


def select(pull: Pull, after: Any) -> tuple[str, list[Any]]:
    """The SELECT text (driver placeholders %s) and its parameters."""
    columns = list(dict.fromkeys([column for _, column in pull.fields] + [pull.watermark]))
    mark = quoted(pull.watermark)
    if after is None:
        query = QueryString("SELECT {} FROM {} WHERE {} IS NOT NULL ORDER BY {} LIMIT {}",
                            quoted(*columns), quoted(pull.table), mark, mark, pull.max_rows)
    else:
        query = QueryString("SELECT {} FROM {} WHERE {} > {} ORDER BY {} LIMIT {}",
                            quoted(*columns), quoted(pull.table), mark, after, mark, pull.max_rows)
    text, params = query.compile_string(engine_type="sqlite")  # "?" where each parameter goes
    return text.replace("?", "%s"), list(params)  # no "?" or "%" elsewhere: identifiers are [A-Za-z0-9_.`]


def connect_args(url: str) -> dict[str, Any]:
    parts = urlsplit(url)
    database = unquote(parts.path.lstrip("/"))
    if not parts.hostname or not database:
        raise SourceError("MySQL 外部数据库地址应为 mysql://用户:密码@主机:端口/库名")
    return {"host": parts.hostname, "port": parts.port or 3306, "user": unquote(parts.username or ""),
            "password": unquote(parts.password or ""), "db": database, "charset": "utf8mb4",
            "connect_timeout": 10, "autocommit": True}


async def read_mysql(pull: Pull, url: str, after: Any) -> list[dict[str, Any]]:
    import aiomysql

    text, params = select(pull, after)
    args = connect_args(url)
    try:
        conn = await aiomysql.connect(**args)
        try:
            async with conn.cursor(aiomysql.DictCursor) as cursor:
                await cursor.execute(text, params)
                return list(await cursor.fetchall())
        finally:
            conn.close()
    except Exception as exc:  # a wrong table or column name, a refused login, an unreachable host
        raise SourceError(f"读取外部数据库失败：{type(exc).__name__}: {str(exc)[:200]}") from exc
