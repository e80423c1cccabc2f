"""Call-rate limits: a fixed one-minute window per caller (and per client address for refused calls).

Embedded default: a counter in this process. `specadmin serve` runs one worker per
core, so with N workers a caller may make up to N x its limit per minute; set
REDIS_URL to share one counter between all workers (and all machines).
"""
from __future__ import annotations

import time


def current_window(now: float | None = None) -> int:
    return int((time.time() if now is None else now) // 60)


class InProcessLimiter:
    """Counts calls per key (a caller id, a client address) in the current minute."""

    def __init__(self) -> None:
        self._counts: dict[int | str, tuple[int, int]] = {}

    async def count(self, key: int | str) -> int:
        """Count one call; the number of calls under `key` this minute, this one included."""
        window = current_window()
        if len(self._counts) > 100_000:  # keys of past windows are useless: drop them
            self._counts = {k: v for k, v in self._counts.items() if v[0] == window}
        seen_window, count = self._counts.get(key, (window, 0))
        count = count + 1 if seen_window == window else 1
        self._counts[key] = (window, count)
        return count

    async def hit(self, key: int | str, limit: int) -> bool:
        """Count one call; True while `key` stays within `limit` calls this minute."""
        return await self.count(key) <= limit


class RedisLimiter:
    """The same window kept in Redis (INCR + EXPIRE), shared by every worker."""

    def __init__(self, url: str, namespace: str) -> None:
        import redis.asyncio as redis

        self._client = redis.Redis.from_url(url, socket_timeout=5)
        self._namespace = namespace

    async def count(self, key: int | str) -> int:
        name = f"specadmin:ratelimit:{self._namespace}:{key}:{current_window()}"
        async with self._client.pipeline(transaction=True) as pipe:
            pipe.incr(name)
            pipe.expire(name, 120)  # the window is over after 60 s; keep a margin for clock skew
            count, _ = await pipe.execute()
        return int(count)

    async def hit(self, key: int | str, limit: int) -> bool:
        return await self.count(key) <= limit

    async def close(self) -> None:
        await self._client.aclose()


def make_limiter(redis_url: str | None, namespace: str) -> InProcessLimiter | RedisLimiter:
    return RedisLimiter(redis_url, namespace) if redis_url else InProcessLimiter()
