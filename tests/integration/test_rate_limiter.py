"""The request rate limiter's contract, on the real Redis and in process: a sliding window."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator

import pytest
import pytest_asyncio

from graph.ops.embedded_store import free_port
from graph.security.limits import LimitSettings
from graph.security.ratelimit import Budget, RequestRateLimiter, address_of
from tests.conftest import REDIS_URL

BACKENDS = [
    pytest.param(None, id="memory"),
    pytest.param(REDIS_URL, id="redis", marks=pytest.mark.redis),
]


@pytest_asyncio.fixture(loop_scope="session", params=BACKENDS)
async def limiter(request: pytest.FixtureRequest) -> AsyncIterator[RequestRateLimiter]:
    settings = LimitSettings(
        rate_anonymous="2 per 2 seconds", rate_key_prefix=f"test:ratelimit:{uuid.uuid4().hex}"
    )
    rate_limiter = RequestRateLimiter(settings, request.param)
    yield rate_limiter
    await rate_limiter.close()


async def test_the_window_slides_instead_of_resetting_at_a_boundary(
    limiter: RequestRateLimiter,
) -> None:
    started = time.monotonic()
    assert await limiter.hit("ip:a", Budget.ANONYMOUS) is None
    await asyncio.sleep(1.0)
    assert await limiter.hit("ip:a", Budget.ANONYMOUS) is None
    refusal = await limiter.hit("ip:a", Budget.ANONYMOUS)
    assert refusal is not None and refusal.retry_after_s == 1
    assert refusal.budget is Budget.ANONYMOUS and refusal.limit == "2 per 2 second"
    await asyncio.sleep(max(0.0, started + 2.1 - time.monotonic()))
    # the first hit left the window; the second (at ~1 s) is still in it: one entry is free
    assert await limiter.hit("ip:a", Budget.ANONYMOUS) is None
    assert await limiter.hit("ip:a", Budget.ANONYMOUS) is not None
    assert await limiter.hit("ip:b", Budget.ANONYMOUS) is None


async def test_an_unreachable_redis_lets_requests_through() -> None:
    rate_limiter = RequestRateLimiter(
        LimitSettings(rate_reads="1/minute"), f"redis://127.0.0.1:{free_port()}/0"
    )
    try:
        started = time.monotonic()
        for _ in range(3):
            assert await rate_limiter.hit("key:k", Budget.READS) is None
        assert time.monotonic() - started < 5
    finally:
        await rate_limiter.close()


def test_the_client_address_is_the_peer_unless_proxies_are_trusted() -> None:
    scope = {
        "client": ("10.0.0.5", 1234),
        "headers": [(b"x-forwarded-for", b"1.1.1.1, 203.0.113.9, 10.0.0.4")],
    }
    assert address_of(scope) == "10.0.0.5"
    assert address_of(scope, trusted_proxy_hops=1) == "10.0.0.4"
    assert address_of(scope, trusted_proxy_hops=2) == "203.0.113.9"
    assert address_of({"client": None, "headers": []}, trusted_proxy_hops=1) == "unknown"


@pytest.mark.redis
async def test_processes_taking_blocks_never_exceed_the_shared_limit() -> None:
    settings = LimitSettings(
        rate_reads="1000/minute", rate_key_prefix=f"test:ratelimit:{uuid.uuid4().hex}"
    )
    first, second = RequestRateLimiter(settings, REDIS_URL), RequestRateLimiter(settings, REDIS_URL)
    try:
        assert first.block_size(Budget.READS) == 10
        accepted = 0
        for n in range(1100):  # two processes alternating, and concurrent requests of one key
            batch = await asyncio.gather(
                *((first if n % 2 else second).hit("key:k", Budget.READS) for _ in range(3))
            )
            accepted += sum(refusal is None for refusal in batch)
        assert 1000 - 2 * 10 <= accepted <= 1000  # never more; at most one block each unused
        refusal = await first.hit("key:k", Budget.READS)
        assert refusal is not None and refusal.retry_after_s >= 1
    finally:
        await first.close()
        await second.close()


@pytest.mark.redis
async def test_a_block_spends_one_redis_round_trip_for_many_requests() -> None:
    settings = LimitSettings(
        rate_reads="10000/minute", rate_key_prefix=f"test:ratelimit:{uuid.uuid4().hex}"
    )
    limiter = RequestRateLimiter(settings, REDIS_URL)
    try:
        for _ in range(250):
            assert await limiter.hit("key:k", Budget.READS) is None
        strategy = limiter._limiter()
        stats = await strategy.get_window_stats(limiter.items[Budget.READS], "reads", "key:k")
        assert 10000 - stats.remaining == 300  # three blocks of 100 taken for 250 requests
    finally:
        await limiter.close()


async def test_refused_credentials_are_looked_up_only_for_addresses_refused_here(
    limiter: RequestRateLimiter,
) -> None:
    limiter.items[Budget.AUTH_FAILURES] = limiter.items[Budget.ANONYMOUS]  # 2 per 2 seconds
    assert await limiter.spent("ip:c", Budget.AUTH_FAILURES) is None
    await limiter.refused("ip:c")
    await limiter.refused("ip:c")
    refusal = await limiter.spent("ip:c", Budget.AUTH_FAILURES)
    assert refusal is not None and refusal.budget is Budget.AUTH_FAILURES
    assert await limiter.spent("ip:d", Budget.AUTH_FAILURES) is None
