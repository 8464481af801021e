"""Reconciliation: the engine's balances (recovered from snapshot + journal) against the
balance read model, and conservation per asset. There must be no difference.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

from domains.accounts.balances import MongoBalances
from domains.shared.context import TenantScope
from domains.shared.mongo import Database
from engine.core import Engine
from graph.writer.engine_directory import MongoEngineDirectory
from graph.writer.ledger import MARKUP_PREFIX, ledger_totals


@dataclass
class ReconcileReport:
    """Differences found; empty lists mean the books agree."""

    accounts_checked: int = 0
    differences: list[str] = field(default_factory=list)
    conservation: list[str] = field(default_factory=list)

    @property
    def clean(self) -> bool:
        return not self.differences and not self.conservation


async def reconcile(
    engine: Engine, directory: MongoEngineDirectory, balances: MongoBalances, db: Database
) -> ReconcileReport:
    """Compare every account's engine balances with the read model and with the ledger,
    check that the ledger balances per asset, then conservation."""
    report = ReconcileReport()
    ledger = await ledger_totals(db)
    for info in directory.assets():
        net = sum(total for (_, asset), total in ledger.items() if asset == info.code)
        if net != 0:
            report.differences.append(f"ledger does not balance for {info.code}: net {net}")
    refs = directory.accounts()
    stored = await balances.of_accounts(TenantScope(None), [r.account_id for r in refs])
    projected = {(b.account_id, b.asset): (b.available, b.locked) for b in stored}
    for ref in refs:
        report.accounts_checked += 1
        for info in directory.assets():
            available, locked = engine.balance(ref.index, info.index)
            expected = (
                Decimal(available).scaleb(-info.decimals),
                Decimal(locked).scaleb(-info.decimals),
            )
            got = projected.get((ref.account_id, info.code), (Decimal(0), Decimal(0)))
            if got != expected:
                report.differences.append(
                    f"{ref.account_id} {info.code}: engine {expected[0]}/{expected[1]}, "
                    f"read model {got[0]}/{got[1]}"
                )
            posted = ledger.get((ref.account_id, info.code), 0)
            if ref.index == 0:  # account 0 holds the platform's fees and every markup
                posted += sum(
                    total for (account, asset), total in ledger.items()
                    if asset == info.code and account.startswith(MARKUP_PREFIX)
                )  # fmt: skip
            if posted != available + locked:
                report.differences.append(
                    f"{ref.account_id} {info.code}: engine total {available + locked} minor, "
                    f"ledger {posted}"
                )
    for info in directory.assets():
        totals = engine.asset_totals(info.index)
        open_cost = totals.get("open_cost", 0)  # perpetual positions margined in the asset
        if totals["balances"] - open_cost != totals["credits"] - totals["debits"]:
            report.conservation.append(
                f"{info.code}: balances {totals['balances']} - open cost {open_cost} != "
                f"credits {totals['credits']} - debits {totals['debits']}"
            )
    return report
