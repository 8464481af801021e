"""Engine: owns the state arrays; apply(commands) -> events; snapshot / restore; read helpers.

The only Python on the hot path is `apply`, one call into `kernels.batch.apply_batch` per
batch. Pure and deterministic: no asyncio, no I/O, no clock. See engine.codes for the fee
and lock model and engine.layout for the command and event fields.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numba
import numpy as np

from engine import codes
from engine.kernels.batch import apply_batch
from engine.kernels.idmap import idmap_find
from engine.layout import (
    A_MAKER_BPS,
    A_MODE,
    A_TAKER_BPS,
    AS_CREDITS,
    AS_DEBITS,
    AS_FEES,
    AS_OPEN_COST,
    B_AVAILABLE,
    B_HELD,
    B_LOCKED,
    BR_FLOOR,
    BR_MAINT,
    BR_MAX_LEVERAGE,
    BR_MMR_PPM,
    BR_NFIELDS,
    COMMAND_DTYPE,
    EVENT_DTYPE,
    LV_HEAD,
    LV_PRICE,
    LV_QTY,
    M_ACTIVE,
    M_BOOK_SEQ,
    M_FEE_ACCOUNT,
    M_LAST_PRICE,
    M_NLEVELS,
    M_PERP,
    M_REF_PRICE,
    M_STATUS,
    M_STOP_HEAD,
    M_TRADE_SEQ,
    NIL,
    O_ACCOUNT,
    O_ID,
    O_MARKET,
    O_NEXT,
    P_COST,
    P_LEVERAGE,
    P_MARGIN,
    P_MODE,
    P_QTY,
    P_REALIZED,
    PM_BRACKETS,
    PM_INDEX,
    PM_INSURANCE,
    PM_MARK,
    PM_NBRACKETS,
    PM_NEXT_FUNDING,
    S_LAST_SEQ,
    EngineConfig,
    I64Array,
    Records,
    unpack_row,
)
from engine.order_state import OrderState
from engine.state import EngineState, SnapshotError

__all__ = ["Bracket", "Engine", "OrderState", "PerpPosition", "SnapshotError"]


@dataclass(frozen=True)
class PerpPosition:
    """A perpetual position (integers: lots, quote minor units)."""

    qty: int  # signed lots, long > 0
    cost: int  # signed: entry price = cost / (qty * quote_per_tick_lot)
    margin: int  # position margin (locked quote)
    leverage: int
    mode: int  # codes.MARGIN_CROSS / MARGIN_ISOLATED
    realized: int  # cumulative realised PnL, funding included


@dataclass(frozen=True)
class Bracket:
    """A maintenance bracket: mm = ceil(notional * rate_ppm / 1e6) - maint_amount."""

    notional_floor_minor: int
    maint_rate_ppm: int
    maint_amount_minor: int
    max_leverage: int


_LIVE = (codes.NEW, codes.PARTIALLY_FILLED, codes.PENDING_TRIGGER)
_EVENT_WORDS = EVENT_DTYPE.itemsize // 8
_EVENT_SIZE = EVENT_DTYPE.itemsize
_DISPATCHER: Any = apply_batch  # the Numba dispatcher (its compiled overloads)
_ENTRY: dict[str, Any] = {}  # compiled entry points, filled on first use (see Engine._call)
# Batches of at least this many commands get a new event array per call (Engine._apply_fresh);
# smaller ones write into the engine's buffer and copy out the few events (cheaper than
# allocating a structured array, ~1 us, when the batch is one command).
_FRESH_MIN_COMMANDS = 64
_FRESH_EVENTS_PER_COMMAND = 8  # about twice the usual mix's rate; the kernel asks for more


def _joined(chunks: list[Records]) -> Records:
    """Event chunks as one array, byte for byte (np.concatenate copies structured records
    field by field and leaves their padding undefined)."""
    out: Records = np.frombuffer(bytearray(b"".join(ch.tobytes() for ch in chunks)), EVENT_DTYPE)
    return out


def _fresh_capacity(n_commands: int, need: int) -> int:
    """Events to allocate for `n_commands`: room for the usual rate on top of `need` (the
    next command's worst case, when the kernel stopped for lack of room). Only `need` was a
    new array per command once a busy perpetual's worst case (16 events per live order, 64
    per open position: ~58k) exceeded the rest: 5,242 kernel calls for 25,000 commands."""
    return need + _FRESH_EVENTS_PER_COMMAND * n_commands + 512


class Engine:
    """The deterministic matching and balances core."""

    def __init__(self, config: EngineConfig | None = None) -> None:
        self._state = EngineState.allocate(config or EngineConfig())
        cfg = self.config
        # balances and positions touched by one command: (account, asset) or (account, -1 - m)
        self._touched = np.zeros(
            (cfg.max_accounts * (cfg.max_assets + cfg.max_markets), 2), np.int64
        )
        self._alloc_events(1 << 16)

    @property
    def config(self) -> EngineConfig:
        """Capacities this engine was built with."""
        return self._state.config

    # --- commands -------------------------------------------------------------------------
    def _alloc_events(self, capacity: int) -> None:
        # Events are written through a structured view of a plain int64 buffer and copied out
        # as bytes: structured-array copies and views cost microseconds each in numpy, which
        # would dominate a batch of one.
        self._raw_events = np.zeros(capacity * _EVENT_WORDS, dtype=np.int64)
        self._events: Records = self._raw_events.view(EVENT_DTYPE)
        self._event_bytes = self._raw_events.data.cast("B")

    def _take_events(self, n: int) -> Records:
        out: Records = np.frombuffer(bytearray(self._event_bytes[: n * _EVENT_SIZE]), EVENT_DTYPE)
        return out

    def _call(self, commands: Records, events: Records) -> tuple[int, int, int]:
        """One apply_batch call on the compiled code, without Numba's type dispatch.

        The dispatcher resolves the types of all thirteen arguments on every call (~1.5 us);
        every argument here always has the same type (the state arrays are ours, `apply`
        normalises the commands, event buffers are C-contiguous EVENT_DTYPE arrays), so
        after the first call the compiled entry point is called directly.
        """
        s = self._state
        args = (
            s.orders, s.levels, s.markets, s.bal, s.accounts, s.assets, s.sc, s.idmap,
            self._touched, s.pos, s.perp, commands, events,
        )  # fmt: skip
        entry = _ENTRY.get("apply_batch")
        if entry is None:
            result: tuple[int, int, int] = apply_batch(*args)
            signature = tuple(numba.typeof(a) for a in args)  # type: ignore[no-untyped-call]
            _ENTRY["apply_batch"] = _DISPATCHER.overloads[signature].entry_point
            return result
        called: tuple[int, int, int] = entry(*args)
        return called

    def apply(self, commands: Records) -> Records:
        """Apply a batch of COMMAND_DTYPE records in order; return their events.

        The result is a new array, never shared with the engine or with another call. One
        kernel call in the usual case. If the event buffer lacks room for the next
        command's worst case, the kernel stops before it, and the call resumes with the
        remaining commands in a larger buffer: commands are never split, events never
        dropped.
        """
        if commands.dtype is not COMMAND_DTYPE:
            if commands.dtype != COMMAND_DTYPE or commands.ndim != 1:
                raise TypeError("commands must be a 1-d array of engine.layout.COMMAND_DTYPE")
            commands = commands.view(COMMAND_DTYPE)  # same layout: one compiled signature
        flags = commands.flags
        if commands.ndim != 1 or not (flags.c_contiguous and flags.aligned and flags.writeable):
            if commands.ndim != 1:
                raise TypeError("commands must be a 1-d array of engine.layout.COMMAND_DTYPE")
            commands = np.array(commands, dtype=COMMAND_DTYPE, order="C")
        if len(commands) >= _FRESH_MIN_COMMANDS:
            return self._apply_fresh(commands)
        n, done, need = self._call(commands, self._events)
        if done == len(commands):
            return self._take_events(n)
        chunks = [self._take_events(n)]
        while done < len(commands):
            if need > len(self._events):
                self._alloc_events(max(2 * len(self._events), need))
            n, applied, need = self._call(commands[done:], self._events)
            chunks.append(self._take_events(n))
            done += applied
        return _joined(chunks)

    def _apply_fresh(self, commands: Records) -> Records:
        """`apply` for larger batches: the kernel writes into a new array that is returned
        as is (a view of its first events), instead of into the engine's buffer and then
        copied out (the copy was ~7% of a batch of 1,000)."""
        events: Records = np.empty(_fresh_capacity(len(commands), 0), EVENT_DTYPE)
        n, done, need = self._call(commands, events)
        if done == len(commands):
            return events[:n]
        chunks = [events[:n]]
        while done < len(commands):
            events = np.empty(_fresh_capacity(len(commands) - done, need), EVENT_DTYPE)
            n, applied, need = self._call(commands[done:], events)
            chunks.append(events[:n])
            done += applied
        return _joined(chunks)

    @property
    def order_index(self) -> I64Array:
        """The live order-id hash map (read-only use: engine.kernels.idmap.idmap_find)."""
        return self._state.idmap

    @property
    def order_rows(self) -> I64Array:
        """The order rows the map's slots index (read-only use, with `order_index`)."""
        return self._state.orders

    @property
    def last_seq(self) -> int:
        """Sequence number of the last command applied (0 before any)."""
        return int(self._state.sc[S_LAST_SEQ])

    # --- persistence ----------------------------------------------------------------------
    def snapshot(self) -> bytes:
        """Self-verifying bytes of the whole state (see engine.state)."""
        return self._state.to_bytes()

    @classmethod
    def restore(cls, data: bytes) -> Engine:
        """Rebuild an engine from `snapshot()` bytes; raises SnapshotError if corrupt."""
        state = EngineState.from_bytes(data)
        engine = cls(state.config)
        engine._state = state
        return engine

    def state_hash(self) -> str:
        """Hex digest of the full state; equal hashes mean bit-identical engines."""
        return self._state.state_hash()

    # --- reads ----------------------------------------------------------------------------
    def balance(self, account: int, asset: int) -> tuple[int, int]:
        """(available, locked) in minor units."""
        b = self._state.bal[account, asset]
        return int(b[B_AVAILABLE]), int(b[B_LOCKED])

    def balance_table(self) -> I64Array:
        """A copy of every balance: ``[account, asset] -> (available, locked)`` in minor
        units (what a reconciliation compares at one sequence while the engine goes on)."""
        return self._state.bal[:, :, [B_AVAILABLE, B_LOCKED]].copy()

    def balances_of(self, account: int) -> dict[int, tuple[int, int]]:
        """{asset: (available, locked)} for every asset the account holds or locks."""
        b = self._state.bal[account]
        return {
            asset: (int(b[asset, B_AVAILABLE]), int(b[asset, B_LOCKED]))
            for asset in range(b.shape[0])
            if b[asset, B_AVAILABLE] or b[asset, B_LOCKED]
        }

    def withdrawal_held(self, account: int, asset: int) -> int:
        """The part of `locked` held for pending withdrawals."""
        return int(self._state.bal[account, asset, B_HELD])

    def book(
        self, market: int, depth: int = 20
    ) -> tuple[list[tuple[int, int]], list[tuple[int, int]]]:
        """(bids, asks), best first, as (price_ticks, qty_lots)."""
        s = self._state
        sides: list[list[tuple[int, int]]] = []
        for side in (codes.BUY, codes.SELL):
            n = int(s.markets[market, M_NLEVELS + side])
            lv = s.levels[market, side]
            rows = range(n - 1, max(n - 1 - depth, -1), -1)
            sides.append([(int(lv[i, LV_PRICE]), int(lv[i, LV_QTY])) for i in rows])
        return sides[0], sides[1]

    def market_seq(self, market: int) -> int:
        """The market's book sequence: the market_seq of its last BOOK_DELTA."""
        return int(self._state.markets[market, M_BOOK_SEQ])

    def market_state(self, market: int) -> dict[str, int] | None:
        """Dynamic fields of a market, or None if it does not exist."""
        m = self._state.markets
        if not 0 <= market < len(m) or not m[market, M_ACTIVE]:
            return None
        return {
            "status": int(m[market, M_STATUS]),
            "reference_price_ticks": int(m[market, M_REF_PRICE]),
            "last_price_ticks": int(m[market, M_LAST_PRICE]),
            "book_seq": int(m[market, M_BOOK_SEQ]),
            "trade_seq": int(m[market, M_TRADE_SEQ]),
        }

    def fee_account(self, market: int) -> int:
        """The account the market's fees are credited to."""
        return int(self._state.markets[market, M_FEE_ACCOUNT])

    # --- perpetuals ------------------------------------------------------------------------
    def is_perpetual(self, market: int) -> bool:
        """Was the market added as a perpetual?"""
        m = self._state.markets
        return 0 <= market < len(m) and bool(m[market, M_ACTIVE]) and bool(m[market, M_PERP])

    def position(self, account: int, market: int) -> PerpPosition | None:
        """The account's position in a perpetual market (None if not a perpetual), also
        flat ones: they carry the leverage and margin mode settings."""
        if not self.is_perpetual(market):
            return None
        p = self._state.pos[account, market]
        lev = int(p[P_LEVERAGE])
        if lev == 0:
            br = self.brackets(market)
            lev = min(codes.DEFAULT_LEVERAGE, br[0].max_leverage) if br else codes.DEFAULT_LEVERAGE
        return PerpPosition(
            qty=int(p[P_QTY]), cost=int(p[P_COST]), margin=int(p[P_MARGIN]), leverage=lev,
            mode=int(p[P_MODE]), realized=int(p[P_REALIZED]),
        )  # fmt: skip

    def positions_of(self, account: int) -> dict[int, PerpPosition]:
        """{market: position} for every open position of the account."""
        out: dict[int, PerpPosition] = {}
        for m in np.nonzero(self._state.pos[account, :, P_QTY])[0]:
            found = self.position(account, int(m))
            if found is not None:
                out[int(m)] = found
        return out

    def mark(self, market: int) -> tuple[int, int, int]:
        """(mark_ticks, index_ticks, next_funding_ns); zeros before the first index."""
        pm = self._state.perp[market]
        return int(pm[PM_MARK]), int(pm[PM_INDEX]), int(pm[PM_NEXT_FUNDING])

    def brackets(self, market: int) -> list[Bracket]:
        """The market's maintenance brackets, by floor."""
        pm = self._state.perp[market]
        out = []
        for k in range(int(pm[PM_NBRACKETS])):
            b = pm[PM_BRACKETS + k * BR_NFIELDS : PM_BRACKETS + (k + 1) * BR_NFIELDS]
            out.append(
                Bracket(int(b[BR_FLOOR]), int(b[BR_MMR_PPM]), int(b[BR_MAINT]),
                        int(b[BR_MAX_LEVERAGE]))
            )  # fmt: skip
        return out

    def insurance_account(self, market: int) -> int:
        """The account holding the market's insurance fund."""
        return int(self._state.perp[market, PM_INSURANCE])

    def account_mode(self, account: int) -> int:
        """The account's trading mode (codes.ACCOUNT_MODE_*)."""
        return int(self._state.accounts[account, A_MODE])

    def fee_rate(self, account: int) -> tuple[int, int]:
        """(maker_bps, taker_bps) applied to the account's next orders."""
        a = self._state.accounts[account]
        return int(a[A_MAKER_BPS]), int(a[A_TAKER_BPS])

    def order_state(self, order_id: int) -> OrderState | None:
        """A live order (resting or pending stop), or None."""
        if order_id <= 0:
            return None
        slot = int(idmap_find(self._state.idmap, self._state.orders, order_id))
        return None if slot == NIL else OrderState.from_row(self._state.orders[slot])

    def open_orders(self, account: int, market: int | None = None) -> list[OrderState]:
        """Live orders of an account, by acceptance sequence."""
        rows = self._state.orders[:-1]
        mask = np.isin(unpack_row(rows)["status"], _LIVE) & (rows[:, O_ACCOUNT] == account)
        if market is not None:
            mask &= rows[:, O_MARKET] == market
        found = [OrderState.from_row(r) for r in rows[mask]]
        return sorted(found, key=lambda o: o.seq)

    def asset_totals(self, asset: int) -> dict[str, int]:
        """Credits, debits, fees collected, the sum of all balances of an asset and the open
        cost of the perp positions margined in it: balances - open_cost == credits - debits."""
        s = self._state
        held = s.bal[:, asset, B_AVAILABLE].sum() + s.bal[:, asset, B_LOCKED].sum()
        return {
            "credits": int(s.assets[asset, AS_CREDITS]),
            "debits": int(s.assets[asset, AS_DEBITS]),
            "fees": int(s.assets[asset, AS_FEES]),
            "balances": int(held),
            "open_cost": int(s.assets[asset, AS_OPEN_COST]),
        }

    def dump(self) -> dict[str, Any]:
        """Canonical state for comparison with engine.reference (same shape there)."""
        s = self._state
        books: dict[tuple[int, int], list[tuple[int, int, list[int]]]] = {}
        stops: dict[int, list[int]] = {}
        markets: dict[int, dict[str, int]] = {}
        for m in range(self.config.max_markets):
            state = self.market_state(m)
            if state is None:
                continue
            markets[m] = state
            for side in (codes.BUY, codes.SELL):
                books[(m, side)] = self._levels(m, side)
            stops[m] = self._chain(int(s.markets[m, M_STOP_HEAD]))
        rows = s.orders[:-1]
        live = rows[np.isin(unpack_row(rows)["status"], _LIVE)]
        orders = {o.order_id: o for o in (OrderState.from_row(r) for r in live)}
        balances = {
            (a, k): tuple(int(v) for v in s.bal[a, k, :3])
            for a, k in zip(*np.nonzero(s.bal[:, :, :3].any(axis=2)), strict=True)
        }
        return {
            "last_seq": self.last_seq,
            "markets": markets,
            "books": books,
            "stops": stops,
            "orders": orders,
            "balances": balances,
            "fee_rates": {
                int(a): self.fee_rate(int(a))
                for a in np.nonzero(s.accounts[:, [A_MAKER_BPS, A_TAKER_BPS]].any(axis=1))[0]
            },
            "account_modes": {
                int(a): int(s.accounts[a, A_MODE]) for a in np.nonzero(s.accounts[:, A_MODE])[0]
            },
            "assets": {
                int(k): tuple(int(v) for v in s.assets[k, :3])
                for k in np.nonzero(s.assets[:, :3].any(axis=1))[0]
            },
        }

    def _levels(self, market: int, side: int) -> list[tuple[int, int, list[int]]]:
        s = self._state
        lv = s.levels[market, side]
        n = int(s.markets[market, M_NLEVELS + side])
        return [
            (int(lv[i, LV_PRICE]), int(lv[i, LV_QTY]), self._chain(int(lv[i, LV_HEAD])))
            for i in range(n - 1, -1, -1)
        ]

    def _chain(self, slot: int) -> list[int]:
        ids = []
        orders = self._state.orders
        while slot != NIL:
            ids.append(int(orders[slot, O_ID]))
            slot = int(orders[slot, O_NEXT])
        return ids
