"""Sanctions screening of customers and crypto addresses; every hit becomes an alert.

When it runs: on onboarding (``ComplianceService.submit_kyc`` calls ``screen_profile``), on
every withdrawal destination (custody calls ``require_clear_address`` before it holds funds,
and monitoring re-checks each destination it sees on the event stream), and again over all
customers and known destinations whenever the lists are reloaded (``reload``).

Lists are loaded per process from files (sanctions.py); a reload in one process re-screens
everything once, the alerts it raises are shared through the store.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from domains.compliance.alert_model import Alert, AlertRule, Evidence, Severity, alert_id
from domains.compliance.alert_service import AlertService
from domains.compliance.errors import SanctionsHitError
from domains.compliance.model import KycProfile
from domains.compliance.sanctions import ListEntry, NameMatch, SanctionsList, load_ofac_sdn
from domains.shared.errors import ValidationError
from domains.shared.scalars import utcnow

DEFAULT_LIST_DIR = Path(__file__).parent / "data"
log = logging.getLogger("caas.compliance.screening")


class ScreenedProfiles(Protocol):
    """Every KYC profile with a legal name (None: all tenants)."""

    async def all_profiles(self, tenant_id: str | None) -> list[KycProfile]: ...


class KnownAddresses(Protocol):
    """Withdrawal destinations seen so far: (tenant, customer, address)."""

    def destinations(self) -> AsyncIterator[tuple[str, str, str]]: ...


@dataclass(frozen=True)
class AddressHit:
    """A listed address."""

    entry: ListEntry
    currency: str
    address: str


@dataclass(frozen=True)
class ReloadReport:
    """What a reload loaded and what re-screening found."""

    list_name: str
    entries: int
    addresses: int
    checksum: str
    loaded_at: dt.datetime
    customers_screened: int
    addresses_screened: int
    new_alerts: int


def _name_severity(match: NameMatch) -> Severity:
    if match.dob_confirmed:
        return Severity.CRITICAL
    return Severity.HIGH if match.score >= 97 else Severity.MEDIUM


class SanctionsScreening:
    """Name and address screening against the loaded lists."""

    def __init__(
        self, alerts: AlertService, profiles: ScreenedProfiles, folder: Path | None = None
    ) -> None:
        self._alerts = alerts
        self._profiles = profiles
        self._folder = folder or DEFAULT_LIST_DIR
        self._list: SanctionsList | None = None
        self._addresses: KnownAddresses | None = None
        self._lock = asyncio.Lock()
        self.alerts_raised = 0  # new alerts since start (reload reports its own share)

    async def _raise(self, alert: Alert) -> None:
        if await self._alerts.raise_alert(alert):
            self.alerts_raised += 1

    def rescreen_addresses_from(self, known: KnownAddresses) -> None:
        self._addresses = known

    @property
    def current(self) -> SanctionsList:
        if self._list is None:
            self._list = load_ofac_sdn(self._folder)
        return self._list

    async def screen_customer(
        self, tenant_id: str, customer_id: str, name: str, date_of_birth: dt.date | None
    ) -> list[NameMatch]:
        """Screen a name (and date of birth); each match raises a SANCTIONS_NAME alert."""
        matches = self.current.match_name(name, date_of_birth)
        for match in matches:
            entry = match.entry
            summary = (f"{name!r} matches {entry.list_name} entry {entry.entry_id} "
                       f"{match.matched_name!r} (score {match.score}"
                       f"{', date of birth agrees' if match.dob_confirmed else ''})")  # fmt: skip
            await self._raise(Alert(
                id=alert_id(AlertRule.SANCTIONS_NAME, tenant_id,
                            f"{customer_id}|{entry.list_name}|{entry.entry_id}"),
                tenant_id=tenant_id, rule=AlertRule.SANCTIONS_NAME,
                severity=_name_severity(match), summary=summary, customer_id=customer_id,
                evidence=(Evidence("CUSTOMER", customer_id),
                          Evidence("LIST_ENTRY", f"{entry.list_name}:{entry.entry_id}",
                                   ", ".join(entry.programs))),
                detected_at=utcnow(),
            ))  # fmt: skip
        return matches

    async def screen_profile(self, profile: KycProfile, actor: str) -> None:
        """Onboarding: screen the application's legal name and date of birth."""
        if profile.legal_name:
            await self.screen_customer(
                profile.tenant_id, profile.customer_id, profile.legal_name, profile.date_of_birth
            )

    async def screen_address(
        self, tenant_id: str, customer_id: str, address: str, context: str = "WITHDRAWAL",
        reference: str | None = None,
    ) -> AddressHit | None:  # fmt: skip
        """Screen a crypto address; a listed one raises a CRITICAL SANCTIONS_ADDRESS alert."""
        if not address.strip() or len(address) > 200:
            raise ValidationError("not a crypto address", field="address")
        found = self.current.match_address(address)
        if found is None:
            return None
        entry, currency = found
        evidence = [
            Evidence("ADDRESS", address.strip(), currency),
            Evidence("LIST_ENTRY", f"{entry.list_name}:{entry.entry_id}", entry.name),
        ]
        if reference:
            evidence.append(Evidence(context, reference))
        await self._raise(Alert(
            id=alert_id(AlertRule.SANCTIONS_ADDRESS, tenant_id,
                        f"{customer_id}|{address.strip().lower()}|{reference or ''}"),
            tenant_id=tenant_id, rule=AlertRule.SANCTIONS_ADDRESS, severity=Severity.CRITICAL,
            summary=f"{context.lower()} destination {address.strip()} is listed for "
                    f"{entry.name} ({entry.list_name} {entry.entry_id})",
            customer_id=customer_id, evidence=tuple(evidence), detected_at=utcnow(),
        ))  # fmt: skip
        return AddressHit(entry, currency, address.strip())

    async def require_clear_address(
        self, tenant_id: str, customer_id: str, address: str, reference: str | None = None
    ) -> None:
        """Custody's check before a withdrawal: SANCTIONS_HIT (and an alert) if listed."""
        hit = await self.screen_address(tenant_id, customer_id, address, "WITHDRAWAL", reference)
        if hit is not None:
            raise SanctionsHitError(
                "the destination address is on a sanctions list; the withdrawal is blocked",
                list=hit.entry.list_name,
                entry=hit.entry.entry_id,
            )

    async def reload(
        self, progress: Callable[[int], None] | None = None, folder: Path | None = None
    ) -> ReloadReport:
        """Load the lists again from their files (from ``folder`` from now on, if given) and
        re-screen every customer and known destination against them."""
        async with self._lock:
            self._folder = folder or self._folder
            loaded = await asyncio.to_thread(load_ofac_sdn, self._folder)
            self._list = loaded
            raised_before, customers, addresses = self.alerts_raised, 0, 0
            for profile in await self._profiles.all_profiles(None):
                await self.screen_profile(profile, "system:rescreen")
                customers += 1
                if progress is not None:
                    progress(customers)
            if self._addresses is not None:
                async for tenant_id, customer_id, address in self._addresses.destinations():
                    await self.screen_address(tenant_id, customer_id, address, "RESCREEN")
                    addresses += 1
            log.info("sanctions lists reloaded", extra={"entries": len(loaded.entries)})
            return ReloadReport(
                loaded.name, len(loaded.entries), loaded.address_count, loaded.checksum,
                loaded.loaded_at, customers, addresses, self.alerts_raised - raised_before,
            )  # fmt: skip
