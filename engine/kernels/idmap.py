"""Order id -> slot hash map over one int64 array (open addressing, linear probing).

Deletion shifts later entries back instead of leaving tombstones, so the table never
degrades and its layout depends only on the sequence of operations (deterministic).
Keys are order ids (> 0); key 0 marks an empty bucket. Pure kernels, no I/O.
"""

from __future__ import annotations

from engine.kernels.jit import inline, kernel
from engine.layout import ID_KEY, ID_SLOT, NIL, I64Array


@inline
def bucket_of(key: int, mask: int) -> int:
    """Home bucket: low bits folded with the next ones.

    Order ids are usually command sequence numbers, so consecutive ids land in consecutive
    buckets (no collisions, cache-friendly inserts); the fold spreads strided id patterns.
    """
    return (key ^ (key >> 17) ^ (key >> 34)) & mask


@inline
def idmap_find(idmap: I64Array, key: int) -> int:
    """Slot of `key`, or NIL."""
    mask = idmap.shape[0] - 1
    i = bucket_of(key, mask)
    while True:
        k = idmap[i, ID_KEY]
        if k == key:
            return int(idmap[i, ID_SLOT])
        if k == 0:
            return NIL
        i = (i + 1) & mask


@inline
def idmap_insert(idmap: I64Array, key: int, slot: int) -> None:
    """Insert a key known to be absent (the table is sized so it never fills)."""
    mask = idmap.shape[0] - 1
    i = bucket_of(key, mask)
    while idmap[i, ID_KEY] != 0:
        i = (i + 1) & mask
    idmap[i, ID_KEY] = key
    idmap[i, ID_SLOT] = slot


@kernel
def idmap_remove(idmap: I64Array, key: int) -> None:
    """Remove a key known to be present, shifting its probe chain back."""
    mask = idmap.shape[0] - 1
    i = bucket_of(key, mask)
    while idmap[i, ID_KEY] != key:
        i = (i + 1) & mask
    j = i
    while True:
        j = (j + 1) & mask
        k = idmap[j, ID_KEY]
        if k == 0:
            break
        home = bucket_of(k, mask)
        stays = (i < home <= j) if i <= j else (home > i or home <= j)
        if not stays:
            idmap[i, ID_KEY] = k
            idmap[i, ID_SLOT] = idmap[j, ID_SLOT]
            i = j
    idmap[i, ID_KEY] = 0
    idmap[i, ID_SLOT] = 0
