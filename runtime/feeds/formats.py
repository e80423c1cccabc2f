"""Outbound payloads in a receiver's own format: a target's `envelope`, a feed's `message_type` and `map`.

app.yaml `feed_targets.<name>.envelope` is the JSON body that target takes (a city's standard message
format): every string value that is one of the tokens below is filled per delivery, every other value is
sent as written (`${ENV}` / `${ENV:-default}` expanded when the delivery is recorded). Tokens:
`$data` (the record), `$type` (the feed's `message_type`), `$id` (a unique message id), `$time` (the change's
time in `time_format`, default `%Y-%m-%d %H:%M:%S`), `$op`, `$feed`, `$entity`, `$row_id`. The record is the
feed's `map: {key sent: field path}` (paths through refs such as `event.number`; dict and ref values as
stored, sensitive ones masked), or without a map the default data `{id, <fields>, <field>_label}`.
A target's `sign: {secret, header, timestamp_header, algorithm}` adds, when the delivery is sent, the
header `timestamp_header` (default X-Timestamp, seconds since the epoch) and `header` (default
X-Signature): the hex HMAC (`hmac-sha256`, default, or `hmac-sm3`) with the secret over
`<timestamp>\\n<body>`; the secret is read from the environment at each delivery and never stored.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import time
import uuid
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from specadmin.runtime.crypto.masking import mask
from specadmin.runtime.env import expand
from specadmin.runtime.data.paths import joined_column
from specadmin.specs.paths import resolve

if TYPE_CHECKING:
    from specadmin.specs.model import Feed

    from specadmin.runtime.app.context import AppContext

TOKENS = ("$data", "$type", "$id", "$time", "$op", "$feed", "$entity", "$row_id")
DEFAULT_TIME = "%Y-%m-%d %H:%M:%S"
ALGORITHMS = ("hmac-sha256", "hmac-sm3")


def envelope_of(app_model: Any, target: str) -> Mapping | None:
    raw = app_model.feed_targets.get(target) or {}
    return raw.get("envelope")


def tokens_in(template: Any) -> list[str]:
    """Every `$…` string value of an envelope (checked against TOKENS by SA238)."""
    if isinstance(template, str):
        return [template] if template.startswith("$") and not template.startswith("${") else []
    if isinstance(template, Mapping):
        return [t for v in template.values() for t in tokens_in(v)]
    if isinstance(template, (list, tuple)):
        return [t for v in template for t in tokens_in(v)]
    return []


def fill(template: Any, values: dict[str, Any]) -> Any:
    if isinstance(template, str):
        if template in values:
            return values[template]
        return expand(template) if "${" in template else template
    if isinstance(template, Mapping):
        return {k: fill(v, values) for k, v in template.items()}
    if isinstance(template, (list, tuple)):
        return [fill(v, values) for v in template]
    return template


def _plain(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        return value.strftime(DEFAULT_TIME)
    if isinstance(value, dt.date):
        return value.isoformat()
    if value is not None and not isinstance(value, (str, int, float, bool)):
        return str(value)
    return value


async def mapped(ctx: "AppContext", feed: "Feed", table: Any, row_id: int) -> dict[str, Any]:
    """The feed's `map` read from the row: one query, joins through the refs of the paths."""
    pk = table._meta.primary_key
    items = list(feed.map.items())
    columns = [joined_column(table, path.split(".")).as_alias(f"c{i}") for i, (_, path) in enumerate(items)]
    row = (await table.select(*columns).where(pk == row_id).first()) or {}
    out: dict[str, Any] = {}
    for i, (key, path) in enumerate(items):
        value = row.get(f"c{i}")
        f = resolve(ctx.app, feed.entity, path).field
        if f.sensitive and value is not None:
            value = mask(ctx.sensitive.decode(value), f.sensitive if isinstance(f.sensitive, str) else "default")
        out[key] = _plain(value)
    return out


def body_of(app_model: Any, feed: "Feed", target: str, op: str, row_id: int | None, changed_at: dt.datetime,
            data: dict[str, Any]) -> Any:
    """The body for one target: its envelope filled, or None when the target takes the default layout."""
    envelope = envelope_of(app_model, target)
    if not envelope:
        return None
    raw = app_model.feed_targets[target]
    values = {"$data": data, "$type": feed.message_type, "$id": uuid.uuid4().hex, "$op": op, "$feed": feed.name,
              "$entity": feed.entity, "$row_id": row_id,
              "$time": changed_at.strftime(raw.get("time_format") or DEFAULT_TIME)}
    return fill(envelope, values)


def _hmac_sm3(key: bytes, message: bytes) -> str:
    from gmssl import sm3

    def digest(data: bytes) -> bytes:
        return bytes.fromhex(sm3.sm3_hash(list(data)))

    block = 64
    if len(key) > block:
        key = digest(key)
    key = key.ljust(block, b"\0")
    inner = digest(bytes(b ^ 0x36 for b in key) + message)
    return digest(bytes(b ^ 0x5C for b in key) + inner).hex()


def signature(algorithm: str, secret: str, timestamp: str, body: bytes) -> str:
    message = timestamp.encode("ascii") + b"\n" + body
    if algorithm == "hmac-sm3":
        return _hmac_sm3(secret.encode("utf-8"), message)
    return hmac.new(secret.encode("utf-8"), message, hashlib.sha256).hexdigest()


def signed_headers(raw_target: Mapping, body: bytes, now: float | None = None) -> dict[str, str]:
    """The signature headers of one delivery (none without `sign` or with an empty secret)."""
    sign = raw_target.get("sign") or {}
    secret = expand(sign.get("secret"))
    if not secret:
        return {}
    timestamp = str(int(now if now is not None else time.time()))
    return {sign.get("timestamp_header") or "X-Timestamp": timestamp,
            sign.get("header") or "X-Signature": signature(sign.get("algorithm") or "hmac-sha256", secret, timestamp,
                                                           body)}
