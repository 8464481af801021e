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
logged: a broken limiter must not take trading down. After a failure the process does not
ask Redis again for ``FAIL_OPEN_S`` (every request meanwhile is let through at once): in a
Redis blackhole each request would otherwise wait out the socket timeout first.

A refused operation is a ``RATE_LIMITED`` GraphQL error with ``extensions.retryAfter``
(seconds); over HTTP it is a 429 with a ``Retry-After`` header.

Round trips: a Redis call costs more CPU than the rest of a trivial query's limits, so
a process takes a budget's entries from the shared window in small blocks (1% of the
limit, at most ``MAX_BLOCK``; exact single entries near the limit) and spends them locally
for at most ``BLOCK_LEASE_S``. Entries are taken before they are used, so the processes
together never exceed a limit; a process may hold up to one block it does not use (the
key is refused at most that much early). Concurrent requests of one key share one refill.
The refused-credentials budget is consulted only for addresses this process has seen
refused within that budget's window (each process asks the shared window once it has seen
one refusal itself), so a good credential costs no Redis round trip at all.
"""

from __future__ import annotations

import asyncio
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
from subscriptions.redis_client import client_options

log = logging.getLogger("caas.ratelimit")

RATE_LIMITED = "RATE_LIMITED"
WARN_EVERY_S = 30.0
MAX_BLOCK = 100  # entries one refill takes from a shared window at most
BLOCK_LEASE_S = 1.0  # how long a process may spend a block it took (less for short windows)
FAIL_OPEN_S = 1.0  # after Redis failed, requests pass without asking it for this long

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


@dataclass
class _Block:
    """Entries of one (identity, budget) taken from the shared window, spendable until
    ``expires`` (monotonic seconds)."""

    left: int
    expires: float


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
        self._failing_until = 0.0  # Redis failed: fail open without asking it until then
        self._blocks: dict[tuple[str, Budget], _Block] = {}
        self._refills: dict[tuple[str, Budget], asyncio.Future[Refusal | None]] = {}
        self._refused_at: dict[str, float] = {}  # address -> when this process last refused it

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
                    **client_options(socket_connect_timeout=0.5, socket_timeout=0.5),
                )
            else:
                self._storage = MemoryStorage()
            self._strategy = MovingWindowRateLimiter(self._storage)
        return self._strategy

    def block_size(self, budget: Budget) -> int:
        """Entries one refill takes: 1% of the limit (at most MAX_BLOCK); 1 in memory."""
        if not self.redis_url:
            return 1
        return max(1, min(MAX_BLOCK, self.items[budget].amount // 100))

    async def hit(self, identity: str, budget: Budget) -> Refusal | None:
        """Take one entry of ``identity``'s ``budget``; a Refusal when none is left."""
        key = (identity, budget)
        while True:
            block = self._blocks.get(key)
            if block is not None and block.left > 0 and block.expires > time.monotonic():
                block.left -= 1
                return None
            refill = self._refills.get(key)
            if refill is None:
                break
            refused = await asyncio.shield(refill)  # another request of this key refills
            if refused is not None:
                return refused
        future: asyncio.Future[Refusal | None] = asyncio.get_running_loop().create_future()
        self._refills[key] = future
        try:
            refused = await self._refill(key)
            future.set_result(refused)
        except BaseException as exc:
            future.set_exception(exc)
            future.exception()  # retrieved: waiters re-raise it, nobody logs it twice
            raise
        finally:
            del self._refills[key]
        return refused

    async def _refill(self, key: tuple[str, Budget]) -> Refusal | None:
        """Take a block (or, near the limit, one entry) from the shared window; the first
        entry is the caller's, the rest stay in this process."""
        identity, budget = key
        item = self.items[budget]
        limiter = self._limiter()
        lease = min(BLOCK_LEASE_S, item.get_expiry() / 10)
        if self._failing():
            return None
        try:
            size = self.block_size(budget)
            if size > 1 and await limiter.hit(item, budget.value, identity, cost=size):
                self._blocks[key] = _Block(size - 1, time.monotonic() + lease)
                return None
            if await limiter.hit(item, budget.value, identity):
                self._blocks.pop(key, None)
                return None
            return await self._refusal(identity, budget)
        except StorageError as error:
            self._warn(error)
            return None

    async def _refusal(self, identity: str, budget: Budget) -> Refusal:
        """The Refusal of a spent budget: how long until its window frees an entry."""
        item = self.items[budget]
        stats = await self._limiter().get_window_stats(item, budget.value, identity)
        retry_after = max(1, math.ceil(stats.reset_time - time.time()))
        return Refusal(budget, str(item), retry_after)

    async def spent(self, identity: str, budget: Budget) -> Refusal | None:
        """A Refusal when ``identity`` has no entry of ``budget`` left (takes none)."""
        if budget is Budget.AUTH_FAILURES and not self._refused_here(identity):
            return None  # never refused here within the window: nothing to look up
        item = self.items[budget]
        limiter = self._limiter()
        if self._failing():
            return None
        try:
            if await limiter.test(item, budget.value, identity):
                return None
            return await self._refusal(identity, budget)
        except StorageError as error:
            self._warn(error)
            return None

    async def refused(self, address: str) -> None:
        """Count a refused credential from ``address`` (its AUTH_FAILURES budget)."""
        now = time.monotonic()
        self._refused_at[address] = now
        if len(self._refused_at) > 100_000:  # forget the oldest half
            for old in sorted(self._refused_at, key=self._refused_at.__getitem__)[:50_000]:
                del self._refused_at[old]
        await self.hit(address, Budget.AUTH_FAILURES)

    def _refused_here(self, address: str) -> bool:
        at = self._refused_at.get(address)
        window = self.items[Budget.AUTH_FAILURES].get_expiry()
        return at is not None and time.monotonic() - at < window

    def _failing(self) -> bool:
        return time.monotonic() < self._failing_until

    def _warn(self, error: Exception) -> None:
        now = time.monotonic()
        self._failing_until = now + FAIL_OPEN_S
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
