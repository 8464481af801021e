"""Engine state: the preallocated arrays, their hash, and the snapshot byte format.

Everything that must survive a restart lives in `EngineState`'s arrays; nothing else does.
Snapshot format: magic, version, zlib-compressed payload (config + arrays), the state hash
of the arrays and a blake2b digest of all of it. Imports numpy and the standard library.
"""

from __future__ import annotations

import dataclasses
import hashlib
import struct
import zlib
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from engine.layout import (
    A_NFIELDS,
    AS_NFIELDS,
    B_NFIELDS,
    IDMAP_SLOT_SHIFT,
    IDMAP_TAG_MASK,
    LV_NFIELDS,
    M_NFIELDS,
    NIL,
    O_ACCOUNT,
    O_BITS,
    O_CLIENT_TAG,
    O_FEES,
    O_FILLED,
    O_ID,
    O_LOCKED,
    O_MARKET,
    O_NEXT,
    O_NFIELDS,
    O_PREV,
    O_PRICE,
    O_QTY,
    O_REMAINING,
    O_SEQ,
    O_STOP_PRICE,
    O_TS,
    OB_BYTE,
    OB_LEVERAGE_MASK,
    OF_MASK,
    ORDER_ROW_ALIGN,
    P_NFIELDS,
    PM_NFIELDS,
    S_FREE_HEAD,
    S_NFIELDS,
    SNAPSHOT_VERSION,
    EngineConfig,
    I64Array,
    pack_bits,
    pack_fees,
)

MAGIC = b"CAASENG\x00"
STATE_ARRAYS = (
    "orders", "levels", "markets", "bal", "accounts", "assets", "sc", "idmap", "pos", "perp",
)  # fmt: skip
_HEADER = struct.Struct("<8sII")  # magic, version, payload length
_DIGEST = 32


def _touched_zeros(shape: tuple[int, ...]) -> I64Array:
    """Zeros whose pages are already mapped: no page faults later, on the hot path."""
    arr = np.empty(shape, dtype=np.int64)
    arr.fill(0)
    return arr


def _aligned_zeros(shape: tuple[int, ...], align: int = ORDER_ROW_ALIGN) -> I64Array:
    """`_touched_zeros` whose first element sits at a multiple of `align` bytes (a view
    into a slightly larger buffer), so fixed-size rows map onto whole cache lines."""
    n = int(np.prod(shape))
    buf = np.empty(n + align // 8, dtype=np.int64)
    skip = (-buf.ctypes.data % align) // 8
    arr = buf[skip : skip + n].reshape(shape)
    arr.fill(0)
    return arr


class SnapshotError(ValueError):
    """The snapshot is truncated, corrupt, of another version, or fails its state hash."""


@dataclass
class EngineState:
    """The engine's arrays. `orders` has one extra, last row: the scratch taker row."""

    config: EngineConfig
    orders: I64Array
    levels: I64Array
    markets: I64Array
    bal: I64Array
    accounts: I64Array
    assets: I64Array
    sc: I64Array
    idmap: I64Array
    pos: I64Array  # perp positions [account, market, P_*]
    perp: I64Array  # perp market params, mark, brackets [market, PM_*]

    def __post_init__(self) -> None:
        if self.orders.ctypes.data % ORDER_ROW_ALIGN:  # restored or migrated rows
            aligned = _aligned_zeros(self.orders.shape)
            aligned[...] = self.orders
            self.orders = aligned

    @classmethod
    def allocate(cls, config: EngineConfig) -> EngineState:
        """Zeroed arrays with every slot on the free list."""
        orders = _aligned_zeros((config.max_orders + 1, O_NFIELDS))
        orders[: config.max_orders, O_NEXT] = np.arange(1, config.max_orders + 1)
        orders[config.max_orders - 1, O_NEXT] = NIL
        sc = np.zeros(S_NFIELDS, dtype=np.int64)
        sc[S_FREE_HEAD] = 0
        return cls(
            config=config,
            orders=orders,
            levels=_touched_zeros((config.max_markets, 2, config.max_price_levels, LV_NFIELDS)),
            markets=np.zeros((config.max_markets, M_NFIELDS), dtype=np.int64),
            bal=np.zeros((config.max_accounts, config.max_assets, B_NFIELDS), dtype=np.int64),
            accounts=np.zeros((config.max_accounts, A_NFIELDS), dtype=np.int64),
            assets=np.zeros((config.max_assets, AS_NFIELDS), dtype=np.int64),
            sc=sc,
            idmap=_touched_zeros((config.idmap_capacity,)),
            pos=np.zeros((config.max_accounts, config.max_markets, P_NFIELDS), dtype=np.int64),
            perp=np.zeros((config.max_markets, PM_NFIELDS), dtype=np.int64),
        )

    def arrays(self) -> list[I64Array]:
        """State arrays in their fixed order."""
        return [getattr(self, name) for name in STATE_ARRAYS]

    def state_hash(self) -> str:
        """blake2b over the config and every state array, hex."""
        h = hashlib.blake2b(digest_size=_DIGEST)
        h.update(self.config.to_array().tobytes())
        for arr in self.arrays():
            h.update(np.ascontiguousarray(arr).tobytes())
        return h.hexdigest()

    def to_bytes(self) -> bytes:
        """Snapshot bytes: header, compressed payload, state hash, digest of everything."""
        parts = [self.config.to_array().tobytes()]
        parts.extend(np.ascontiguousarray(a).tobytes() for a in self.arrays())
        payload = zlib.compress(b"".join(parts), 1)
        body = _HEADER.pack(MAGIC, SNAPSHOT_VERSION, len(payload)) + payload
        body += bytes.fromhex(self.state_hash())
        return body + hashlib.blake2b(body, digest_size=_DIGEST).digest()

    @classmethod
    def from_bytes(cls, data: bytes) -> EngineState:
        """Inverse of to_bytes; raises SnapshotError unless every check passes."""
        if len(data) < _HEADER.size + 2 * _DIGEST:
            raise SnapshotError("snapshot is truncated")
        body, digest = data[:-_DIGEST], data[-_DIGEST:]
        if hashlib.blake2b(body, digest_size=_DIGEST).digest() != digest:
            raise SnapshotError("snapshot digest mismatch: the data is corrupt")
        magic, version, length = _HEADER.unpack_from(body)
        if magic != MAGIC:
            raise SnapshotError("not an engine snapshot")
        if version not in (SNAPSHOT_VERSION, *_MIGRATIONS):
            raise SnapshotError(f"snapshot version {version}, expected {SNAPSHOT_VERSION}")
        payload = body[_HEADER.size : _HEADER.size + length]
        stored_hash = body[_HEADER.size + length :].hex()
        state = cls._decode(zlib.decompress(payload), version)
        if state.state_hash() != stored_hash:
            raise SnapshotError("state hash mismatch after restore")
        for step in range(version, SNAPSHOT_VERSION):  # each migration: one version up
            state = _MIGRATIONS[step](state)
        return state

    @classmethod
    def _decode(cls, raw: bytes, version: int = SNAPSHOT_VERSION) -> EngineState:
        n_cfg = len(EngineConfig().to_array())
        config = EngineConfig.from_array(np.frombuffer(raw[: 8 * n_cfg], dtype=np.int64))
        blank = cls.allocate(config)
        offset = 8 * n_cfg
        arrays = {}
        for name, template in zip(STATE_ARRAYS, blank.arrays(), strict=True):
            shape = _shape_at(version, name, template)
            size = int(np.prod(shape)) * 8
            chunk = np.frombuffer(raw[offset : offset + size], dtype=np.int64)
            if chunk.size * 8 != size:
                raise SnapshotError(f"snapshot array {name} is truncated")
            arrays[name] = chunk.reshape(shape).copy()
            offset += size
        if offset != len(raw):
            raise SnapshotError("snapshot has trailing data")
        return cls(config=config, **arrays)


def _from_v2(state: EngineState) -> EngineState:
    """Version 2 had no account mode column: every account was NORMAL (0)."""
    accounts = np.zeros((state.accounts.shape[0], A_NFIELDS), dtype=np.int64)
    accounts[:, : state.accounts.shape[1]] = state.accounts
    return dataclasses.replace(state, accounts=accounts)


def _idmap_from_pairs(pairs: I64Array) -> I64Array:
    """Version 3's [key, slot] buckets as version 4's words, each in the same bucket (the
    home bucket of a key is unchanged, so the probe chains stay valid)."""
    keys, slots = pairs[:, 0], pairs[:, 1]
    tags = (keys ^ (keys >> 17) ^ (keys >> 34)) & IDMAP_TAG_MASK
    words = _touched_zeros((pairs.shape[0],))
    used = keys != 0
    words[used] = ((slots[used] + 1) << IDMAP_SLOT_SHIFT) | tags[used]
    return words


# Version 3's 23 order-row columns, by name (engine.layout O_* of snapshot version 3)
_V3_ORDER_COLUMNS = (
    "id", "account", "market", "side", "order_type", "tif", "flags", "stp", "status", "price",
    "stop_price", "qty", "remaining", "filled", "locked", "maker_bps", "taker_bps", "next",
    "prev", "seq", "ts", "client_tag", "leverage",
)  # fmt: skip
_V3_PACKED_LIMITS = {
    "side": OB_BYTE, "order_type": OB_BYTE, "tif": OB_BYTE, "flags": OB_BYTE, "stp": OB_BYTE,
    "status": OB_BYTE, "leverage": OB_LEVERAGE_MASK, "maker_bps": OF_MASK, "taker_bps": OF_MASK,
}  # fmt: skip


def _orders_from_v3(old: I64Array) -> I64Array:
    """Version 3's 23-column order rows as 16-column rows (small fields packed); refuses a
    value that its packed field could not hold rather than truncate it."""
    col = {name: old[:, i] for i, name in enumerate(_V3_ORDER_COLUMNS)}
    for name, limit in _V3_PACKED_LIMITS.items():
        if ((col[name] < 0) | (col[name] > limit)).any():
            raise SnapshotError(f"version 3 order rows: {name} outside 0..{limit}")
    new = _aligned_zeros((old.shape[0], O_NFIELDS))
    for name, dest in (
        ("id", O_ID), ("account", O_ACCOUNT), ("market", O_MARKET), ("price", O_PRICE),
        ("remaining", O_REMAINING), ("filled", O_FILLED), ("locked", O_LOCKED),
        ("next", O_NEXT), ("prev", O_PREV), ("qty", O_QTY), ("stop_price", O_STOP_PRICE),
        ("seq", O_SEQ), ("ts", O_TS), ("client_tag", O_CLIENT_TAG),
    ):  # fmt: skip
        new[:, dest] = col[name]
    new[:, O_BITS] = pack_bits(
        col["side"], col["order_type"], col["tif"], col["flags"], col["stp"], col["status"],
        col["leverage"],
    )  # fmt: skip
    new[:, O_FEES] = pack_fees(col["maker_bps"], col["taker_bps"])
    return new


def _from_v3(state: EngineState) -> EngineState:
    """Version 3 kept the id map as [key, slot] pairs (16 bytes a bucket) and 23-column
    order rows (184 bytes)."""
    idmap = _idmap_from_pairs(state.idmap)
    return dataclasses.replace(state, idmap=idmap, orders=_orders_from_v3(state.orders))


def _shape_at(version: int, name: str, template: I64Array) -> tuple[int, ...]:
    """The shape array `name` had in a snapshot of `version` (template: today's)."""
    shape: tuple[int, ...] = template.shape
    for (since, array), old in _OLD_SHAPES.items():
        if array == name and version < since:
            shape = old(template)
    return shape


# Older snapshot versions this version still reads: the shapes arrays had before a version
# (key: (first version with today's shape, array); the oldest change is applied last, so
# list them newest first), and the step that brings a decoded (hash-checked) state of a
# version to the next one.
_OLD_SHAPES: dict[tuple[int, str], Callable[[I64Array], tuple[int, ...]]] = {
    (4, "idmap"): lambda t: (t.shape[0], 2),
    (4, "orders"): lambda t: (t.shape[0], len(_V3_ORDER_COLUMNS)),
    (3, "accounts"): lambda t: (t.shape[0], 2),
}
_MIGRATIONS: dict[int, Callable[[EngineState], EngineState]] = {2: _from_v2, 3: _from_v3}
