"""Receivers of outbound feeds: app.yaml `feed_targets`, with `${ENV}` / `${ENV:-default}` read at use.

Values are read from the environment each time a delivery is tried, so changing a URL needs
only a restart of the dispatcher's process, not a regenerate. Retry settings: the target's
`max_attempts` / `backoff_seconds`, else env SPECADMIN_FEED_MAX_ATTEMPTS (default 5) and
SPECADMIN_FEED_BACKOFF (seconds, default 30); the n-th failure waits backoff x 2^(n-1).
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from specadmin.runtime.env import expand

DEFAULT_TIMEOUT = 10.0


@dataclass(frozen=True)
class Target:
    name: str
    label: str
    url: str
    headers: dict[str, str]
    timeout: float
    max_attempts: int
    backoff: float

    def delay(self, attempts: int) -> float:
        """Seconds to wait after the `attempts`-th failure."""
        return self.backoff * (2 ** max(attempts - 1, 0))


def target(app_model, name: str) -> Target:
    raw: Any = app_model.feed_targets[name]
    headers = {"Content-Type": "application/json; charset=utf-8"}
    auth = expand(raw.get("auth_header"))
    if auth:
        headers["Authorization"] = auth
    return Target(
        name=name, label=raw.get("label", name), url=expand(raw["url"]), headers=headers,
        timeout=float(raw.get("timeout", DEFAULT_TIMEOUT)),
        max_attempts=int(raw.get("max_attempts") or os.environ.get("SPECADMIN_FEED_MAX_ATTEMPTS") or 5),
        backoff=float(raw["backoff_seconds"] if raw.get("backoff_seconds") is not None
                      else os.environ.get("SPECADMIN_FEED_BACKOFF") or 30),
    )
