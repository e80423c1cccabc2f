"""Errors the services raise; the app maps them to HTTP answers with Chinese messages."""
from __future__ import annotations


class Denied(Exception):
    """403: the user has no grant for this action."""

    def __init__(self, message: str = "无权执行此操作"):
        super().__init__(message)
        self.message = message


class NotFound(Exception):
    """404: no such row, or the row lies outside the user's data scope (never say which)."""

    def __init__(self, message: str = "记录不存在或无权访问"):
        super().__init__(message)
        self.message = message


class Conflict(Exception):
    """409: the change collides with other data (unique value, row still referenced)."""

    def __init__(self, message: str, errors: dict[str, str] | None = None):
        super().__init__(message)
        self.message = message
        self.errors = errors or {}


class Stale(Conflict):
    """409 (412 for a failed `If-Match`): the row was changed by someone else since the client read
    it. `current` is the row as stored now (as the client may see it), so the client can compare
    and save again; nothing was written."""

    def __init__(self, current: dict, message: str = "记录已被他人修改"):
        super().__init__(message)
        self.current = current


class BadRequest(Exception):
    def __init__(self, message: str):
        super().__init__(message)
        self.message = message
