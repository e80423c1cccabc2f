"""Password complexity policy (等保三级): a minimum length from app.yaml
`security.password_min_length` (default 8) and at least three of four character classes.

One checker serves the user form, the reset-password action and `specadmin createuser`, so
they all answer with the same message.
"""
from __future__ import annotations

import secrets
import string
from typing import Any, Mapping

DEFAULT_MIN_LENGTH = 8
MAX_LENGTH = 128  # piccolo's BaseUser refuses longer passwords
CLASSES = (("小写字母", str.islower), ("大写字母", str.isupper), ("数字", str.isdigit),
           ("特殊符号", lambda c: c.isascii() and not c.isalnum() and not c.isspace()))


class PasswordRejected(ValueError):
    """The message is shown to the user as is."""


def min_length(security: Mapping[str, Any] | None) -> int:
    return int((security or {}).get("password_min_length", DEFAULT_MIN_LENGTH))


def problem(password: str | None, security: Mapping[str, Any] | None = None, username: str | None = None) -> str | None:
    """Why the password is not acceptable, in Chinese; None when it is."""
    if not password:
        return "请输入密码"
    need = min_length(security)
    if len(password) < need:
        return f"密码长度不能少于 {need} 位"
    if len(password) > MAX_LENGTH:
        return f"密码长度不能超过 {MAX_LENGTH} 位"
    if any(c.isspace() for c in password):
        return "密码不能包含空格"
    present = sum(1 for _, test in CLASSES if any(test(c) for c in password))
    if present < 3:
        return "密码须包含大写字母、小写字母、数字、特殊符号中的至少三类"
    if username and password.lower() == username.lower():
        return "密码不能与账号相同"
    return None


def check(password: str | None, security: Mapping[str, Any] | None = None, username: str | None = None) -> str:
    message = problem(password, security, username)
    if message:
        raise PasswordRejected(message)
    return password  # type: ignore[return-value]


def random_password(security: Mapping[str, Any] | None = None) -> str:
    """A password that meets the policy: one of each class, the rest random."""
    length = max(min_length(security), 14)
    pools = (string.ascii_lowercase, string.ascii_uppercase, string.digits, "!@#$%^&*-_=+?")
    chars = [secrets.choice(pool) for pool in pools]
    everything = "".join(pools)
    chars += [secrets.choice(everything) for _ in range(length - len(chars))]
    secrets.SystemRandom().shuffle(chars)
    return "".join(chars)
