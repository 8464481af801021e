"""The order-id map's one-word buckets at their edges: the largest slot and tag, ids whose
tags collide, and a random insert / remove sequence against a dict."""

from __future__ import annotations

import random

import numpy as np
import pytest

from engine.codes import LIQ_ORDER_ID_BASE
from engine.kernels.idmap import (
    entry_of,
    idmap_find,
    idmap_insert,
    idmap_probe,
    idmap_remove,
    slot_of_entry,
    tag_of,
)
from engine.layout import (
    IDMAP_TAG_MASK,
    MAX_IDMAP_CAPACITY,
    MAX_ORDERS,
    NIL,
    O_ID,
    O_NFIELDS,
    EngineConfig,
)


def _with_tag(tag: int, high: int) -> int:
    """A key below LIQ_ORDER_ID_BASE with bits 32.. = `high` and the given tag: bit j of
    the tag is k_j ^ k_(j+17) ^ k_(j+34), solved from bit 31 down."""
    bits = [0] * 96
    for j in range(32, 62):
        bits[j] = (high >> (j - 32)) & 1
    for j in range(31, -1, -1):
        bits[j] = ((tag >> j) & 1) ^ bits[j + 17] ^ bits[j + 34]
    key = sum(b << j for j, b in enumerate(bits))
    assert tag_of(key) == tag and 0 <= key < LIQ_ORDER_ID_BASE
    return key


def _colliding(key: int, high: int) -> int:
    """Another key below LIQ_ORDER_ID_BASE with the same tag (the fold is linear over xor)."""
    return key ^ _with_tag(0, high)


def test_the_largest_slot_and_tag_make_a_positive_word_that_round_trips() -> None:
    key = _with_tag(IDMAP_TAG_MASK, 0x3FFFFFFF)
    for slot in (0, 1, MAX_ORDERS - 1):
        word = int(entry_of(key, slot))
        assert 0 < word < 1 << 63
        assert slot_of_entry(word) == slot
        assert word & IDMAP_TAG_MASK == IDMAP_TAG_MASK


def test_capacity_limits_are_refused_at_the_config() -> None:
    largest = EngineConfig(max_orders=MAX_ORDERS)
    assert largest.idmap_capacity == MAX_IDMAP_CAPACITY  # every home bucket fits the tag
    with pytest.raises(ValueError, match="max_orders"):
        EngineConfig(max_orders=MAX_ORDERS + 1)


def test_ids_with_the_same_tag_are_told_apart_by_the_order_row() -> None:
    idmap = np.zeros(64, dtype=np.int64)
    orders = np.zeros((16, O_NFIELDS), dtype=np.int64)
    a = LIQ_ORDER_ID_BASE - 1  # the largest id an order may have
    b = _colliding(a, 0x2A5A5A5)
    assert tag_of(a) == tag_of(b) and 0 < b < LIQ_ORDER_ID_BASE and a != b
    orders[5, O_ID], orders[7, O_ID] = a, b
    idmap_insert(idmap, a, 5)
    assert idmap_find(idmap, orders, b) == NIL
    assert idmap_probe(idmap, b) == 5  # a hint may name the other order
    idmap_insert(idmap, b, 7)
    assert (idmap_find(idmap, orders, a), idmap_find(idmap, orders, b)) == (5, 7)
    idmap_remove(idmap, a, 5)
    assert (idmap_find(idmap, orders, a), idmap_find(idmap, orders, b)) == (NIL, 7)
    idmap_remove(idmap, b, 7)
    assert not idmap.any()


def test_random_inserts_and_removes_agree_with_a_dict() -> None:
    rng = random.Random(4)
    capacity, n_slots = 64, 32
    idmap = np.zeros(capacity, dtype=np.int64)
    orders = np.zeros((n_slots, O_NFIELDS), dtype=np.int64)
    base = [1, 2, 3, LIQ_ORDER_ID_BASE - 1, 1 << 40]
    pool = (
        base
        + [_colliding(k, rng.getrandbits(30)) for k in base]
        + [rng.randrange(1, LIQ_ORDER_ID_BASE) for _ in range(40)]
    )
    live: dict[int, int] = {}
    free = list(range(n_slots))
    for _ in range(3_000):
        key = rng.choice(pool)
        if key in live:
            slot = live.pop(key)
            idmap_remove(idmap, key, slot)
            free.append(slot)
        elif free and len(live) < capacity // 2:
            slot = free.pop(rng.randrange(len(free)))
            orders[slot, O_ID] = key
            idmap_insert(idmap, key, slot)
            live[key] = slot
        for k in pool[:12]:
            assert idmap_find(idmap, orders, k) == live.get(k, NIL)
    assert int((idmap != 0).sum()) == len(live)
