"""Builds the compliance domain's objects for the composition root (graph/bootstrap.py).

One place that knows how the compliance pieces fit, so the composition root only asks for
the services to register, the indexes to create, and the gate order entry calls.
"""

from __future__ import annotations

from domains.compliance.gates import KycGate
from domains.compliance.repository import INDEXES as KYC_INDEXES
from domains.compliance.repository import MongoComplianceRepository
from domains.compliance.service import ComplianceService, KycProvider
from domains.shared.mongo import CollectionIndexes, Database

INDEXES: tuple[CollectionIndexes, ...] = (*KYC_INDEXES,)


class ComplianceComponents:
    """Every compliance service of one process, built from the store."""

    def __init__(self, db: Database, provider: KycProvider | None = None) -> None:
        self.kyc = ComplianceService(MongoComplianceRepository(db), provider)
        self.gate = KycGate(self.kyc)

    def services(self) -> dict[type, object]:
        """What resolvers and other domains reach through RequestContext.get."""
        return {ComplianceService: self.kyc, KycGate: self.gate}
