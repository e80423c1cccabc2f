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


class BadRequest(Exception):
    def __init__(self, message: str):
        super().__init__(message)
        self.message = message
