"""Row versions over HTTP: a row's `ETag`, the `If-Match` a PATCH may carry, the answer to a stale write.

Every writable row has a version (specs/physical.py ROW_VERSION), raised by each write. GET of
one row answers it as `ETag: "<version>"` and as `version` in the JSON. A PATCH may name the
version it was made from, as `If-Match: "<version>"` (RFC 9110: strong comparison, `*` matches any
row) or as `version` in the body (the pages' forms); when the row has moved on since, nothing is
written and the answer is 412 (If-Match) or 409 (body) with "记录已被他人修改" and the current row.
Without either, the service still never loses an update (compare-and-set, runtime/entities/service.py).
"""
from __future__ import annotations

import re
from typing import Any

from litestar import MediaType, Request, Response

from specadmin.runtime.errors import BadRequest, Stale
from specadmin.specs.physical import ROW_VERSION

_TAG = re.compile(r'\s*(W/)?"([^"]*)"\s*(?:,|$)')
NEVER = 0  # no row has version 0 (they start at 1): what an If-Match naming no version of ours expects


def etag_headers(item: dict[str, Any]) -> dict[str, str]:
    """`ETag` of a row the service returned (none for a row without a version, e.g. a log entry)."""
    version = item.get(ROW_VERSION)
    return {"ETag": f'"{version}"'} if isinstance(version, int) else {}


def with_etag(item: dict[str, Any], status_code: int = 200) -> Response:
    return Response(item, status_code=status_code, headers=etag_headers(item), media_type=MediaType.JSON)


def if_match(request: Request) -> int | None:
    """The version an `If-Match` header expects; None without one or for `*`. A weak or foreign tag
    never matches (NEVER); more than one version is refused, a row has one."""
    raw = request.headers.get("if-match")
    if raw is None or raw.strip() == "*":
        return None
    versions, rest = set(), raw.strip()
    while rest:
        m = _TAG.match(rest)
        if not m:
            raise BadRequest("请求头 If-Match 格式不正确，应为 \"版本号\"")
        weak, tag = m.groups()
        if not weak and tag.isdigit() and len(tag) <= 18:
            versions.add(int(tag))
        rest = rest[m.end():]
    if len(versions) > 1:
        raise BadRequest("请求头 If-Match 只能给出一个版本号")
    return versions.pop() if versions else NEVER


def body_version(data: dict[str, Any]) -> int | None:
    """Take `version` out of a write body (the version the form was made from)."""
    return data.pop(ROW_VERSION, None)


def stale_response(exc: Stale, precondition: bool) -> Response:
    status = 412 if precondition else 409
    body = {"detail": exc.message, "status_code": status, "current": exc.current}
    return Response(body, status_code=status, headers=etag_headers(exc.current), media_type=MediaType.JSON)
