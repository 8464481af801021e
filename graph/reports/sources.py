"""Report sources for the compliance export: the orders and trades read models and the
double-entry ledger, streamed per tenant. Lives in the composition root because it reads
other domains' read models for compliance (domains never read each other's collections).

Trades shared with another tenant's customer list only this tenant's side: the other
side's account, customer and order never appear in the export.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator
from decimal import Decimal

from domains.compliance.reports import Row, iso
from domains.shared.mongo import Database
from graph.writer.engine_directory import MongoEngineDirectory
from graph.writer.journal import JOURNAL
from graph.writer.ledger import account_sums

BATCH = 1000


class MongoReportSources:
    """ReportSources over the store (cursors: nothing held in memory)."""

    def __init__(self, db: Database, directory: MongoEngineDirectory) -> None:
        self._db = db
        self._directory = directory

    async def trades(
        self, tenant_id: str, since: dt.datetime, until: dt.datetime
    ) -> AsyncIterator[Row]:
        query = {"tenant_ids": tenant_id, "executed_at": {"$gte": since, "$lt": until}}
        async for doc in self._db.trades.find(query, batch_size=BATCH):
            taker_side = doc["taker_side"]
            maker_side = "SELL" if taker_side == "BUY" else "BUY"
            for role, side, party in (("TAKER", taker_side, doc.get("taker")),
                                      ("MAKER", maker_side, doc.get("maker"))):  # fmt: skip
                if party is None or party.get("tenant_id") != tenant_id:
                    continue
                yield {"trade_id": doc["_id"], "executed_at": iso(doc["executed_at"]),
                       "market": doc["market_id"], "side": side, "role": role,
                       "price": doc["price"], "quantity": doc["quantity"], "fee": party["fee"],
                       "account_id": party["account_id"], "customer_id": party["customer_id"],
                       "order_id": party["order_id"], "venue": doc.get("venue", ""),
                       "seq": str(doc.get("seq", ""))}  # fmt: skip

    async def customers(self, tenant_id: str, until: dt.datetime) -> AsyncIterator[Row]:
        """The tenant's customers onboarded before ``until``, by id."""
        query = {"tenant_id": tenant_id, "created_at": {"$lt": until}}
        async for doc in self._db.customers.find(query, batch_size=BATCH).sort("_id", 1):
            yield {"customer_id": doc["_id"], "created_at": iso(doc.get("created_at")),
                   "display_name": doc.get("display_name") or "", "email": doc.get("email") or "",
                   "external_ref": doc.get("external_ref") or ""}  # fmt: skip

    async def orders(
        self, tenant_id: str, since: dt.datetime, until: dt.datetime
    ) -> AsyncIterator[Row]:
        query = {"tenant_id": tenant_id, "created_at": {"$gte": since, "$lt": until}}
        cursor = self._db.orders.find(query, batch_size=BATCH).sort("_id", 1)
        async for doc in cursor:
            yield {"order_id": doc["_id"], "created_at": iso(doc.get("created_at")),
                   "updated_at": iso(doc.get("updated_at")), "account_id": doc["account_id"],
                   "customer_id": doc["customer_id"], "market": doc["market_id"],
                   "side": doc["side"], "type": doc["type"],
                   "time_in_force": doc.get("time_in_force") or "", "price": doc.get("price") or "",
                   "stop_price": doc.get("stop_price") or "", "quantity": doc["quantity"],
                   "filled_quantity": doc["filled_quantity"], "status": doc["status"],
                   "client_order_id": doc.get("client_order_id") or "",
                   "reason": doc.get("reason") or ""}  # fmt: skip

    async def balances(self, tenant_id: str, as_of: dt.datetime) -> AsyncIterator[Row]:
        """Each account's total holding (available + locked) per asset at ``as_of``: the
        ledger's postings up to the last batch journaled wholly before that time."""
        cutoff = int(as_of.timestamp() * 1_000_000_000)
        last = await self._db[JOURNAL].find_one(
            {"ts_ns": {"$lt": cutoff}}, {"last_seq": 1}, sort=[("_id", -1)]
        )
        if last is None:
            return
        last_seq = int(last["last_seq"])
        owners = {
            ref.account_id: ref.customer_id
            for ref in self._directory.accounts()
            if ref.tenant_id == tenant_id
        }
        if not owners:
            return
        sums = await account_sums(self._db.ledger_entries, {"$lte": last_seq}, owners)
        for (account, asset, _), minor in sorted(sums.items()):
            info = self._directory.asset(asset)
            total = Decimal(minor)
            amount = total.scaleb(-info.decimals) if info is not None else total
            yield {"as_of": iso(as_of), "account_id": account, "customer_id": owners[account],
                   "asset": asset, "balance": format(amount.normalize(), "f") if amount else "0",
                   "seq": str(last_seq)}  # fmt: skip
