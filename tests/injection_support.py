"""Payloads and response checks for the SQL-injection tests."""
from __future__ import annotations

PAYLOADS = [
    "' OR '1'='1",
    "1; DROP TABLE place; --",
    '" OR 1=1 --',
    "') OR ('a'='a",
    "1 UNION SELECT username, password FROM sys_user --",
    "%' --",
    "%",  # a LIKE wildcard: may match every row, never more than the list without it
    "\\",
    "\\' OR 1=1 --",
    "NULL",
    "'; SELECT pg_sleep(3); --",
    "＇ OR ＇1＇=＇1",  # fullwidth quotes, which some normalisers fold to '
    "\x00' OR 1=1 --",  # a NUL byte: PostgreSQL text cannot hold it
    "%s $1 ? :name {0}",  # placeholder syntaxes of the drivers
    "开平' OR 名称 LIKE '%" + "x" * 5000,  # very long, with CJK text
]
# Typed parameters (integers, booleans, dates) are parsed before any query: a few payloads suffice,
# with the numbers that overflow a 64-bit column.
TYPED_PAYLOADS = ["' OR '1'='1", "1 OR 1=1", "99999999999999999999", "-9223372036854775809", "1e309", "\x00"]
# In a path segment (ids, screen and action names, codes).
PATH_PAYLOADS = ["' OR '1'='1", "1 OR 1=1", "1; DROP TABLE place; --", "99999999999999999999",
                 "9223372036854775808", "-1", "0", "..%2F..%2Fetc", "＇", "\\", "%00"]

# What a database error or stack trace looks like; none of it may reach a client.
LEAK_MARKERS = ("traceback", "sqlite3", "asyncpg", "psycopg", "syntax error", "operationalerror",
                "programmingerror", "dataerror", "unterminated", "site-packages", 'near "')


def param_type(param: dict) -> str:
    schema = param.get("schema", {})
    types = {schema.get("type")} | {o.get("type") for o in schema.get("oneOf", []) + schema.get("anyOf", [])}
    types.discard(None)
    types.discard("null")
    if types == {"string"} and not any(o.get("format") for o in [schema, *schema.get("oneOf", [])]):
        return "string"
    return "typed"


def row_total(response) -> tuple[int | None, list[int] | None]:
    """(row count, ids) of a list or CSV export answer; (None, None) for anything else."""
    if response.status_code != 200:
        return None, None
    kind = response.headers.get("content-type", "")
    if kind.startswith("application/json"):
        body = response.json()
        if isinstance(body, dict) and "total" in body and isinstance(body.get("items"), list):
            return body["total"], [i["id"] for i in body["items"] if isinstance(i, dict) and "id" in i]
    if kind.startswith("text/csv"):
        import csv
        import io

        return max(0, len(list(csv.reader(io.StringIO(response.text.lstrip("\ufeff"))))) - 1), None
    return None, None


def assert_no_leak(response, what: str) -> None:
    text = response.text.lower() if "xlsx" not in response.headers.get("content-type", "") else ""
    found = [m for m in LEAK_MARKERS if m in text]
    assert not found, f"{what}: the answer shows database or server details {found}: {response.text[:300]}"


async def last_oplog_id(ctx) -> int:
    oplog = ctx.table("oplog")
    rows = await oplog.select(oplog.id).order_by(oplog.id, ascending=False).limit(1)
    return rows[0]["id"] if rows else 0


async def writes_in_oplog(ctx, after_id: int) -> list[dict]:
    """Operation-log entries of writes after entry `after_id` (exports and logins are not writes)."""
    oplog = ctx.table("oplog")
    rows = await oplog.select(oplog.op_type, oplog.subject_type, oplog.subject_id).where(oplog.id > after_id)
    return [r for r in rows if r["op_type"] in ("create", "update", "delete")]
