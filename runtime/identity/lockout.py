"""Password login with failed-attempt throttles, kept per account *and client address*.

- `security.lockout_attempts` failures in a row (default 5) for one account from one address
  lock that account for that address for `security.lockout_minutes` (default 30): an attacker
  elsewhere cannot lock an administrator out of the office.
- `security.address_attempts` failures from one address over any accounts (default 20) block
  that address for the same time (password spraying).
- Each attempt first claims a slot with one atomic `UPDATE ... SET failures = failures + 1 ...
  RETURNING`, before the password is checked: 30 parallel guesses get exactly `lockout_attempts`
  password checks, never more. While locked the password is not checked at all, so the answer
  (账号已锁定) says nothing about whether it was right.

A successful login clears its account's throttle for that address; the 解锁 action on 人员管理
clears the account's throttles everywhere. The user row's `failed_logins`/`locked_until` show
the latest lock to administrators.
"""
from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

from piccolo.columns import Integer, Timestamp, Varchar
from piccolo.table import Table

from specadmin.runtime.data import audit

if TYPE_CHECKING:
    from specadmin.runtime.app.context import AppContext

TABLE = "sys_login_throttle"
FAILED = "用户名或密码错误"
LOCKED = "账号已锁定，请稍后再试或联系管理员解锁"
THROTTLED = "登录失败次数过多，请稍后再试"
DISABLED = "账号已停用"
DEFAULT_ATTEMPTS = 5
DEFAULT_ADDRESS_ATTEMPTS = 20
DEFAULT_MINUTES = 30


def throttle_table() -> type[Table]:
    class LoginThrottle(Table, tablename=TABLE):
        key = Varchar(length=200, unique=True)  # "account:<user id>@<address>" or "address:<address>"
        failures = Integer(default=0)
        first_at = Timestamp(null=True, default=None)
        locked_until = Timestamp(null=True, default=None)

    return LoginThrottle


def settings(ctx: "AppContext") -> tuple[int, int, int]:
    security = ctx.app.security or {}
    return (int(security.get("lockout_attempts", DEFAULT_ATTEMPTS)),
            int(security.get("address_attempts", DEFAULT_ADDRESS_ATTEMPTS)),
            int(security.get("lockout_minutes", DEFAULT_MINUTES)))


def account_key(user_id: int, address: str) -> str:
    return f"account:{user_id}@{address}"[:200]


def address_key(address: str) -> str:
    return f"address:{address}"[:200]


class Throttle:
    """One counter row: claim a slot before checking, lock when the slots are used up."""

    def __init__(self, ctx: "AppContext", key: str, limit: int, minutes: int, now: dt.datetime):
        self.table, self.key, self.limit, self.now = ctx.runtime_table(TABLE), key, limit, now
        self.window = dt.timedelta(minutes=minutes)

    async def _ensure(self) -> None:
        t = self.table
        # Counts end with their window, and a lock with its time.
        await t.update({t.failures: 0, t.first_at: None, t.locked_until: None}).where(
            t.key == self.key, (t.locked_until <= self.now) | (t.first_at < self.now - self.window))
        if not await t.exists().where(t.key == self.key):
            try:
                await t.insert(t(key=self.key, failures=0))
            except Exception:  # another attempt made the row at the same moment
                pass

    async def locked(self) -> bool:
        t = self.table
        rows = await t.select(t.locked_until).where(t.key == self.key)
        return bool(rows and rows[0]["locked_until"] and rows[0]["locked_until"] > self.now)

    async def claim(self) -> int | None:
        """Take one attempt: its number in the window, or None while locked."""
        t = self.table
        for _ in range(3):
            await self._ensure()
            rows = await t.update({t.failures: t.failures + 1}).where(
                t.key == self.key, t.locked_until.is_null()).returning(t.failures)
            # No row counted: locked, or a parallel login of the same account succeeded and cleared
            # the row between _ensure and here (then take the slot in a new row: no false lock).
            if rows or await t.exists().where(t.key == self.key):
                break
        if not rows:
            return None
        if rows[0]["failures"] == 1:
            await t.update({t.first_at: self.now}).where(t.key == self.key)
        return rows[0]["failures"]

    async def lock(self) -> dt.datetime:
        until = self.now.replace(microsecond=0) + self.window
        await self.table.update({self.table.locked_until: until}).where(self.table.key == self.key)
        return until

    async def clear(self) -> None:
        await self.table.delete().where(self.table.key == self.key)

    async def fail(self) -> bool:
        """Count one failure (no slot was claimed for it); True when it locks."""
        number = await self.claim()
        if number is not None and number >= self.limit:
            await self.lock()
            return True
        return number is None


async def clear_account(ctx: "AppContext", user_id: int) -> None:
    """解锁: the account's throttles from every address."""
    t = ctx.runtime_table(TABLE)
    await t.delete().where(t.key.like(f"account:{user_id}@%"))


async def attempt_login(ctx: "AppContext", username: str, password: str, now: dt.datetime,
                        address: str = "") -> tuple[int | None, str]:
    """(user id, "") on success, else (None, the message to show)."""
    attempts, address_attempts, minutes = settings(ctx)
    by_address = Throttle(ctx, address_key(address), address_attempts, minutes, now)
    if await by_address.locked():
        return None, THROTTLED
    user = ctx.table("user")
    rows = await user.select(user.id, user.active).where(user.username == username)
    if not rows:
        user.hash_password(password)  # same work as a real check: no user enumeration by timing
        await by_address.fail()
        return None, FAILED
    row = rows[0]
    by_account = Throttle(ctx, account_key(row["id"], address), attempts, minutes, now)
    number = await by_account.claim()
    if number is None:
        return None, LOCKED
    if number > attempts:  # the window's checks are all taken by parallel attempts: no check for this one
        return None, LOCKED  # (the attempt whose check fails last writes the lock; right ones write none)
    if await user.login(username=username, password=password) is None:
        await by_address.fail()
        if number < attempts:
            return None, FAILED
        until = await by_account.lock()
        await user.update({user.failed_logins: number, user.locked_until: until}).where(user.id == row["id"])
        await audit.record(ctx, None, "login", "user", row["id"], username, None,
                           {"locked_until": until, "failed_logins": number, "address": address})
        return None, LOCKED
    await by_account.clear()
    if not row["active"]:
        return None, DISABLED
    return row["id"], ""
