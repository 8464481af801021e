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
from typing import Protocol

import numpy as np

from domains.accounts.model import TradingMode
from domains.accounts.trading_mode import (
    WindDownReport,
    cancels_open_orders,
    closes_positions,
)
from domains.orders.outcomes import outcome
from domains.shared.engine_port import AccountRef, CommandBus, Submitted
from engine import codes
from engine import commands as cmd
from engine.layout import Records

log = logging.getLogger("caas.wind_down")
GROUP_COMMANDS = 1024  # commands per journaled group
NOTE_WIND_DOWN = "trading_mode"  # the note key every wind-down command carries


ENGINE_MODE_NAMES = {
    TradingMode.NORMAL: "ACCOUNT_MODE_NORMAL",
    TradingMode.REDUCE_ONLY: "ACCOUNT_MODE_REDUCE_ONLY",
}


def engine_mode(mode: TradingMode) -> int:
    """The engine's per-account mode for a tenant mode (CANCEL_ONLY for every mode that
    takes no new orders)."""
    return int(getattr(codes, ENGINE_MODE_NAMES.get(mode, "ACCOUNT_MODE_CANCEL_ONLY"), 0))


def _set_mode(account: int, mode: TradingMode) -> Records | None:
    # TEMPORARY until the engine's per-account modes land: None when it has none
    build = getattr(cmd, "set_account_mode", None)
    return None if build is None else build(0, 0, account=account, mode=engine_mode(mode))


def _close_at_mark(account: int, market: int) -> Records | None:
    build = getattr(cmd, "close_position_at_mark", None)
    return None if build is None else build(0, 0, account=account, market=market)


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
        modes = [c for r in refs if (c := _set_mode(r.index, mode)) is not None]
        submitted = await self._submit(modes, note)
        canceled, steps = 0, []
        engine = self._bus.engine  # the modes are applied: no order of the tenant enters now
        if cancels_open_orders(mode):
            for ref in refs:
                live = engine.open_orders(ref.index)
                canceled += len(live)
                steps += [cmd.cancel_all(0, 0, account=ref.index, market=m)
                          for m in sorted({o.market for o in live})]  # fmt: skip
        closes = []
        if closes_positions(mode):
            for ref in refs:
                for market in sorted(engine.positions_of(ref.index)):
                    if (close := _close_at_mark(ref.index, market)) is not None:
                        closes.append(close)
        if steps or closes:
            submitted += await self._submit([*steps, *closes], note)
        closed = sum(1 for s in submitted[-len(closes) :] if _accepted(s)) if closes else 0
        refused = [s for s in submitted[-len(closes) :] if not _accepted(s)] if closes else []
        for result in refused:
            log.warning("wind-down close refused", extra={"seq": result.seq, "tenant": tenant_id})
        return WindDownReport(
            accounts=len(refs), canceled_orders=canceled, closed_positions=closed,
            first_sequence=submitted[0].seq if submitted else None,
            last_sequence=submitted[-1].seq if submitted else None,
        )  # fmt: skip

    async def _submit(
        self, commands: Sequence[Records], note: Mapping[str, str]
    ) -> list[Submitted]:
        """Journaled groups of up to GROUP_COMMANDS commands, each command with the note."""
        results: list[Submitted] = []
        for start in range(0, len(commands), GROUP_COMMANDS):
            chunk = np.concatenate(commands[start : start + GROUP_COMMANDS])
            results += await self._bus.submit_many(chunk, [dict(note)] * len(chunk))
        return results

    async def on_new_account(self, ref: AccountRef) -> None:
        """An account just got an engine index: give it its tenant's mode if restricted."""
        mode = await self._modes.current_mode(ref.tenant_id)
        if mode is None or mode is TradingMode.NORMAL:
            return
        command = _set_mode(ref.index, mode)
        if command is not None:
            note = {NOTE_WIND_DOWN: mode.value, "tenant": ref.tenant_id, "by": "new-account"}
            await self._bus.submit(command, note)


def _accepted(submitted: Submitted) -> bool:
    return submitted.events is None or outcome(submitted.events).accepted
