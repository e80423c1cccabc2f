"""Register callers and issue their credentials (used by `specadmin keys new|token`).

Only public material is stored: the SM2 public key, and the SM3 digest of a bearer
token. The private key and the token are returned once to the CLI, which prints them.
"""
from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

from specadmin.runtime.api_callers.gate import new_token, token_hash
from specadmin.runtime.crypto import generate_keypair

if TYPE_CHECKING:
    from specadmin.runtime.app.context import AppContext


class CallerError(Exception):
    pass


async def _role_id(ctx: "AppContext", code: str) -> int:
    role = ctx.table("role")
    rows = await role.select(role.id).where(role.code == code)
    if not rows:
        raise CallerError(f"角色 {code} 不存在（可选：{', '.join(r.name for r in ctx.app.roles)}）")
    return rows[0]["id"]


async def register_key(ctx: "AppContext", code: str, *, role: str | None = None,
                       name: str | None = None) -> tuple[str, str]:
    """Create the caller or give it a new key pair; returns (private_hex, public_hex)."""
    table = ctx.table("api_caller")
    private_hex, public_hex = generate_keypair()
    now = dt.datetime.now().replace(microsecond=0)
    values: dict = {"public_key": public_hex, "updated_at": now}
    if role:
        values["role"] = await _role_id(ctx, role)
    if name:
        values["name"] = name
    existing = await table.select(table.id).where(table.code == code)
    if existing:
        await table.update(values).where(table.id == existing[0]["id"])
    else:
        values.setdefault("name", code)
        await table.insert(table(code=code, enabled=True, created_at=now, **values))
    return private_hex, public_hex


async def issue_token(ctx: "AppContext", code: str) -> str:
    """A new bearer token for an existing caller (the old one stops working)."""
    table = ctx.table("api_caller")
    rows = await table.select(table.id).where(table.code == code)
    if not rows:
        raise CallerError(f"调用方 {code} 不存在：先用 specadmin keys new 登记，或在“接入系统管理”中新增")
    token = new_token()
    await table.update({table.token_hash: token_hash(token), table.updated_at: dt.datetime.now().replace(microsecond=0)}
                       ).where(table.id == rows[0]["id"])
    return token
