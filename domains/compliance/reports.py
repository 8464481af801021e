"""Regulatory report export: trades, orders, deposits/withdrawals, balances as of a date,
alerts and cases of one tenant and period, as CSV or JSON, streamed row by row.

Nothing is held in memory beyond one chunk of rows: sources are async iterators over
database cursors and the encoders yield bytes as they go. Trades, orders and balances are
other domains' read models; the composition root supplies them through ``ReportSources``
(graph/reports/sources.py), so this module never reads their collections.
"""

from __future__ import annotations

import csv
import datetime as dt
import enum
import io
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Protocol

import orjson

from domains.compliance.alert_repository import MongoAlertRepository
from domains.compliance.monitoring_repository import MongoMonitoringRepository
from domains.compliance.repository import MongoComplianceRepository
from domains.shared.errors import ValidationError

Row = dict[str, str]
CHUNK_ROWS = 500
MAX_PERIOD = dt.timedelta(days=3660)


class ReportKind(enum.Enum):
    """What a report lists."""

    TRADES = "TRADES"
    ORDERS = "ORDERS"
    MOVEMENTS = "MOVEMENTS"  # deposits and withdrawals
    BALANCES = "BALANCES"  # as of the end of the period
    ALERTS = "ALERTS"
    CASES = "CASES"
    CUSTOMERS = "CUSTOMERS"  # every customer onboarded before the end of the period
    KYC_DECISIONS = "KYC_DECISIONS"  # each customer's current KYC decision (as of now)


class ReportFormat(enum.Enum):
    """How a report is encoded."""

    CSV = "CSV"
    JSON = "JSON"


COLUMNS: dict[ReportKind, tuple[str, ...]] = {
    ReportKind.TRADES: ("trade_id", "executed_at", "market", "side", "role", "price",
                        "quantity", "fee", "account_id", "customer_id", "order_id", "venue",
                        "seq"),
    ReportKind.ORDERS: ("order_id", "created_at", "updated_at", "account_id", "customer_id",
                        "market", "side", "type", "time_in_force", "price", "stop_price",
                        "quantity", "filled_quantity", "status", "client_order_id", "reason"),
    ReportKind.MOVEMENTS: ("seq", "at", "kind", "customer_id", "account_id", "asset", "amount",
                           "counterparty", "reference"),
    ReportKind.BALANCES: ("as_of", "account_id", "customer_id", "asset", "balance", "seq"),
    ReportKind.ALERTS: ("alert_id", "detected_at", "rule", "severity", "status", "customer_id",
                        "market", "summary", "case_id", "evidence"),
    ReportKind.CASES: ("case_id", "created_at", "updated_at", "title", "status", "decision",
                       "assignee", "customer_id", "alert_ids", "notes"),
    ReportKind.CUSTOMERS: ("customer_id", "created_at", "display_name", "email", "external_ref"),
    ReportKind.KYC_DECISIONS: ("customer_id", "status", "level", "updated_at", "reviewed_by",
                               "provider", "submitted_at", "nationality", "note"),
}  # fmt: skip


@dataclass(frozen=True)
class ReportRequest:
    """One tenant's report of one kind over ``[since, until)``."""

    kind: ReportKind
    tenant_id: str
    since: dt.datetime
    until: dt.datetime

    def validate(self) -> ReportRequest:
        if self.since.tzinfo is None or self.until.tzinfo is None:
            raise ValidationError("report periods need times with a zone (UTC)")
        if self.until <= self.since or self.until - self.since > MAX_PERIOD:
            raise ValidationError("the period must be non-empty and at most ten years")
        return self


class ReportSources(Protocol):
    """Other domains' read models, streamed per tenant (the composition root implements it)."""

    def trades(
        self, tenant_id: str, since: dt.datetime, until: dt.datetime
    ) -> AsyncIterator[Row]: ...
    def orders(
        self, tenant_id: str, since: dt.datetime, until: dt.datetime
    ) -> AsyncIterator[Row]: ...
    def balances(self, tenant_id: str, as_of: dt.datetime) -> AsyncIterator[Row]: ...
    def customers(self, tenant_id: str, until: dt.datetime) -> AsyncIterator[Row]: ...


def iso(value: dt.datetime | None) -> str:
    if value is None:
        return ""
    return value.astimezone(dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class ReportService:
    """Builds report rows and encodes them as a stream."""

    def __init__(
        self, sources: ReportSources, alerts: MongoAlertRepository,
        monitoring: MongoMonitoringRepository, kyc: MongoComplianceRepository | None = None,
    ) -> None:  # fmt: skip
        self._sources = sources
        self._alerts = alerts
        self._monitoring = monitoring
        self._kyc = kyc

    async def rows(self, request: ReportRequest) -> AsyncIterator[Row]:
        """The report's rows, in the order the store yields them."""
        r, kind = request.validate(), request.kind
        if kind is ReportKind.TRADES:
            source = self._sources.trades(r.tenant_id, r.since, r.until)
        elif kind is ReportKind.ORDERS:
            source = self._sources.orders(r.tenant_id, r.since, r.until)
        elif kind is ReportKind.BALANCES:
            source = self._sources.balances(r.tenant_id, r.until)
        elif kind is ReportKind.MOVEMENTS:
            source = self._movements(r)
        elif kind is ReportKind.ALERTS:
            source = self._alert_rows(r)
        elif kind is ReportKind.CUSTOMERS:
            source = self._sources.customers(r.tenant_id, r.until)
        elif kind is ReportKind.KYC_DECISIONS:
            source = self._kyc_rows(r)
        else:
            source = self._case_rows(r)
        async for row in source:
            yield row

    async def _movements(self, r: ReportRequest) -> AsyncIterator[Row]:
        async for t in self._monitoring.stream(r.tenant_id, r.since, r.until):
            yield {"seq": str(t.seq), "at": iso(t.at), "kind": t.kind.value,
                   "customer_id": t.customer_id, "account_id": t.account_id, "asset": t.asset,
                   "amount": str(t.amount), "counterparty": t.counterparty or "",
                   "reference": t.reference or ""}  # fmt: skip

    async def _alert_rows(self, r: ReportRequest) -> AsyncIterator[Row]:
        async for a in self._alerts.stream_alerts(r.tenant_id, r.since, r.until):
            yield {"alert_id": a.id, "detected_at": iso(a.detected_at), "rule": a.rule.value,
                   "severity": a.severity.value, "status": a.status.value,
                   "customer_id": a.customer_id or "", "market": a.market_id or "",
                   "summary": a.summary, "case_id": a.case_id or "",
                   "evidence": ";".join(f"{e.kind}:{e.ref}" for e in a.evidence)}  # fmt: skip

    async def _kyc_rows(self, r: ReportRequest) -> AsyncIterator[Row]:
        if self._kyc is None:
            return
        async for p in self._kyc.stream_profiles(r.tenant_id):
            yield {"customer_id": p.customer_id, "status": p.status.value, "level": str(p.level),
                   "updated_at": iso(p.updated_at), "reviewed_by": p.reviewed_by or "",
                   "provider": p.provider, "submitted_at": iso(p.submitted_at),
                   "nationality": p.nationality or "", "note": p.note or ""}  # fmt: skip

    async def _case_rows(self, r: ReportRequest) -> AsyncIterator[Row]:
        async for c in self._alerts.stream_cases(r.tenant_id, r.since, r.until):
            yield {"case_id": c.id, "created_at": iso(c.created_at),
                   "updated_at": iso(c.updated_at), "title": c.title, "status": c.status.value,
                   "decision": c.decision.value if c.decision else "",
                   "assignee": c.assignee or "", "customer_id": c.customer_id or "",
                   "alert_ids": ";".join(c.alert_ids), "notes": str(len(c.notes))}  # fmt: skip

    async def stream(
        self, request: ReportRequest, fmt: ReportFormat,
        progress: Callable[[int], None] | None = None,
    ) -> AsyncIterator[bytes]:  # fmt: skip
        """The encoded report, in chunks of CHUNK_ROWS rows; ``progress`` gets the row count."""
        columns = COLUMNS[request.kind]
        encode = _csv_chunk if fmt is ReportFormat.CSV else _json_chunk
        if fmt is ReportFormat.CSV:
            yield _csv_chunk(columns, [dict(zip(columns, columns, strict=True))], first=True)
        else:
            yield b"["
        count, chunk = 0, []
        async for row in self.rows(request):
            chunk.append(row)
            if len(chunk) >= CHUNK_ROWS:
                yield encode(columns, chunk, first=count == 0)
                count += len(chunk)
                chunk = []
                if progress is not None:
                    progress(count)
        if chunk:
            yield encode(columns, chunk, first=count == 0)
            count += len(chunk)
        if progress is not None:
            progress(count)
        if fmt is ReportFormat.JSON:
            yield b"]\n"


def _csv_chunk(columns: tuple[str, ...], rows: list[Row], first: bool) -> bytes:
    buffer = io.StringIO()
    writer = csv.DictWriter(
        buffer, fieldnames=columns, extrasaction="ignore", lineterminator="\r\n"
    )
    for row in rows:
        writer.writerow({c: _safe_cell(row.get(c, "")) for c in columns})
    return buffer.getvalue().encode()


def _safe_cell(value: str) -> str:
    """Neutralise spreadsheet formulas (CSV injection): a cell never starts with = + - @."""
    if value[:1] in ("=", "+", "@") or (value[:1] == "-" and not _numeric(value)):
        return "'" + value
    return value


def _numeric(value: str) -> bool:
    try:
        float(value)
    except ValueError:
        return False
    return True


def _json_chunk(columns: tuple[str, ...], rows: list[Row], first: bool) -> bytes:
    body = b",\n".join(orjson.dumps({c: row.get(c, "") for c in columns}) for row in rows)
    return body if first else b",\n" + body
