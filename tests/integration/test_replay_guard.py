"""Replay protection: one contract for the in-memory guard and the Redis one shared by processes."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable

import pytest

from graph.security.replay import MemoryReplayGuard, RedisReplayGuard, ReplayGuard
from tests.conftest import REDIS_URL

pytestmark = pytest.mark.asyncio(loop_scope="session")


def _memory_pair() -> tuple[ReplayGuard, ReplayGuard]:
    guard = MemoryReplayGuard(ttl_ms=200)
    return guard, guard  # one process: the same memory


def _redis_pair() -> tuple[ReplayGuard, ReplayGuard]:
    prefix = f"test:authn:{uuid.uuid4().hex}:"  # our own key space in the shared Redis
    return RedisReplayGuard(REDIS_URL, 200, prefix), RedisReplayGuard(REDIS_URL, 200, prefix)


@pytest.mark.parametrize(
    "pair",
    [
        pytest.param(_memory_pair, id="memory"),
        pytest.param(_redis_pair, id="redis", marks=pytest.mark.redis),
    ],
)
async def test_a_signature_is_accepted_once_by_every_process_until_it_is_forgotten(
    pair: Callable[[], tuple[ReplayGuard, ReplayGuard]],
) -> None:
    here, there = pair()
    try:
        assert await here.first_use("key_a", "ab" * 32)
        assert not await there.first_use("key_a", "AB" * 32)  # hex case does not matter
        assert await there.first_use("key_b", "ab" * 32)  # another key's signature
        await asyncio.sleep(0.3)
        assert await there.first_use("key_a", "ab" * 32)
    finally:
        await here.close()
        await there.close()
