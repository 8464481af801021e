"""A per-process TTL cache whose concurrent misses share one load (single flight).

Hot read paths (every order reads the tenant's configuration, the customer's KYC profile
and the tenant's KYC levels) cache what changes rarely for a few seconds; when an entry
expires under load, a thousand concurrent requests would otherwise each issue the same
store reads at once. Imports nothing but the standard library.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Hashable
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class SharedTtlCache(Generic[K, V]):
    """``await cache.get(key, load)``: the cached value, or one ``load()`` shared by every
    concurrent caller of that key; ``forget(key)`` drops an entry (e.g. on a local change)."""

    def __init__(self, ttl_s: float, max_entries: int = 100_000) -> None:
        self.ttl_s = ttl_s
        self.max_entries = max_entries
        self._entries: dict[K, tuple[float, V]] = {}
        self._loading: dict[K, asyncio.Task[V]] = {}

    async def get(self, key: K, load: Callable[[], Awaitable[V]]) -> V:
        entry = self._entries.get(key)
        if entry is not None and entry[0] > time.monotonic():
            return entry[1]
        task = self._loading.get(key)
        if task is None:
            task = asyncio.ensure_future(self._load(key, load))
            self._loading[key] = task
        return await asyncio.shield(task)

    async def _load(self, key: K, load: Callable[[], Awaitable[V]]) -> V:
        try:
            value = await load()
        finally:
            current = self._loading.get(key) is asyncio.current_task()
            if current:
                del self._loading[key]
        if current:  # not forgotten meanwhile: a load that raced a change is not kept
            if len(self._entries) >= self.max_entries:
                self._entries.clear()
            self._entries[key] = (time.monotonic() + self.ttl_s, value)
        return value

    def forget(self, key: K) -> None:
        self._entries.pop(key, None)
        self._loading.pop(key, None)
