"""Order id -> slot hash map over one 1-d int64 array (open addressing, linear probing).

One 8-byte word per bucket: ``(slot + 1) << 32 | tag``, where ``tag`` is the low 32 bits of
the key's hash (`tag_of`) and 0 marks an empty bucket. The key itself is not stored: a key
is up to 62 bits (order ids < LIQ_ORDER_ID_BASE) and a slot up to 31, which do not fit one
word together, and the order row already holds the id (O_ID). So a look-up confirms a tag
match against `orders[slot, O_ID]` (the row a cancel or amend reads next anyway): no false
hits whatever the ids. The home bucket is ``tag & mask``, the table has at most 2**32
buckets, and slots are below MAX_ORDERS < 2**31 (EngineConfig refuses more), so every word
is positive and nonzero (engine.layout IDMAP_*). A removal names the exact (tag, slot) word.

Deletion shifts later entries back instead of leaving tombstones, so the table never
degrades and its layout depends only on the sequence of operations (deterministic): the
same buckets as the [key, slot] pairs of snapshot version 3 (engine.state migrates them).
Pure kernels, no I/O.
"""

from __future__ import annotations

from engine.kernels.jit import inline, kernel
from engine.layout import IDMAP_SLOT_SHIFT, IDMAP_TAG_MASK, NIL, O_ID, I64Array


@inline
def tag_of(key: int) -> int:
    """The key's hash, low 32 bits; its low bits are the home bucket.

    Order ids are usually command sequence numbers, so consecutive ids land in consecutive
    buckets (no collisions, cache-friendly inserts); the fold spreads strided id patterns.
    """
    return (key ^ (key >> 17) ^ (key >> 34)) & IDMAP_TAG_MASK


@inline
def bucket_of(key: int, mask: int) -> int:
    """Home bucket of `key` in a table of `mask + 1` (<= 2**32) buckets."""
    return tag_of(key) & mask


@inline
def entry_of(key: int, slot: int) -> int:
    """The bucket word for `key` at `slot` (0 <= slot < MAX_ORDERS)."""
    return ((slot + 1) << IDMAP_SLOT_SHIFT) | tag_of(key)


@inline
def slot_of_entry(entry: int) -> int:
    """The slot a nonzero bucket word points at."""
    return (entry >> IDMAP_SLOT_SHIFT) - 1


@inline
def idmap_find(idmap: I64Array, orders: I64Array, key: int) -> int:
    """Slot of the live order `key`, or NIL (tag matches confirmed against O_ID)."""
    mask = idmap.shape[0] - 1
    tag = tag_of(key)
    i = tag & mask
    while True:
        e = idmap[i]
        if e == 0:
            return NIL
        if e & IDMAP_TAG_MASK == tag:
            slot = slot_of_entry(e)
            if orders[slot, O_ID] == key:
                return slot
        i = (i + 1) & mask


@inline
def idmap_probe(idmap: I64Array, key: int) -> int:
    """The first slot whose tag matches `key`, or NIL: a guess without reading any order
    row, for prefetch hints only (it may name another order's slot)."""
    mask = idmap.shape[0] - 1
    tag = tag_of(key)
    i = tag & mask
    while True:
        e = idmap[i]
        if e == 0:
            return NIL
        if e & IDMAP_TAG_MASK == tag:
            return slot_of_entry(e)
        i = (i + 1) & mask


@inline
def idmap_insert(idmap: I64Array, key: int, slot: int) -> None:
    """Insert a key known to be absent (the table is sized so it never fills)."""
    mask = idmap.shape[0] - 1
    i = tag_of(key) & mask
    while idmap[i] != 0:
        i = (i + 1) & mask
    idmap[i] = entry_of(key, slot)


@kernel
def idmap_remove(idmap: I64Array, key: int, slot: int) -> None:
    """Remove `key` at `slot` (known to be present), shifting its probe chain back."""
    mask = idmap.shape[0] - 1
    entry = entry_of(key, slot)
    i = entry & mask
    while idmap[i] != entry:
        i = (i + 1) & mask
    j = i
    while True:
        j = (j + 1) & mask
        e = idmap[j]
        if e == 0:
            break
        home = e & mask
        stays = (i < home <= j) if i <= j else (home > i or home <= j)
        if not stays:
            idmap[i] = e
            i = j
    idmap[i] = 0
