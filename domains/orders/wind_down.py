"""Wind-down in the engine: a tenant's trading mode applied to each of its engine accounts.

Implements the accounts domain's TradingModeEnforcer port. Every step is a journaled engine
command, so a replay of the journal gives the same state: first SET_ACCOUNT_MODE for every
account of the tenant (nothing new can enter after it), then for WITHDRAW_ONLY and
WOUND_DOWN a CANCEL_ALL per account and market with live orders, and for WOUND_DOWN a
CLOSE_POSITION_AT_MARK per open perpetual position (the insurance fund takes the other side
at the mark; the engine emits POSITION_CHANGED for both and an EV_LIQUIDATION step coded
LIQ_WOUND_DOWN). Accounts that get an engine index later are given their tenant's mode when
the index is assigned (``on_new_account``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Protocol

from domains.accounts.model import TradingMode
from domains.accounts.trading_mode import (
    WindDownReport,
    cancels_open_orders,
    closes_positions,
)
from domains.orders.outcomes import outcome
from domains.shared.engine_port import (
    AccountRef,
    CommandBus,
    Submitted,
    engine_caught_up,
    submit_in_groups,
)
from engine import codes
from engine import commands as cmd
from engine.layout import Records

if TYPE_CHECKING:  # the edge role never loads Numba
    from engine.core import Engine

log = logging.getLogger("caas.wind_down")
NOTE_WIND_DOWN = "trading_mode"  # the note key every wind-down command carries


def engine_mode(mode: TradingMode) -> int:
    """The engine's per-account mode for a tenant mode (CANCEL_ONLY for every mode that
    takes no new orders)."""
    if mode is TradingMode.NORMAL:
        return codes.ACCOUNT_MODE_NORMAL
    if mode is TradingMode.REDUCE_ONLY:
        return codes.ACCOUNT_MODE_REDUCE_ONLY
    return codes.ACCOUNT_MODE_CANCEL_ONLY


def _set_mode(account: int, mode: TradingMode) -> Records:
    return cmd.set_account_mode(0, 0, account=account, mode=engine_mode(mode))


class TenantAccounts(Protocol):
    """Engine accounts by tenant (graph/writer/engine_directory.py satisfies it)."""

    async def tenant_accounts(self, tenant_id: str) -> list[AccountRef]: ...


class TenantModes(Protocol):
    """A tenant's current trading mode, read from the store (not a cache)."""

    async def current_mode(self, tenant_id: str) -> TradingMode | None: ...


class WindDown:
    """Applies tenant trading modes in the engine through the one command bus."""

    def __init__(
        self,
        bus: CommandBus,
        accounts: TenantAccounts,
        modes: TenantModes,
        forget_config: Callable[[str], None] | None = None,
    ) -> None:
        self._bus = bus
        self._accounts = accounts
        self._modes = modes
        self._forget_config = forget_config  # order entry's cached tenant configuration

    async def enforce(
        self, tenant_id: str, mode: TradingMode, note: Mapping[str, str]
    ) -> WindDownReport:
        if self._forget_config is not None:
            self._forget_config(tenant_id)
        refs = await self._accounts.tenant_accounts(tenant_id)
        if not refs:
            return WindDownReport()
        modes = [_set_mode(r.index, mode) for r in refs]
        submitted = await submit_in_groups(self._bus, modes, note)
        # the open orders and positions read next include everything sequenced before the modes
        await engine_caught_up(self._bus, submitted[-1].seq, "set the trading mode again")
        canceled, steps = 0, []
        engine = self._bus.engine  # the modes are applied: no order of the tenant enters now
        if cancels_open_orders(mode):
            for ref in refs:
                live = engine.open_orders(ref.index)
                canceled += len(live)
                steps += [cmd.cancel_all(0, 0, account=ref.index, market=m)
                          for m in sorted({o.market for o in live})]  # fmt: skip
        closes = close_order(engine, [r.index for r in refs]) if closes_positions(mode) else []
        commands = steps + [cmd.close_position_at_mark(0, 0, account=a, market=m)
                            for a, m in closes]  # fmt: skip
        if commands:
            submitted += await submit_in_groups(self._bus, commands, note)
        results = submitted[len(submitted) - len(closes) :]
        refused = [s for s in results if not _accepted(s)]
        for result in refused:
            log.warning("wind-down close refused", extra={"seq": result.seq, "tenant": tenant_id,
                                                          "reason": _reason(result)})  # fmt: skip
        return WindDownReport(
            accounts=len(refs), canceled_orders=canceled,
            closed_positions=len(results) - len(refused), positions_not_closed=len(refused),
            first_sequence=submitted[0].seq if submitted else None,
            last_sequence=submitted[-1].seq if submitted else None,
        )  # fmt: skip

    async def on_new_account(self, ref: AccountRef) -> None:
        """An account just got an engine index: give it its tenant's mode if restricted."""
        mode = await self._modes.current_mode(ref.tenant_id)
        if mode is None or mode is TradingMode.NORMAL:
            return
        note = {NOTE_WIND_DOWN: mode.value, "tenant": ref.tenant_id, "by": "new-account"}
        await self._bus.submit(_set_mode(ref.index, mode), note)


def close_order(engine: Engine, accounts: Sequence[int]) -> list[tuple[int, int]]:
    """(account, market) of every open perpetual position of these accounts, per market in
    the order that keeps the insurance fund's own position smallest: each next close is on
    the side that brings the fund back towards flat (a takeover against the fund's own
    position needs no margin for that part), so a tenant whose longs and shorts offset each
    other winds down with little of the fund's margin."""
    by_market: dict[int, list[tuple[int, int]]] = {}
    for account in accounts:
        for market, position in engine.positions_of(account).items():
            by_market.setdefault(market, []).append((account, position.qty))
    order: list[tuple[int, int]] = []
    for market in sorted(by_market):
        fund = engine.position(engine.insurance_account(market), market)
        held = fund.qty if fund is not None else 0
        longs = sorted((a, q) for a, q in by_market[market] if q > 0)
        shorts = sorted((a, q) for a, q in by_market[market] if q < 0)
        while longs or shorts:  # closing a long makes the fund longer, a short shorter
            take_long = bool(longs) and (not shorts or held <= 0)
            account, qty = (longs if take_long else shorts).pop(0)
            held += qty
            order.append((account, market))
    return order


def _accepted(submitted: Submitted) -> bool:
    return submitted.events is None or outcome(submitted.events).accepted


def _reason(submitted: Submitted) -> str | None:
    return outcome(submitted.events).reason if submitted.events is not None else None
