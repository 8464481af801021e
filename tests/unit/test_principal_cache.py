"""The short-lived cache of verified tokens."""

from __future__ import annotations

import pytest

from domains.shared.context import Principal, Role
from graph.context import PrincipalCache

ALICE = Principal(key_id="key_a", role=Role.TRADER, tenant_id="ten_x", customer_id="cus_a")


def test_a_cached_token_expires_after_its_ttl(monkeypatch: pytest.MonkeyPatch) -> None:
    now = [1000.0]
    monkeypatch.setattr("graph.context.time.monotonic", lambda: now[0])
    cache = PrincipalCache(ttl_s=5)
    cache.put("key_a.secret", ALICE)
    assert cache.get("key_a.secret") == ALICE
    assert cache.get("key_a.other") is None
    now[0] += 5.1
    assert cache.get("key_a.secret") is None


def test_the_cache_is_bounded_and_forgets_the_oldest() -> None:
    cache = PrincipalCache(max_entries=2)
    for n in range(3):
        cache.put(f"t{n}", ALICE)
    assert cache.get("t0") is None and cache.get("t2") == ALICE
