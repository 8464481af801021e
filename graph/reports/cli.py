"""`caas report`: a compliance report straight from the store, streamed to a file or stdout
with a rich progress bar (rows written) on stderr."""

from __future__ import annotations

import datetime as dt
import sys
from pathlib import Path
from typing import BinaryIO

from pymongo import AsyncMongoClient
from rich.console import Console
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from domains.compliance.alert_repository import MongoAlertRepository
from domains.compliance.monitoring_repository import MongoMonitoringRepository
from domains.compliance.reports import ReportFormat, ReportKind, ReportRequest, ReportService
from domains.compliance.repository import MongoComplianceRepository
from domains.shared.errors import DomainError
from domains.shared.mongo import Client
from graph.bootstrap import ENGINE_CONFIG
from graph.reports.sources import MongoReportSources
from graph.settings import Settings
from graph.writer.engine_directory import MongoEngineDirectory


def _when(value: str, name: str) -> dt.datetime:
    parsed = dt.datetime.fromisoformat(value)
    if parsed.tzinfo is None:
        raise ValueError(f"--{name} needs a zone, e.g. 2026-11-01T00:00:00Z")
    return parsed.astimezone(dt.UTC)


async def export_report(
    settings: Settings, uri: str, kind: str, tenant: str, since: str, until: str, fmt: str,
    out: Path | None,
) -> int:  # fmt: skip
    """Write the report; 0 on success, 2 for a bad request."""
    console = Console(stderr=True)
    try:
        request = ReportRequest(
            ReportKind(kind.upper()), tenant, _when(since, "from"), _when(until, "to")
        ).validate()
        encoding = ReportFormat(fmt.upper())
    except (ValueError, DomainError) as exc:
        console.print(f"[red]error:[/red] {getattr(exc, 'message', exc)}")
        return 2
    client: Client = AsyncMongoClient(uri, tz_aware=True, appname="caas-report")
    try:
        db = client[settings.mongodb_db]
        directory = MongoEngineDirectory(
            db, ENGINE_CONFIG.max_accounts, ENGINE_CONFIG.max_assets, ENGINE_CONFIG.max_markets
        )
        await directory.load()
        service = ReportService(MongoReportSources(db, directory), MongoAlertRepository(db),
                                MongoMonitoringRepository(db),
                                MongoComplianceRepository(db))  # fmt: skip
        sink: BinaryIO = out.open("wb") if out is not None else sys.stdout.buffer
        columns = (SpinnerColumn(), TextColumn("{task.description}"),
                   TextColumn("{task.completed:,} rows"), TimeElapsedColumn())  # fmt: skip
        try:
            with Progress(*columns, console=console) as progress:
                task = progress.add_task(f"{request.kind.value.lower()} of {tenant}", total=None)
                async for chunk in service.stream(
                    request, encoding, lambda n: progress.update(task, completed=n)
                ):
                    sink.write(chunk)
        finally:
            if out is not None:
                sink.close()
    finally:
        await client.close()
    return 0
