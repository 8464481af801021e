"""Benchmark workload generator (a kernel so 5M commands generate in well under a second).

Deterministic for a seed: Numba's per-thread random state is seeded by `seed_workload`.
Mix: ~60% GTC limits near the mid, ~30% cancels of live orders (the generator reads the
engine's order-id map, so it is called just before each batch it generates), ~10% market
or IOC orders. Not used by the engine itself. No I/O.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from engine.codes import BUY, CANCEL_ORDER, IOC, LIMIT, MARKET, PLACE_ORDER, SELL
from engine.kernels.idmap import idmap_find
from engine.layout import NIL, Record, Records

# gen[...] state cells
G_SEQ = 0
G_MID = 1
G_POOL = 2  # live-order pool size
G_NFIELDS = 3


@njit(cache=True)
def seed_workload(seed: int) -> None:
    """Seed Numba's random state (separate from numpy's global state)."""
    np.random.seed(seed)


@njit(cache=True, nogil=True)
def _place(rec: Record, seq: int, account: int, side: int, price: int, qty: int) -> None:
    rec.seq = seq
    rec.ts_ns = seq * 1_000
    rec.kind = PLACE_ORDER
    rec.order_id = seq
    rec.account = account
    rec.market = 0
    rec.side = side
    rec.price = price
    rec.qty = qty
    rec.order_type = LIMIT


@njit(cache=True, nogil=True)
def live_pick(
    gen: np.ndarray,
    pool: np.ndarray,
    owner: np.ndarray,
    idmap: np.ndarray,
    orders: np.ndarray,
    applied: int,
) -> int:
    """Index of a random live (or not yet applied) order in the pool, dropping dead ones."""
    while gen[G_POOL] > 0:
        k = np.random.randint(0, gen[G_POOL])
        if pool[k] > applied or idmap_find(idmap, orders, pool[k]) != NIL:
            return int(k)
        last = gen[G_POOL] - 1
        pool[k], owner[k] = pool[last], owner[last]
        gen[G_POOL] = last
    return -1


@njit(cache=True, nogil=True)
def generate(
    out: Records,
    gen: np.ndarray,
    pool: np.ndarray,
    pool_owner: np.ndarray,
    n_accounts: int,
    idmap: np.ndarray,
    orders: np.ndarray,
    applied: int,
) -> None:
    """Fill `out` (zeroed) with the next commands of the workload."""
    for i in range(out.shape[0]):
        seq = gen[G_SEQ] + 1
        gen[G_SEQ] = seq
        if seq % 1_000 == 0:
            gen[G_MID] += np.random.randint(-2, 3)
        mid = gen[G_MID]
        rec = out[i]
        roll = np.random.random()
        account = np.random.randint(0, n_accounts)
        side = BUY if np.random.random() < 0.5 else SELL
        k = live_pick(gen, pool, pool_owner, idmap, orders, applied) if roll < 0.30 else -1
        if k >= 0:
            rec.seq = seq
            rec.ts_ns = seq * 1_000
            rec.kind = CANCEL_ORDER
            rec.order_id = pool[k]
            rec.account = pool_owner[k]
            last = gen[G_POOL] - 1
            pool[k] = pool[last]
            pool_owner[k] = pool_owner[last]
            gen[G_POOL] = last
        elif 0.30 <= roll < 0.40:
            _place(rec, seq, account, side, 0, np.random.randint(1, 30))
            if np.random.random() < 0.5:
                rec.order_type = MARKET
            else:
                rec.price = mid + 3 if side == BUY else mid - 3
            rec.tif = IOC
        else:
            depth = int(np.random.exponential(6.0)) - (1 if np.random.random() < 0.1 else -1)
            price = mid - depth if side == BUY else mid + depth
            _place(rec, seq, account, side, price, np.random.randint(1, 10))
            pool[gen[G_POOL]] = seq
            pool_owner[gen[G_POOL]] = account
            gen[G_POOL] += 1
