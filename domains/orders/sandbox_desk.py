"""The engine side of sandbox tenants: their own market copies, faucet credits and resets.

Implements the accounts domain's SandboxEngine port. A sandbox market is a copy of a live
spot market under its own id (``BTC-USDT-<code>``) and its own engine book, so a sandbox
order can never meet a live order. Every money movement is an ordinary journaled engine
command with a note saying why: the faucet is a DEPOSIT_CREDIT, a reset is SET_ACCOUNT_MODE
CANCEL_ONLY for every account of the tenant (nothing new enters), a CANCEL_ALL per account
and market with live orders, a WITHDRAWAL_HOLD + WITHDRAWAL_DEBIT of every available
balance, then the tenant's own trading mode again. The ledger and ``caas reconcile`` see
them like any adjustment; the journal keeps the sandbox's whole history.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from decimal import Decimal

from domains.accounts.model import Account, TradingMode
from domains.accounts.sandbox import SandboxResetReport
from domains.orders.model import Market, MarketKind, MarketStatus
from domains.orders.outcomes import outcome, raise_for
from domains.orders.trading import TradingService
from domains.orders.wind_down import TenantAccounts, TenantModes, engine_mode
from domains.shared.engine_port import (
    CommandBus,
    EngineDirectory,
    engine_caught_up,
    submit_in_groups,
)
from domains.shared.errors import ValidationError
from domains.shared.scalars import utcnow
from engine import codes
from engine import commands as cmd
from engine.layout import Records

MAX_SANDBOX_MARKETS = 8  # market copies per sandbox (engine market slots are shared)


class SandboxDesk:
    """Sandbox markets and money through the one command bus."""

    def __init__(
        self,
        trading: TradingService,
        bus: CommandBus,
        directory: EngineDirectory,
        accounts: TenantAccounts,
        modes: TenantModes,
    ) -> None:
        self._trading = trading
        self._bus = bus
        self._directory = directory
        self._accounts = accounts
        self._modes = modes

    async def check_markets(self, live_market_ids: Sequence[str] | None) -> list[str]:
        live = {m.id: m for m in await self._trading.markets(MarketKind.SPOT)
                if m.sandbox_tenant is None}  # fmt: skip
        if live_market_ids is None:
            wanted = sorted(live)
        else:
            wanted = sorted({m.strip().upper() for m in live_market_ids})
            refused = [m for m in wanted if m not in live]
            if refused:
                raise ValidationError(
                    "sandboxMarkets are live spot markets of the platform (perpetuals are not "
                    f"copied to sandboxes yet): {', '.join(refused)}",
                    field="sandboxMarkets", markets=refused,
                )  # fmt: skip
        if len(wanted) > MAX_SANDBOX_MARKETS:
            raise ValidationError(f"a sandbox copies at most {MAX_SANDBOX_MARKETS} markets",
                                  field="sandboxMarkets")  # fmt: skip
        return wanted

    async def create_markets(self, tenant_id: str, code: str, live: Sequence[str]) -> list[str]:
        originals = {m.id: m for m in await self._trading.markets(MarketKind.SPOT)}
        created = []
        for market_id in live:
            copy = sandbox_copy(originals[market_id], tenant_id, code)
            await self._trading.register_market(copy)
            created.append(copy.id)
        return created

    async def live_markets(self, market_ids: Sequence[str]) -> dict[str, str]:
        found = await self._trading.markets(None)
        wanted = set(market_ids)
        return {m.id: m.sandbox_of for m in found if m.id in wanted and m.sandbox_of}

    async def credit(
        self, account: Account, asset: str, amount: Decimal, note: Mapping[str, str]
    ) -> int:
        info = self._directory.asset(asset)
        if info is None:
            raise ValidationError(f"unknown asset {asset}", field="asset")
        minor = amount.scaleb(info.decimals)
        if minor <= 0 or minor != minor.to_integral_value():
            raise ValidationError(f"amount must be a positive multiple of 1e-{info.decimals}",
                                  field="amount")  # fmt: skip
        index = await self._trading.account_index(account)
        submitted = await self._bus.submit(
            cmd.deposit_credit(0, 0, account=index, asset=info.index, amount_minor=int(minor)),
            dict(note),
        )
        if submitted.events is not None:
            raise_for(outcome(submitted.events))
        return submitted.seq

    async def reset(self, tenant_id: str, note: Mapping[str, str]) -> SandboxResetReport:
        refs = await self._accounts.tenant_accounts(tenant_id)
        if not refs:
            return SandboxResetReport()
        frozen = [_mode(r.index, codes.ACCOUNT_MODE_CANCEL_ONLY) for r in refs]
        submitted = await submit_in_groups(self._bus, frozen, note)
        await engine_caught_up(self._bus, submitted[-1].seq, "reset again")
        engine = self._bus.engine
        cancels, canceled = [], 0
        for ref in refs:
            live = engine.open_orders(ref.index)
            canceled += len(live)
            cancels += [cmd.cancel_all(0, 0, account=ref.index, market=m)
                        for m in sorted({o.market for o in live})]  # fmt: skip
        if cancels:
            submitted += await submit_in_groups(self._bus, cancels, note)
            await engine_caught_up(self._bus, submitted[-1].seq, "reset again")
        debits, debited, locked_left = [], 0, 0
        for ref in refs:
            for asset, (available, locked) in sorted(engine.balances_of(ref.index).items()):
                if available > 0:
                    debits += [
                        cmd.withdrawal_hold(0, 0, account=ref.index, asset=asset,
                                            amount_minor=available),
                        cmd.withdrawal_debit(0, 0, account=ref.index, asset=asset,
                                             amount_minor=available),
                    ]  # fmt: skip
                    debited += 1
                locked_left += 1 if locked > 0 else 0
        mode = await self._modes.current_mode(tenant_id) or TradingMode.NORMAL
        restore = [_mode(r.index, engine_mode(mode)) for r in refs]
        submitted += await submit_in_groups(self._bus, debits + restore, note)
        return SandboxResetReport(
            accounts=len(refs), canceled_orders=canceled, debited_balances=debited,
            locked_left=locked_left, first_sequence=submitted[0].seq,
            last_sequence=submitted[-1].seq,
        )  # fmt: skip


def sandbox_copy(live: Market, tenant_id: str, code: str) -> Market:
    """A sandbox tenant's own copy of a live market: same increments, its own id and book."""
    return replace(live, id=f"{live.id}-{code}", status=MarketStatus.TRADING,
                   created_at=utcnow(), sandbox_tenant=tenant_id, sandbox_of=live.id)  # fmt: skip


def _mode(account: int, mode: int) -> Records:
    return cmd.set_account_mode(0, 0, account=account, mode=mode)
