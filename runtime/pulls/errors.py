"""The error a pull's source raises when its external database cannot be read as configured."""
from __future__ import annotations


class SourceError(Exception):
    """The external database cannot be read as configured (said in Chinese, no secrets)."""
