"""Per-caller call-rate limits: a fixed one-minute window per caller.

Embedded default: a counter in this process. `specadmin serve` runs one worker per
core, so with N workers a caller may make up to N x its limit per minute; set
REDIS_URL to share one counter between all workers (and all machines).
"""
from __future__ import annotations

import time


def current_window(now: float | None = None) -> int:
    return int((time.time() if now is None else now) // 60)


class InProcessLimiter:
    """Counts calls per caller in the current minute; old windows are dropped as they pass."""

    def __init__(self) -> None:
        self._counts: dict[int, tuple[int, int]] = {}

    async def hit(self, caller_id: int, limit: int) -> bool:
        """Count one call; True while the caller stays within `limit` calls this minute."""
        window = current_window()
        seen_window, count = self._counts.get(caller_id, (window, 0))
        count = count + 1 if seen_window == window else 1
        self._counts[caller_id] = (window, count)
        return count <= limit


class RedisLimiter:
    """The same window kept in Redis (INCR + EXPIRE), shared by every worker."""

    def __init__(self, url: str, namespace: str) -> None:
        import redis.asyncio as redis

        self._client = redis.Redis.from_url(url, socket_timeout=5)
        self._namespace = namespace

    async def hit(self, caller_id: int, limit: int) -> bool:
        key = f"specadmin:ratelimit:{self._namespace}:{caller_id}:{current_window()}"
        async with self._client.pipeline(transaction=True) as pipe:
            pipe.incr(key)
            pipe.expire(key, 120)  # the window is over after 60 s; keep a margin for clock skew
            count, _ = await pipe.execute()
        return int(count) <= limit

    async def close(self) -> None:
        await self._client.aclose()


def make_limiter(redis_url: str | None, namespace: str) -> InProcessLimiter | RedisLimiter:
    return RedisLimiter(redis_url, namespace) if redis_url else InProcessLimiter()
