"""Password login with lockout: `security.lockout_attempts` failures in a row (default 5) lock
the account for `security.lockout_minutes` (default 30). While locked the password is not even
checked, so the answer (账号已锁定) says nothing about whether it was right. A successful login
or the 解锁 action clears the count.
"""
from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

from specadmin.runtime.data import audit

if TYPE_CHECKING:
    from specadmin.runtime.app.context import AppContext

FAILED = "用户名或密码错误"
LOCKED = "账号已锁定，请稍后再试或联系管理员解锁"
DISABLED = "账号已停用"
DEFAULT_ATTEMPTS = 5
DEFAULT_MINUTES = 30


def settings(ctx: "AppContext") -> tuple[int, int]:
    security = ctx.app.security or {}
    return (int(security.get("lockout_attempts", DEFAULT_ATTEMPTS)),
            int(security.get("lockout_minutes", DEFAULT_MINUTES)))


async def attempt_login(ctx: "AppContext", username: str, password: str, now: dt.datetime) -> tuple[int | None, str]:
    """(user id, "") on success, else (None, the message to show)."""
    user = ctx.table("user")
    rows = await user.select(user.id, user.active, user.failed_logins, user.locked_until).where(
        user.username == username)
    if not rows:
        user.hash_password(password)  # same work as a real check: no user enumeration by timing
        return None, FAILED
    row = rows[0]
    if row["locked_until"] is not None and row["locked_until"] > now:
        return None, LOCKED
    if await user.login(username=username, password=password) is None:
        attempts, minutes = settings(ctx)
        # Increment in the database, so concurrent attempts cannot overwrite each other's count.
        await user.update({user.failed_logins: user.failed_logins + 1}).where(user.id == row["id"])
        count = (await user.select(user.failed_logins).where(user.id == row["id"]))[0]["failed_logins"]
        if count is None:  # a row from before the column existed
            count = 1
            await user.update({user.failed_logins: 1}).where(user.id == row["id"])
        if count < attempts:
            return None, FAILED
        until = now.replace(microsecond=0) + dt.timedelta(minutes=minutes)
        await user.update({user.failed_logins: 0, user.locked_until: until}).where(user.id == row["id"])
        await audit.record(ctx, None, "login", "user", row["id"], username, None,
                           {"locked_until": until, "failed_logins": count})
        ctx.principals.pop(row["id"], None)
        return None, LOCKED
    if not row["active"]:
        return None, DISABLED
    if row["failed_logins"] or row["locked_until"] is not None:
        await user.update({user.failed_logins: 0, user.locked_until: None}).where(user.id == row["id"])
    return row["id"], ""
