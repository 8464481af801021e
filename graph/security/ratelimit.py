"""Request rate limits: sliding windows per API key (reads, mutations) and per client address.

Every GraphQL operation (HTTP request or WebSocket ``subscribe``) takes one entry from a
budget, after it parsed and validated and before it executes:

- authenticated: the API key's ``reads`` budget (queries, subscriptions) or its
  ``mutations`` budget, shared by every connection and process using that key;
- unauthenticated (no key, or an unknown one): the client address's ``anonymous`` budget.

A budget is a sliding window (the ``limits`` package's moving window: a log of hit times,
no burst at window edges). With REDIS_URL the windows live in Redis (an atomic Lua script
per hit), so every server process shares them; without it each process keeps its own in
memory. If Redis does not answer, requests are let through (fail open) and a warning is
logged: a broken limiter must not take trading down.

A refused operation is a ``RATE_LIMITED`` GraphQL error with ``extensions.retryAfter``
(seconds); over HTTP it is a 429 with a ``Retry-After`` header.
"""

from __future__ import annotations

import contextvars
import enum
import logging
import math
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from limits import RateLimitItem
from limits import parse as parse_rate
from limits.aio.storage import MemoryStorage, RedisStorage
from limits.aio.strategies import MovingWindowRateLimiter
from limits.errors import StorageError
from starlette.types import Scope

from graph.security.limits import LimitSettings

log = logging.getLogger("caas.ratelimit")

RATE_LIMITED = "RATE_LIMITED"
WARN_EVERY_S = 30.0

client_address: contextvars.ContextVar[str] = contextvars.ContextVar(
    "client_address", default="unknown"
)


AUTH_THROTTLED = "auth_throttled"  # RequestContext.transport entry: a Refusal, verification skipped


class Budget(enum.Enum):
    """What an operation spends."""

    READS = "reads"
    MUTATIONS = "mutations"
    ANONYMOUS = "anonymous"
    AUTH_FAILURES = "auth_failures"


@dataclass(frozen=True)
class Refusal:
    """A budget is spent: how long until the window frees an entry."""

    budget: Budget
    limit: str
    retry_after_s: int


def address_of(scope: Scope, trusted_proxy_hops: int = 0) -> str:
    """The client address: the peer, or with ``trusted_proxy_hops`` proxies in front, the
    address the outermost trusted proxy saw (counted from the right of X-Forwarded-For).
    """
    peer = scope.get("client")
    address = str(peer[0]) if peer else "unknown"
    if trusted_proxy_hops <= 0:
        return address
    headers = {k.decode("latin-1").lower(): v for k, v in scope.get("headers", [])}
    raw = headers.get("x-forwarded-for", b"").decode("latin-1")
    hops = [part.strip() for part in raw.split(",") if part.strip()]
    return hops[-trusted_proxy_hops] if len(hops) >= trusted_proxy_hops else address


def _storage_uri(redis_url: str) -> str:
    if redis_url.startswith("unix://"):
        return "async+redis+" + redis_url
    return "async+" + redis_url


class RequestRateLimiter:
    """Sliding-window budgets in Redis (shared by processes) or in this process."""

    def __init__(self, settings: LimitSettings, redis_url: str | None) -> None:
        self.items: dict[Budget, RateLimitItem] = {
            Budget.READS: parse_rate(settings.rate_reads),
            Budget.MUTATIONS: parse_rate(settings.rate_mutations),
            Budget.ANONYMOUS: parse_rate(settings.rate_anonymous),
            Budget.AUTH_FAILURES: parse_rate(settings.rate_auth_failures),
        }
        self.redis_url = redis_url
        self.key_prefix = settings.rate_key_prefix
        self._storage: RedisStorage | MemoryStorage | None = None
        self._strategy: MovingWindowRateLimiter | None = None
        self._warned_at = 0.0

    @property
    def backend(self) -> str:
        return "redis" if self.redis_url else "memory"

    def _limiter(self) -> MovingWindowRateLimiter:
        # created on first use: the in-memory storage starts a task on the running loop
        if self._strategy is None:
            if self.redis_url:
                self._storage = RedisStorage(
                    _storage_uri(self.redis_url),
                    implementation="redispy",
                    key_prefix=self.key_prefix,
                    wrap_exceptions=True,
                    socket_connect_timeout=0.5,
                    socket_timeout=0.5,
                )
            else:
                self._storage = MemoryStorage()
            self._strategy = MovingWindowRateLimiter(self._storage)
        return self._strategy

    async def hit(self, identity: str, budget: Budget) -> Refusal | None:
        """Take one entry of ``identity``'s ``budget``; a Refusal when none is left."""
        item = self.items[budget]
        limiter = self._limiter()
        try:
            if await limiter.hit(item, budget.value, identity):
                return None
            stats = await limiter.get_window_stats(item, budget.value, identity)
        except StorageError as error:
            self._warn(error)
            return None
        retry_after = max(1, math.ceil(stats.reset_time - time.time()))
        return Refusal(budget, str(item), retry_after)

    async def spent(self, identity: str, budget: Budget) -> Refusal | None:
        """A Refusal when ``identity`` has no entry of ``budget`` left (takes none)."""
        item = self.items[budget]
        limiter = self._limiter()
        try:
            if await limiter.test(item, budget.value, identity):
                return None
            stats = await limiter.get_window_stats(item, budget.value, identity)
        except StorageError as error:
            self._warn(error)
            return None
        retry_after = max(1, math.ceil(stats.reset_time - time.time()))
        return Refusal(budget, str(item), retry_after)

    def _warn(self, error: Exception) -> None:
        now = time.monotonic()
        if now - self._warned_at >= WARN_EVERY_S:
            self._warned_at = now
            log.warning(
                "rate limit store unavailable, letting requests through: %s",
                type(error.__cause__ or error).__name__,
            )

    async def close(self) -> None:
        storage, self._storage, self._strategy = self._storage, None, None
        if isinstance(storage, RedisStorage):
            client: Any = getattr(storage.bridge, "storage", None)
            if client is not None:
                await client.aclose()
        elif isinstance(storage, MemoryStorage):
            timer = storage.timer
            if timer is not None and not timer.done():
                timer.cancel()


def rate_limit_response(body: Any) -> tuple[int, dict[str, str]] | None:
    """HTTP 429 and a Retry-After header when ``body`` is a RATE_LIMITED request error."""
    if not isinstance(body, Mapping) or body.get("data") is not None:
        return None
    for error in body.get("errors") or ():
        extensions = error.get("extensions") or {} if isinstance(error, Mapping) else {}
        if extensions.get("code") == RATE_LIMITED:
            return 429, {"retry-after": str(extensions.get("retryAfter", 1))}
    return None
