"""Builds the compliance domain's objects for the composition root (graph/bootstrap.py).

One place that knows how the compliance pieces fit, so the composition root only asks for
the services to register, the indexes to create, and the gate order entry calls.
"""

from __future__ import annotations

import os
from pathlib import Path

from domains.compliance.alert_repository import INDEXES as ALERT_INDEXES
from domains.compliance.alert_repository import MongoAlertRepository
from domains.compliance.alert_service import AlertService
from domains.compliance.audit_trail import INDEXES as AUDIT_INDEXES
from domains.compliance.audit_trail import AuditTrail
from domains.compliance.gates import KycGate
from domains.compliance.monitor import ComplianceMonitor, MonitoringSettings, SpecLookup
from domains.compliance.monitoring_repository import INDEXES as MONITORING_INDEXES
from domains.compliance.monitoring_repository import MongoMonitoringRepository
from domains.compliance.reports import ReportService, ReportSources
from domains.compliance.repository import INDEXES as KYC_INDEXES
from domains.compliance.repository import MongoComplianceRepository
from domains.compliance.screening import SanctionsScreening
from domains.compliance.service import ComplianceService, KycProvider
from domains.shared.engine_port import EngineDirectory
from domains.shared.events import EventBus
from domains.shared.mongo import CollectionIndexes, Database

INDEXES: tuple[CollectionIndexes, ...] = (
    *KYC_INDEXES,
    *ALERT_INDEXES,
    *MONITORING_INDEXES,
    *AUDIT_INDEXES,
)
SANCTIONS_DIR_ENV = "CAAS_SANCTIONS_DIR"  # a folder with OFAC's sdn.csv and alt.csv


class ComplianceComponents:
    """Every compliance service of one process, built from the store and the event bus."""

    def __init__(
        self, db: Database, events: EventBus, provider: KycProvider | None = None,
        sanctions_dir: Path | None = None, idempotent_db: Database | None = None,
    ) -> None:  # fmt: skip
        """``idempotent_db``: the same database through a client without retryable writes,
        for what is written with every order and settles an unconfirmed write itself (the
        audit trail's blocks, the monitor's alert and transaction inserts)."""
        bulk = idempotent_db if idempotent_db is not None else db
        kyc_repository = MongoComplianceRepository(db)
        self.kyc_repository = kyc_repository
        self.kyc = ComplianceService(kyc_repository, provider)
        self.alert_repository = MongoAlertRepository(db, inserts=bulk)
        self.alerts = AlertService(self.alert_repository, events)
        folder = sanctions_dir or (
            Path(os.environ[SANCTIONS_DIR_ENV]) if os.environ.get(SANCTIONS_DIR_ENV) else None
        )
        self.screening = SanctionsScreening(self.alerts, kyc_repository, folder)
        self.kyc.screen_onboarding_with(self.screening.screen_profile)
        self.kyc.block_verification_with(self.alerts.sanctions_blockers)
        self.monitoring = MongoMonitoringRepository(db, inserts=bulk)
        self.screening.rescreen_addresses_from(self.monitoring)
        self.settings = MonitoringSettings(self.monitoring)
        self.gate = KycGate(self.kyc, self.settings)
        self.audit = AuditTrail(bulk)

    def monitor(self, directory: EngineDirectory, spec_for: SpecLookup) -> ComplianceMonitor:
        """The engine event listener (AML monitoring and trade surveillance)."""
        return ComplianceMonitor(
            self.monitoring, self.settings, self.alerts, self.screening, directory, spec_for
        )

    def reports(self, sources: ReportSources) -> ReportService:
        """Report export over the compliance collections and other domains' ``sources``."""
        return ReportService(sources, self.alert_repository, self.monitoring, self.kyc_repository)

    def services(self) -> dict[type, object]:
        """What resolvers and other domains reach through RequestContext.get."""
        return {
            ComplianceService: self.kyc,
            KycGate: self.gate,
            AlertService: self.alerts,
            SanctionsScreening: self.screening,
            MonitoringSettings: self.settings,
            AuditTrail: self.audit,
        }
