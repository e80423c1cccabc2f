"""Reading a pull's rows from its external database (no SQL text is built from the spec here).

SQLite and PostgreSQL: the source table is a Piccolo table class made for the pull: one column per
mapped source column (`db_column_name`, so any spelling works) bound to an engine for the database's
URL (`sqlite:///file` relative to the app folder, or `postgresql://`). MySQL / MariaDB
(`mysql://user:pass@host:port/db`, Piccolo has no engine for it): runtime/pulls/mysql_source.py, one
reviewed SELECT template through aiomysql. Rows come in watermark order,
after the last watermark, at most `max_rows` per run. Watermarks keep the driver's own type
(`encode`/`decode`), so the next run compares like with like.
"""
from __future__ import annotations

import datetime as dt
import decimal
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from piccolo.columns import Varchar
from piccolo.table import create_table_class

from specadmin.runtime.pulls.errors import SourceError
from specadmin.runtime.pulls.mysql_source import read_mysql
from specadmin.runtime.pulls.spec import Pull

__all__ = ["SourceError", "decode", "encode", "engine_for", "read"]


MYSQL_SCHEMES = ("mysql", "mariadb")


def engine_for(url: str, app_dir: Path):
    scheme = url.split(":", 1)[0].lower()
    if scheme == "sqlite":
        raw = unquote(urlsplit(url).path)
        path = Path(raw[1:] if url.startswith("sqlite:///") and not url.startswith("sqlite:////") else raw)
        path = path if path.is_absolute() else app_dir / path
        if not path.is_file():  # sqlite3 would create an empty file
            raise SourceError(f"外部数据库文件不存在：{path.name}")
        from piccolo.engine.sqlite import SQLiteEngine

        return SQLiteEngine(path=str(path))
    if scheme in ("postgres", "postgresql"):
        from piccolo.engine.postgres import PostgresEngine

        return PostgresEngine(config={"dsn": url}, log_queries=False)
    raise SourceError(f"不支持的外部数据库类型：{scheme}（可用 sqlite、postgresql、mysql）")


def source_table(pull: Pull, engine):
    schema, _, name = pull.table.rpartition(".")
    columns = [column for _, column in pull.fields]
    if pull.watermark not in columns:
        columns.append(pull.watermark)
    members = {f"c{i}": Varchar(db_column_name=column) for i, column in enumerate(columns)}
    kwargs: dict[str, Any] = {"tablename": name, "db": engine}
    if schema:
        kwargs["schema"] = schema
    return create_table_class(class_name="PullSource", class_kwargs=kwargs, class_members=members), columns


async def read(pull: Pull, url: str, app_dir: Path, after: Any) -> list[dict[str, Any]]:
    """Rows (source column → value) with a watermark beyond `after` (None: from the start)."""
    if url.split(":", 1)[0].lower() in MYSQL_SCHEMES:
        return await read_mysql(pull, url, after)
    table, columns = source_table(pull, engine_for(url, app_dir))
    mark = getattr(table, f"c{columns.index(pull.watermark)}")
    query = table.select(*[getattr(table, f"c{i}") for i in range(len(columns))]).order_by(mark).limit(pull.max_rows)
    if after is not None:
        query = query.where(mark > after)
    else:
        query = query.where(mark.is_not_null())
    try:
        rows = await query
    except Exception as exc:  # a wrong table or column name, a refused login, an unreachable host
        raise SourceError(f"读取外部数据库失败：{type(exc).__name__}: {str(exc)[:200]}") from exc
    return rows  # keyed by the source's column names


_TYPES = {"t": dt.datetime.fromisoformat, "d": dt.date.fromisoformat, "i": int, "n": decimal.Decimal, "s": str}


def encode(value: Any) -> str:
    """A watermark as text that `decode` turns back into the same type."""
    if isinstance(value, dt.datetime):
        return f"t:{value.isoformat()}"
    if isinstance(value, dt.date):
        return f"d:{value.isoformat()}"
    if isinstance(value, bool) or not isinstance(value, (int, float, decimal.Decimal)):
        return f"s:{value}"
    return f"i:{value}" if isinstance(value, int) else f"n:{value}"


def decode(text: str | None) -> Any:
    if not text or ":" not in text:
        return None
    kind, _, value = text.partition(":")
    return _TYPES[kind](value) if kind in _TYPES else None
