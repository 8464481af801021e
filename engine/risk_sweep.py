"""The risk sweep's Numba kernels (see engine/risk.py for the model): exact int64 only.

Imports no I/O and no asyncio; every function is `njit(cache=True, nogil=True)` over
arrays the caller owns. `error_model="numpy"` drops Python's zero-division checks (every
divisor here is the constant PPM or checked positive).
"""

from __future__ import annotations

import numpy as np
from numba import njit

from engine.layout import I64Array

PPM = 1_000_000
NOTIONAL_LIMIT = 1 << 62  # notionals (quote minor units) stay below this
_NEVER = np.iinfo(np.int64).max
_SIZE_SAFE = _NEVER // PPM  # sizes below this keep size * (a remainder < PPM) in int64
_UPPM, _UPPM_1 = np.uint64(PPM), np.uint64(PPM - 1)

_kernel = njit(cache=True, nogil=True, error_model="numpy")


@_kernel
def _ceil_ppm(notional: int, rate_ppm: int) -> int:
    """ceil(notional * rate_ppm / 1e6) for 0 <= notional < 2**62, 0 <= rate_ppm <= 1e6,
    without forming the (possibly overflowing) product."""
    whole = notional // PPM
    ceiling: int = whole * rate_ppm + (
        (notional - whole * PPM) * rate_ppm + PPM - 1) // PPM  # fmt: skip
    return ceiling


@_kernel
def maintenance_margin(notional: int, floors: I64Array, mmr_ppm: I64Array, maint: I64Array,
                       n: int) -> int:  # fmt: skip
    """Maintenance margin of a notional (quote minor units) under n brackets, rounded up."""
    k = 0
    for b in range(1, n):  # floors increase, so this counts passed floors
        k += floors[b] <= notional
    mm: int = _ceil_ppm(notional, mmr_ppm[k]) - maint[k]
    return mm


@_kernel
def _isolated_due(qty: int, cost: int, margin: int, qptl: int, mark: int, floors: I64Array,
                  mmr: I64Array, maint: I64Array, n: int) -> bool:  # fmt: skip
    """The exact test: margin + uPnL <= maintenance at this mark."""
    notional = (qty if qty >= 0 else -qty) * qptl * mark
    due: bool = margin + qty * qptl * mark - cost <= maintenance_margin(
        notional, floors, mmr, maint, n
    )
    return due


@_kernel
def _bisect(qty: int, cost: int, margin: int, q: int, fl: I64Array, r: I64Array,
            mt: I64Array, nb: int, due: int, safe: int) -> int:  # fmt: skip
    """The due mark next to the boundary, between a due and a safe (not due) mark."""
    while due - safe > 1 or safe - due > 1:
        mid = due + (safe - due) // 2  # strictly between them, either order
        if _isolated_due(qty, cost, margin, q, mid, fl, r, mt, nb):
            due = mid
        else:
            safe = mid
    return due


@_kernel
def _clamp(x: float, top: int) -> int:
    return int(min(max(x, 0.0), float(top)))


@_kernel
def _liquidation_key(qty: int, cost: int, margin: int, q: int, fl: I64Array, r: I64Array,
                     mt: I64Array, nb: int) -> int:  # fmt: skip
    """See `isolated_keys`. Float guesses narrow the bisection (a due mark where margin +
    uPnL <= 0, a safe one where it exceeds any maintenance); each is verified exactly and
    replaced by the range's end when wrong, so only the exact test decides."""
    size = (qty if qty > 0 else -qty) * q
    top = (NOTIONAL_LIMIT - 1) // size  # marks keeping the notional below 2**62
    base = margin - cost
    rate = r[:nb].max() / PPM
    if qty > 0:  # due at and below the boundary
        due = _clamp(-base / size, top)
        if not _isolated_due(qty, cost, margin, q, due, fl, r, mt, nb):
            due = 0
            if not _isolated_due(qty, cost, margin, q, 0, fl, r, mt, nb):
                return 1
        safe = top if rate >= 1 else _clamp((1 - base) / (size * (1 - rate)) + 2, top)
        if safe <= due or _isolated_due(qty, cost, margin, q, safe, fl, r, mt, nb):
            safe = top
            if _isolated_due(qty, cost, margin, q, top, fl, r, mt, nb):
                return -top
        return -_bisect(qty, cost, margin, q, fl, r, mt, nb, due, safe)
    due = _clamp(base / size + 1, top)  # a short: due at and above the boundary
    if not _isolated_due(qty, cost, margin, q, due, fl, r, mt, nb):
        due = top
        if not _isolated_due(qty, cost, margin, q, top, fl, r, mt, nb):
            return _NEVER
    safe = _clamp((base - 1) / (size * (1 + rate)) - 2, top)
    if safe >= due or _isolated_due(qty, cost, margin, q, safe, fl, r, mt, nb):
        safe = 0
        if _isolated_due(qty, cost, margin, q, 0, fl, r, mt, nb):
            return 0
    return _bisect(qty, cost, margin, q, fl, r, mt, nb, due, safe)


@_kernel
def isolated_keys(qty: I64Array, cost: I64Array, margin: I64Array, market: I64Array,
                  qptl: I64Array, floors: I64Array, mmr: I64Array, maint: I64Array,
                  n_brackets: I64Array) -> I64Array:  # fmt: skip
    """Per isolated position (qty != 0), a key due exactly when ``key <= -mark`` (long) or
    ``key <= mark`` (short), for every mark in [0, 2**62 / (|qty| * qptl)).

    A long's margin + uPnL - mm never falls as the mark rises (mm rises by at most 1 per
    notional unit), a short's never rises: the due marks are a half-line, whose end is
    found by bisection on the exact test. A long due at no mark gets key 1, a short the
    largest int64."""
    keys = np.empty(qty.shape[0], dtype=np.int64)
    for i in range(qty.shape[0]):
        m = market[i]
        keys[i] = _liquidation_key(qty[i], cost[i], margin[i], qptl[m], floors[m], mmr[m],
                                   maint[m], n_brackets[m])  # fmt: skip
    return keys


@_kernel
def _runs(size: I64Array, lo: int, hi: int, per_lot: int, floors: I64Array, mmr: I64Array,
          nb: int, ends: I64Array, whole: I64Array, part: I64Array) -> None:  # fmt: skip
    """Positions lo..hi sorted by size: where each bracket's run ends at this notional per
    lot, and per bracket ``per_lot * rate = whole * 1e6 + part`` (0 <= part < 1e6)."""
    start = lo
    for k in range(nb):
        if k + 1 < nb and per_lot > 0:
            need = -(-floors[k + 1] // per_lot)  # the smallest size reaching the next floor
            start += np.searchsorted(size[start:hi], need)
        else:  # the last bracket, or a mark of 0 (every notional 0: all in the first)
            start = hi
        ends[k] = start
        high, low = per_lot // PPM, per_lot % PPM
        whole[k] = high * mmr[k] + (low * mmr[k]) // PPM
        part[k] = (low * mmr[k]) % PPM


@_kernel
def _run_mm(size: int, whole: int, part: int, maint: int) -> int:
    """ceil(size * per_lot * rate / 1e6) - maint, from the run's split coefficients."""
    if size < _SIZE_SAFE:  # unsigned: a constant division is a multiply and a shift
        fraction = (np.uint64(size * part) + _UPPM_1) // _UPPM
        mm: int = size * whole + int(np.int64(fraction)) - maint
        return mm
    high = size // PPM  # only for sizes near 2**63 / 1e6 lots
    low = size - high * PPM
    mm = size * whole + high * part + (low * part + PPM - 1) // PPM - maint
    return mm


@_kernel
def _cross_run(account: I64Array, qty: I64Array, per_lot: int, whole: int, part: int,
               maint: int, acc: I64Array) -> None:  # fmt: skip
    """One bracket's run of cross positions: add each one's uPnL (qty * mark part; costs
    are pre-summed) and maintenance to its account's sums ``acc[a] = (upnl, mm)``, side
    by side so one cache line serves both."""
    for j in range(account.shape[0]):  # from 0: no negative-index wraparound
        a = np.uint64(account[j])  # unsigned: no wraparound on the scatter either
        q = qty[j]
        acc[a, 0] += q * per_lot
        acc[a, 1] += _run_mm(q if q >= 0 else -q, whole, part, maint)


@_kernel
def _cross_full(lo: int, hi: int, per_lot: int, account: I64Array, qty: I64Array,
                ends: I64Array, whole: I64Array, part: I64Array, maint: I64Array,
                acc: I64Array) -> None:  # fmt: skip
    """Every cross position of a market, run by run."""
    i = lo
    for k in range(ends.shape[0]):
        end = max(i, ends[k])
        _cross_run(account[i:end], qty[i:end], per_lot, whole[k], part[k], maint[k],
                   acc)  # fmt: skip
        i = end


@_kernel
def _cross_move(lo: int, hi: int, move: int, account: I64Array, qty: I64Array,
                size: I64Array, old: tuple[I64Array, I64Array, I64Array], new: tuple[
                    I64Array, I64Array, I64Array], maint: I64Array, acc: I64Array
                ) -> None:  # fmt: skip
    """Add every cross position's uPnL move and mm change (runs of the old and new marks)."""
    (old_ends, old_whole, old_part), (new_ends, new_whole, new_part) = old, new
    i, ko, kn = lo, 0, 0
    while i < hi:
        end = min(old_ends[ko], new_ends[kn])
        for j in range(i, end):
            a = account[j]
            acc[a, 0] += qty[j] * move
            acc[a, 1] += _run_mm(size[j], new_whole[kn], new_part[kn], maint[kn]) - _run_mm(
                size[j], old_whole[ko], old_part[ko], maint[ko])  # fmt: skip
        i = max(i, end)
        ko += old_ends[ko] <= i
        kn += new_ends[kn] <= i


@_kernel
def _due_isolated(lo: int, split: int, hi: int, key: I64Array, mark: int,
                  positions: I64Array, due: I64Array, n: int) -> int:  # fmt: skip
    """Append the due isolated positions: a prefix of the longs (key <= -mark) and of the
    shorts (key <= mark), each sorted by key."""
    for start, end, bound in ((lo, split, -mark), (split, hi, mark)):
        stop = start + np.searchsorted(key[start:end], bound, side="right")
        for i in range(start, stop):
            due[n] = positions[i]  # the caller's position index
            n += 1
    return n


@_kernel
def _due_accounts(accounts: I64Array, start: int, end: int, wallet: I64Array,
                  acc: I64Array, stamp: I64Array, generation: int,
                  due_accounts: I64Array, n: int) -> int:  # fmt: skip
    """Check accounts[start:end] once each this generation; append the due ones."""
    for t in range(start, end):
        a = accounts[t]
        if stamp[a] == generation:
            continue
        stamp[a] = generation
        if acc[a, 1] > 0 and wallet[a] + acc[a, 0] <= acc[a, 1]:
            due_accounts[n] = a
            n += 1
    return n


@_kernel
def on_marks(
    markets: I64Array, marks: I64Array, mark: I64Array, qptl: I64Array, positions: I64Array,
    bounds: I64Array, pos_account: I64Array, pos_qty: I64Array, pos_key: I64Array,
    floors: I64Array, mmr: I64Array, maint: I64Array, n_brackets: I64Array, wallet: I64Array,
    acc_cost: I64Array, acc: I64Array, market_accounts: I64Array,
    ma_start: I64Array, cross_accounts: I64Array, stamp: I64Array, generation: int,
    due_positions: I64Array, due_accounts: I64Array,
) -> tuple[int, int]:  # fmt: skip
    """Apply new marks to some markets; return (due isolated positions, due cross accounts).

    ``bounds[m]``: where market m's cross, long, short and flat isolated positions start,
    and where it ends. When every market moves once, the account sums are rebuilt (one
    maintenance computation per cross position); otherwise each moved cross position adds
    its change. The cross accounts checked are those holding a position in a moved market
    (a list per market, built at load); when most markets move, every cross account once.
    """
    n_markets = mark.shape[0]
    full = markets.shape[0] == n_markets  # distinct markets (checked by the caller)
    if full:
        acc[:, 0] = -acc_cost
        acc[:, 1] = 0
    depth = floors.shape[1]
    old_runs = (np.empty(depth, np.int64), np.empty(depth, np.int64), np.empty(depth, np.int64))
    new_runs = (np.empty(depth, np.int64), np.empty(depth, np.int64), np.empty(depth, np.int64))
    n_due = 0
    for k in range(markets.shape[0]):
        m = markets[k]
        old, new, q, nb = mark[m], marks[k], qptl[m], n_brackets[m]
        mark[m] = new
        lo, split = bounds[m, 0], bounds[m, 1]
        _runs(pos_key, lo, split, new * q, floors[m], mmr[m], nb, *new_runs)
        if full:
            _cross_full(lo, split, new * q, pos_account, pos_qty, new_runs[0][:nb],
                        new_runs[1], new_runs[2], maint[m], acc)  # fmt: skip
        else:
            _runs(pos_key, lo, split, old * q, floors[m], mmr[m], nb, *old_runs)
            _cross_move(lo, split, (new - old) * q, pos_account, pos_qty, pos_key, old_runs,
                        new_runs, maint[m], acc)  # fmt: skip
        n_due = _due_isolated(split, bounds[m, 2], bounds[m, 3], pos_key, new, positions,
                              due_positions, n_due)  # fmt: skip
    n_accounts = 0
    if 4 * markets.shape[0] >= n_markets:
        n_accounts = _due_accounts(cross_accounts, 0, cross_accounts.shape[0], wallet, acc,
                                   stamp, generation, due_accounts, 0)  # fmt: skip
    else:
        for k in range(markets.shape[0]):
            m = markets[k]
            n_accounts = _due_accounts(market_accounts, ma_start[m], ma_start[m + 1], wallet,
                                       acc, stamp, generation, due_accounts,
                                       n_accounts)  # fmt: skip
    return n_due, n_accounts
