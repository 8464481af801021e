"""The retention purge, a writer job (graph/writer/jobs.py): every CAAS_RETENTION_PURGE_SECONDS
it deletes, per tenant and kind, the records older than the tenant's retention policy
(domains/compliance/retention.py), in bulk, by asking each owning domain. Lives in the
composition root because it spans domains (orders' and accounts' records, compliance's).

Never purged: the journal and the ledger. They are the books: the journal is the source of
truth every balance, position and read model is rebuilt from (replay must reproduce the same
state, bit for bit), and it is compacted only by snapshots that carry its state; the ledger's
double entries are what conservation is proven on. Deleting either would break replay or
the books, so no retention applies to them. Read models rebuilt from the journal (`caas
settlement rebuild`) may bring purged orders and trades back; the next purge removes them.
"""

from __future__ import annotations

import datetime as dt
import logging

from domains.accounts.auth_audit import MongoAuthAudit
from domains.compliance.audit import PLATFORM_CHAIN
from domains.compliance.audit_trail import AuditTrail
from domains.compliance.retention import (
    CompliancePurge,
    RecordKind,
    RecordPurge,
    RetentionPolicies,
)
from domains.orders.retention import OrdersRetention
from domains.shared.errors import NotFoundError
from domains.shared.mongo import Database
from domains.shared.periodic import Periodic

log = logging.getLogger("caas.retention")


class RecordPurger(RecordPurge):
    """Every kind's purge for one tenant or all of them; ``job`` runs it on a timer."""

    def __init__(
        self, db: Database, trail: AuditTrail, auth_audit: MongoAuthAudit, interval_s: float
    ) -> None:
        self._tenants = db.tenants
        self._trail = trail
        self._policies: RetentionPolicies = trail.policies
        self._compliance = CompliancePurge(db)
        self._orders = OrdersRetention(db)
        self._auth = auth_audit
        self.job = Periodic("retention-purge", interval_s, self.purge_all, log)
        self.runs = 0
        self.purged = 0

    async def _cutoffs(self, now: dt.datetime) -> dict[str, dict[RecordKind, dt.datetime]]:
        tenants = [str(d["_id"]) async for d in self._tenants.find({}, {"_id": 1})]
        days = await self._policies.days_of([*tenants, PLATFORM_CHAIN])
        return {t: {k: now - dt.timedelta(days=n) for k, n in d.items()} for t, d in days.items()}

    async def purge_tenant(self, tenant_id: str, now: dt.datetime) -> dict[RecordKind, int]:
        """One tenant's expired records of every kind (trades: only those expired for every
        tenant party to them)."""
        cutoffs = await self._cutoffs(now)
        return await self._purge(tenant_id, cutoffs, party=tenant_id)

    async def purge_all(self, now: dt.datetime | None = None) -> dict[str, dict[RecordKind, int]]:
        """Every tenant's (and the platform chain's) expired records."""
        now = now or dt.datetime.now(dt.UTC)
        cutoffs = await self._cutoffs(now)
        out = {tenant: await self._purge(tenant, cutoffs, None) for tenant in cutoffs}
        trades = await self._orders.purge_trades(
            {t: c[RecordKind.TRADES] for t, c in cutoffs.items()}
        )
        for tenant, count in trades.items():
            out[tenant][RecordKind.TRADES] = count
        total = sum(sum(kinds.values()) for kinds in out.values())
        self.runs, self.purged = self.runs + 1, self.purged + total
        if total:
            log.info("retention purge deleted %d records", total)
        return out

    async def _purge(
        self, tenant: str, cutoffs: dict[str, dict[RecordKind, dt.datetime]], party: str | None
    ) -> dict[RecordKind, int]:
        mine = cutoffs.get(tenant)
        if mine is None:
            raise NotFoundError("no such tenant", id=tenant)
        counts = {
            RecordKind.AUDIT: await self._trail.purge_expired_before(
                tenant, mine[RecordKind.AUDIT]
            ),
            RecordKind.AUTH_FAILURES: await self._auth.purge(
                None if tenant == PLATFORM_CHAIN else tenant, mine[RecordKind.AUTH_FAILURES]
            ),
        }
        if tenant == PLATFORM_CHAIN:  # the platform has no orders, alerts or movements
            return counts
        counts[RecordKind.ORDERS] = await self._orders.purge_orders(tenant, mine[RecordKind.ORDERS])
        counts[RecordKind.ALERTS_CASES] = await self._compliance.alerts_and_cases(
            tenant, mine[RecordKind.ALERTS_CASES]
        )
        counts[RecordKind.MOVEMENTS] = await self._compliance.movements(
            tenant, mine[RecordKind.MOVEMENTS]
        )
        if party is not None:
            trades = {t: c[RecordKind.TRADES] for t, c in cutoffs.items()}
            counts[RecordKind.TRADES] = sum(
                (await self._orders.purge_trades(trades, party=party)).values()
            )
        return counts

    def figures(self) -> dict[str, float]:
        """``caas_retention_runs`` / ``caas_retention_purged``: purge rounds and records."""
        return {"caas_retention_runs": self.runs, "caas_retention_purged": self.purged}
