"""Retention deletes of the orders domain's read models (orders, trades), called by the purge
job (graph/writer/retention_job.py) with each tenant's cutoff; owns no collection of its own.

Only finished orders go (an open or untriggered order is never deleted, however old). A trade
is shared by the tenants of its two sides, so it goes only once it is expired for every one of
them: with tenants sorted by cutoff, step k deletes the trades executed before cutoff k whose
tenants all have a cutoff at least k (a trade with tenants S and time t is expired exactly when
t < min over S of the cutoffs, which is the step of that minimum). One ``delete_many`` per
distinct cutoff.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping

from domains.orders.model import OrderStatus
from domains.shared.mongo import Database

FINISHED = tuple(s.value for s in (
    OrderStatus.FILLED, OrderStatus.CANCELED, OrderStatus.EXPIRED, OrderStatus.EXPIRED_IN_MATCH,
    OrderStatus.REJECTED,
))  # fmt: skip


class OrdersRetention:
    """Bulk deletes of expired orders and trades."""

    def __init__(self, db: Database) -> None:
        self._orders = db.orders
        self._trades = db.trades

    async def purge_orders(self, tenant_id: str, cutoff: dt.datetime) -> int:
        """Finished orders of ``tenant_id`` last updated before ``cutoff``."""
        query = {"tenant_id": tenant_id, "status": {"$in": list(FINISHED)},
                 "updated_at": {"$lt": cutoff}}  # fmt: skip
        return int((await self._orders.delete_many(query)).deleted_count)

    async def purge_trades(
        self, cutoffs: Mapping[str, dt.datetime], party: str | None = None
    ) -> dict[str, int]:
        """Trades expired for every tenant party to them, given every tenant's cutoff (a
        tenant missing from ``cutoffs`` keeps its trades), only those of ``party`` if named;
        how many per step's tenant."""
        ordered = sorted(cutoffs.items(), key=lambda item: item[1])
        deleted: dict[str, int] = {}
        for k, (tenant, cutoff) in enumerate(ordered):
            covered = [t for t, _ in ordered[k:]]  # cutoffs at least this one
            parties = [{"tenant_ids": t} for t in {tenant, party or tenant}]
            query = {"executed_at": {"$lt": cutoff}, "$and": parties,
                     "$nor": [{"tenant_ids": {"$elemMatch": {"$nin": covered}}}]}  # fmt: skip
            count = (await self._trades.delete_many(query)).deleted_count
            deleted[tenant] = deleted.get(tenant, 0) + int(count)
        return deleted
