"""Opaque, prefixed, sortable identifiers (``acc_01J...``): one kind of id per entity."""

from __future__ import annotations

import os
import time

_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"  # Crockford base32: no I, L, O, U


def _b32(value: int, length: int) -> str:
    chars = []
    for _ in range(length):
        chars.append(_ALPHABET[value & 31])
        value >>= 5
    return "".join(reversed(chars))


def new_id(prefix: str) -> str:
    """Return ``<prefix>_<ULID>``: 48-bit millisecond time + 80 random bits, lexically sortable."""
    ms = time.time_ns() // 1_000_000
    rand = int.from_bytes(os.urandom(10), "big")
    return f"{prefix}_{_b32(ms, 10)}{_b32(rand, 16)}"


def has_prefix(value: str, prefix: str) -> bool:
    """True when ``value`` looks like an id minted by ``new_id(prefix)``."""
    return value.startswith(prefix + "_") and len(value) == len(prefix) + 27
