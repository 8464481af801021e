"""What billing needs from outside the accounts domain, as Protocols: the ledger and the
journal's clock (graph/writer/billing_ledger.py implements them) and asset decimals (the
engine directory). Imports no other domain."""

from __future__ import annotations

import datetime as dt
from typing import Protocol


class BillingLedger(Protocol):
    """The double-entry ledger, read for metering and written with invoices."""

    async def last_seq_before(self, when: dt.datetime) -> int:
        """The last command sequence journaled before ``when`` (0: none)."""
        ...

    async def fee_income(self, tenant_id: str, after_seq: int, through_seq: int) -> dict[str, int]:
        """Per asset, the platform's fee legs (its own part, not the institution's markup)
        that the tenant's accounts paid in commands ``(after_seq, through_seq]``."""
        ...

    async def holdings_at(self, tenant_id: str, seqs: list[int]) -> list[dict[str, int]]:
        """For each of the ascending ``seqs``: the tenant's accounts' total holdings per
        asset (available + locked, minor units) after that command."""
        ...

    async def post_invoice(
        self, invoice_id: str, tenant_id: str, seq: int, totals_minor: dict[str, int]
    ) -> None:
        """The invoice as platform revenue, balanced per asset (idempotent per invoice)."""
        ...


class AssetDecimals(Protocol):
    """An asset's minor unit: 10^-decimals (None: the platform does not know the asset)."""

    def decimals(self, asset: str) -> int | None: ...
