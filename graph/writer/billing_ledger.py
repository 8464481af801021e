"""Billing's view of the ledger and the journal (domains/accounts/billing/ports.py): the
platform's fee legs per payer tenant, a tenant's holdings after given sequences, the journal's
clock, and invoices posted as platform revenue. Lives in the composition root because it
reads the ledger the writer projects (domains never read each other's collections).

An invoice posts one entry ``billing:<invoice id>`` (``source: billing``), balanced per asset:
the tenant's receivable ``billing:receivable:<tenant>`` is debited (negative) and the
platform's revenue ``platform:revenue:billing`` credited by each total. Neither is an engine
account, so reconciliation's per-account comparison is untouched and the per-asset sum
stays zero. ``caas settlement rebuild`` copies these entries (the journal cannot replay them).
"""

from __future__ import annotations

import bisect
import datetime as dt
from typing import Any

from domains.shared.mongo import Database, insert_new
from graph.writer.engine_directory import MongoEngineDirectory
from graph.writer.journal import JOURNAL
from graph.writer.ledger import PLATFORM_FEES, account_sums

BILLING_SOURCE = "billing"
REVENUE_ACCOUNT = "platform:revenue:billing"
RECEIVABLE_PREFIX = "billing:receivable:"  # + tenant id


class MongoBillingLedger:
    """BillingLedger over ``ledger_entries`` and the journal."""

    def __init__(self, db: Database, directory: MongoEngineDirectory) -> None:
        self._db = db
        self._directory = directory

    def decimals(self, asset: str) -> int | None:
        """AssetDecimals: the engine's minor unit of ``asset``."""
        info = self._directory.asset(asset)
        return info.decimals if info is not None else None

    async def last_seq_before(self, when: dt.datetime) -> int:
        cutoff = int(when.timestamp() * 1_000_000_000)
        last = await self._db[JOURNAL].find_one(
            {"ts_ns": {"$lt": cutoff}}, {"last_seq": 1}, sort=[("last_seq", -1)]
        )
        return int(last["last_seq"]) if last is not None else 0

    async def fee_income(self, tenant_id: str, after_seq: int, through_seq: int) -> dict[str, int]:
        if through_seq <= after_seq:
            return {}
        fee_leg = {"postings.account_id": PLATFORM_FEES, "postings.kind": "FEE",
                   "postings.tenant_id": tenant_id}  # fmt: skip
        pipeline: list[dict[str, Any]] = [
            {"$match": {"seq": {"$gt": after_seq, "$lte": through_seq},
                        "postings.account_id": PLATFORM_FEES}},
            {"$unwind": "$postings"},
            {"$match": fee_leg},
            {"$group": {"_id": "$postings.asset", "total": {"$sum": "$postings.amount_minor"}}},
        ]  # fmt: skip
        cursor = await self._db.ledger_entries.aggregate(pipeline)
        return dict(sorted([(d["_id"], int(d["total"])) async for d in cursor]))

    def _accounts(self, tenant_id: str) -> list[str]:
        return sorted(r.account_id for r in self._directory.accounts() if r.tenant_id == tenant_id)

    async def _sums(
        self, accounts: list[str], seq: dict[str, int], by_seq: bool
    ) -> dict[tuple[str, int], int]:
        """The accounts' postings summed per (asset, seq) (seq 0 unless ``by_seq``)."""
        found: dict[tuple[str, int], int] = {}
        sums = await account_sums(self._db.ledger_entries, seq, accounts, by_seq=by_seq)
        for (_, asset, q), total in sums.items():
            found[(asset, q)] = found.get((asset, q), 0) + total
        return found

    async def holdings_at(self, tenant_id: str, seqs: list[int]) -> list[dict[str, int]]:
        """The opening holdings (one sum up to the first sequence), then the postings between
        the first and the last sequence per (asset, seq), folded in order."""
        accounts = self._accounts(tenant_id)
        if not accounts or not seqs:
            return [{} for _ in seqs]
        running: dict[str, int] = {}
        for (asset, _), total in (await self._sums(accounts, {"$lte": seqs[0]}, False)).items():
            running[asset] = total
        moves: list[tuple[int, str, int]] = sorted(
            (q, asset, total) for (asset, q), total in
            (await self._sums(accounts, {"$gt": seqs[0], "$lte": seqs[-1]}, True)).items()
        )  # fmt: skip
        found, position = [], 0
        for seq in seqs:
            end = bisect.bisect_right(moves, (seq, "\U0010ffff", 0))
            for _, asset, amount in moves[position:end]:
                running[asset] = running.get(asset, 0) + amount
            position = max(position, end)
            found.append({a: m for a, m in sorted(running.items()) if m})
        return found

    async def post_invoice(
        self, invoice_id: str, tenant_id: str, seq: int, totals_minor: dict[str, int]
    ) -> None:
        reference = f"invoice:{invoice_id}"
        postings, leg = [], 0
        for asset, amount in sorted(totals_minor.items()):
            if amount == 0:
                continue
            for account, signed in ((RECEIVABLE_PREFIX + tenant_id, -amount),
                                    (REVENUE_ACCOUNT, amount)):  # fmt: skip
                leg += 1
                postings.append({"leg": leg, "account_id": account, "asset": asset,
                                 "amount_minor": signed, "kind": "INVOICE",
                                 "reference": reference})  # fmt: skip
        if not postings:
            return
        entry = {"_id": f"billing:{invoice_id}", "seq": seq, "source": BILLING_SOURCE,
                 "postings": postings}  # fmt: skip
        await insert_new(self._db.ledger_entries, [entry])
