"""CallerGate: decide whether a request to /ext/ comes from a registered, valid API caller.

Two ways in (docs/api-signing.md):
- `Authorization: Bearer <token>`: the token's SM3 digest is looked up in api_caller.token_hash;
- SM2 signature headers X-SA-Caller / X-SA-Timestamp / X-SA-Nonce / X-SA-Signature over
  `crypto.signing_string(method, path, query, body, timestamp, nonce)`; for a multipart file
  upload to `/ext/api/<entity>/<id>/files/<field>` (streamed, so never held whole) the body line is the SM3 of the ASCII header value
  `X-SA-Content-SHA256` (the file's SHA-256), which the upload route then checks against the file.

The checks run cheapest-first, and nothing about a caller (enabled, expired) is revealed
before its signature or token proved who is asking. Each failure is a `Rejected` with the
Chinese reason the client sees in `detail`.
"""
from __future__ import annotations

import datetime as dt
import re
import secrets
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl

from specadmin.runtime.api_callers.grants import caller_principal
from specadmin.runtime.api_callers.limits import (
    InProcessLimiter,
    RedisLimiter,
    make_limiter,
)
from specadmin.runtime.crypto import signing_string, sm3_hex, verify

if TYPE_CHECKING:
    from litestar import Litestar, Request
    from specadmin.runtime.app.context import AppContext
    from specadmin.runtime.security.principal import Principal

WINDOW_SECONDS = 300
# A nonce only matters while its timestamp is inside the window: at most 2 x 300 s after it was
# first seen. Rows are kept a minute longer than that, then purged.
NONCE_TTL_SECONDS = 2 * WINDOW_SECONDS + 60
PURGE_EVERY_SECONDS = 60
NONCE_PATTERN = re.compile(r"[A-Za-z0-9_-]{8,64}")
TOKEN_PREFIX = "sa_"

MISSING = "缺少认证信息（Authorization 令牌或 X-SA-* 签名头）"
INCOMPLETE = "签名信息不完整"
BAD_SIGNATURE = "签名无效"
BAD_TIMESTAMP = "时间戳格式不正确"
STALE = "时间戳已过期"
BAD_NONCE = "随机串格式不正确（8-64 位字母、数字、- 或 _）"
REPLAY = "重复的请求"
DISABLED = "调用方已停用"
EXPIRED = "调用方已过期"
NOT_YET_VALID = "调用方尚未生效"
BAD_TOKEN = "令牌无效"
RATE_LIMITED = "超出调用频率限制"
BAD_CONTENT_DIGEST = "签名的文件上传需要 X-SA-Content-SHA256 头（文件内容的 SHA-256，64 位十六进制）"
DIGEST_PATTERN = re.compile(r"[0-9a-f]{64}")


class Rejected(Exception):
    def __init__(self, reason: str, status: int = 401, caller: dict | None = None, claimed: str | None = None):
        super().__init__(reason)
        self.reason, self.status, self.caller, self.claimed = reason, status, caller, claimed


@dataclass
class CallerIdentity:
    caller: dict[str, Any]
    principal: "Principal"
    method: str  # "signature" or "token"
    content_sha256: str | None = None  # a signed multipart upload: the file digest the signature covers


FILE_UPLOAD_PATH = re.compile(r"/ext/api/[^/]+/[0-9]+/files/[^/]+")


def is_file_upload(request: "Request") -> bool:
    """A multipart POST to a row's file route: the one body the signature covers by the file's digest."""
    return (request.method == "POST" and FILE_UPLOAD_PATH.fullmatch(request.scope["path"]) is not None
            and request.headers.get("content-type", "").split(";")[0].strip().lower() == "multipart/form-data")


def new_token() -> str:
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def token_hash(token: str) -> str:
    # Tokens carry 256 random bits, so a plain SM3 digest cannot be brute-forced and needs no key.
    return sm3_hex(token.encode("utf-8"))


def request_path(scope: dict) -> str:
    """The path exactly as the client sent it (percent-encoded form), which is what it signed."""
    raw = scope.get("raw_path")
    return raw.decode("latin-1") if raw else scope["path"]


class CallerGate:
    def __init__(self, ctx: "AppContext", limiter: InProcessLimiter | RedisLimiter):
        self.ctx = ctx
        self.limiter = limiter
        self._purged_at = 0.0

    @classmethod
    def of(cls, app: "Litestar") -> "CallerGate":
        """One gate per app, made on first use (its rate counters must be shared by all routes)."""
        gate = getattr(app.state, "api_caller_gate", None)
        if gate is None:
            import os

            ctx = app.state.ctx
            gate = cls(ctx, make_limiter(os.environ.get("REDIS_URL"), ctx.app.name))
            app.state.api_caller_gate = gate
        return gate

    async def authenticate(self, request: "Request") -> CallerIdentity:
        authorization = request.headers.get("authorization", "")
        if authorization[:7].lower() == "bearer ":
            caller = await self._by_token(authorization[7:].strip())
            method = "token"
        elif request.headers.get("x-sa-caller") or request.headers.get("x-sa-signature"):
            caller = await self._by_signature(request)
            method = "signature"

        else:
            raise Rejected(MISSING)
        limit = caller["rate_limit_per_minute"] or 0  # 0 or empty: no limit
        if limit and not await self.limiter.hit(caller["id"], limit):
            raise Rejected(RATE_LIMITED, 429, caller)
        signed_digest = None
        if method == "signature" and is_file_upload(request):
            signed_digest = request.headers.get("x-sa-content-sha256", "").lower()
        return CallerIdentity(caller, await caller_principal(self.ctx, caller), method, signed_digest)

    # -- the two ways in --------------------------------------------------
    async def _by_token(self, token: str) -> dict[str, Any]:
        caller = await self._load(token_hash=token_hash(token)) if token else None
        if caller is None:
            raise Rejected(BAD_TOKEN)
        self._check_status(caller)
        return caller

    async def _by_signature(self, request: "Request") -> dict[str, Any]:
        headers = request.headers
        code, stamp = headers.get("x-sa-caller", ""), headers.get("x-sa-timestamp", "")
        nonce, signature = headers.get("x-sa-nonce", ""), headers.get("x-sa-signature", "")
        if not (code and stamp and nonce and signature):
            raise Rejected(INCOMPLETE, claimed=code or None)
        if not stamp.isdigit() or len(stamp) > 12:
            raise Rejected(BAD_TIMESTAMP, claimed=code)
        if abs(time.time() - int(stamp)) > WINDOW_SECONDS:
            raise Rejected(STALE, claimed=code)
        if not NONCE_PATTERN.fullmatch(nonce):
            raise Rejected(BAD_NONCE, claimed=code)
        caller = await self._load(code=code)
        if caller is None or not caller["public_key"]:
            raise Rejected(BAD_SIGNATURE, caller=caller, claimed=code)
        query = parse_qsl(request.scope.get("query_string", b"").decode("latin-1"), keep_blank_values=True)
        if is_file_upload(request):  # a file upload is streamed: the signature covers the file's SHA-256
            digest = headers.get("x-sa-content-sha256", "").lower()
            if not DIGEST_PATTERN.fullmatch(digest):
                raise Rejected(BAD_CONTENT_DIGEST, 400, claimed=code)
            body = digest.encode("ascii")
        else:
            body = await request.body()
        message = signing_string(request.method, request_path(request.scope), query, body, stamp, nonce)
        if not verify(caller["public_key"], message, signature.lower()):
            raise Rejected(BAD_SIGNATURE, caller=caller)
        self._check_status(caller)
        await self._remember_nonce(caller, nonce)
        return caller

    # -- helpers ------------------------------------------------------------
    async def _load(self, **where: str) -> dict[str, Any] | None:
        table = self.ctx.table("api_caller")
        (name, value), = where.items()
        rows = await table.select(
            table.id, table.code, table.name, table.role, table.org, table.valid_from, table.valid_to,
            table.rate_limit_per_minute, table.enabled, table.public_key,
        ).where(getattr(table, name) == value)
        return rows[0] if rows else None

    @staticmethod
    def _check_status(caller: dict[str, Any]) -> None:
        if not caller["enabled"]:
            raise Rejected(DISABLED, caller=caller)
        today = dt.date.today()
        if caller["valid_from"] and today < caller["valid_from"]:
            raise Rejected(NOT_YET_VALID, caller=caller)
        if caller["valid_to"] and today > caller["valid_to"]:
            raise Rejected(EXPIRED, caller=caller)

    async def _remember_nonce(self, caller: dict[str, Any], nonce: str) -> None:
        """Insert (caller, nonce); the unique column turns a replay into an integrity error."""
        table = self.ctx.table("api_nonce")
        key = f"{caller['id']}:{nonce}"
        await self._purge()
        try:
            await table.insert(table(caller=caller["id"], nonce=key, seen_at=dt.datetime.now()))
        except Exception:  # sqlite3.IntegrityError / asyncpg UniqueViolationError; confirm below
            if await table.exists().where(table.nonce == key):
                raise Rejected(REPLAY, caller=caller) from None
            raise

    async def _purge(self) -> None:
        if time.monotonic() - self._purged_at < PURGE_EVERY_SECONDS:
            return
        self._purged_at = time.monotonic()
        table = self.ctx.table("api_nonce")
        cutoff = dt.datetime.now() - dt.timedelta(seconds=NONCE_TTL_SECONDS)
        await table.delete().where(table.seen_at < cutoff)
