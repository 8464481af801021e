"""Replay protection for signed requests: each valid signature is accepted once.

A signature is remembered for twice the receive window (it cannot verify after that, whatever
the clocks say). With REDIS_URL every server process shares the memory (``SET NX PX``), so a
request replayed to another process is refused too; without it, one process remembers.
"""

from __future__ import annotations

import hashlib
import time
from collections import OrderedDict
from typing import Protocol

from redis.asyncio import Redis
from redis.exceptions import RedisError

from domains.shared.errors import UnavailableError
from subscriptions.redis_client import redis_client


class ReplayGuard(Protocol):
    async def first_use(self, key_id: str, signature: str) -> bool:
        """True the first time ``signature`` is seen within the window, False after."""
        ...

    async def close(self) -> None: ...


def _fingerprint(key_id: str, signature: str) -> str:
    return hashlib.sha256(f"{key_id}\n{signature.lower()}".encode()).hexdigest()


class MemoryReplayGuard:
    """Seen signatures of this process, forgotten after ``ttl_ms`` (insertion order = expiry)."""

    def __init__(self, ttl_ms: int, max_entries: int = 1_000_000) -> None:
        self.ttl_s = ttl_ms / 1000
        self.max_entries = max_entries
        self._seen: OrderedDict[str, float] = OrderedDict()

    async def first_use(self, key_id: str, signature: str) -> bool:
        now = time.monotonic()
        while self._seen and (
            next(iter(self._seen.values())) <= now or len(self._seen) >= self.max_entries
        ):
            self._seen.popitem(last=False)
        fingerprint = _fingerprint(key_id, signature)
        if fingerprint in self._seen:
            return False
        self._seen[fingerprint] = now + self.ttl_s
        return True

    async def close(self) -> None:
        self._seen.clear()


class RedisReplayGuard:
    """Seen signatures in Redis, shared by every process (``<prefix><fingerprint>`` keys)."""

    def __init__(self, url: str, ttl_ms: int, prefix: str = "caas:authn:replay:") -> None:
        self.ttl_ms = ttl_ms
        self.prefix = prefix
        self._redis: Redis = redis_client(url, socket_timeout=2)

    async def first_use(self, key_id: str, signature: str) -> bool:
        key = self.prefix + _fingerprint(key_id, signature)
        try:
            return bool(await self._redis.set(key, b"1", nx=True, px=self.ttl_ms))
        except (RedisError, OSError) as exc:
            # fail closed: without the shared memory a replay could not be detected
            raise UnavailableError("replay protection is unavailable; retry shortly") from exc

    async def close(self) -> None:
        await self._redis.aclose()


def make_replay_guard(redis_url: str | None, window_ms: int) -> ReplayGuard:
    """Redis when REDIS_URL is set, otherwise this process's memory."""
    ttl_ms = 2 * window_ms + 1_000
    if redis_url:
        return RedisReplayGuard(redis_url, ttl_ms)
    return MemoryReplayGuard(ttl_ms)
