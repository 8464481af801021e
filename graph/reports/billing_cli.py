"""`caas billing close-month` and `caas billing export`: billing straight from the store
(no server needed), with a rich progress bar on stderr. Closing is idempotent: a month
closed again prints the invoices already issued."""

from __future__ import annotations

import datetime as dt
import sys
from decimal import Decimal
from pathlib import Path

from pymongo import AsyncMongoClient
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from domains.accounts.billing.export import encode
from domains.accounts.billing.model import Month
from domains.accounts.billing.repository import MongoBillingRepository
from domains.accounts.billing.service import BillingService
from domains.accounts.repository import MongoAccountsRepository
from domains.shared.context import Principal, Role
from domains.shared.errors import DomainError
from domains.shared.mongo import Client
from graph.bootstrap import ENGINE_CONFIG
from graph.settings import Settings
from graph.writer.billing_ledger import MongoBillingLedger
from graph.writer.engine_directory import MongoEngineDirectory

CLI_ACTOR = "cli:billing"


def default_month(now: dt.datetime | None = None) -> Month:
    """The month before the current one (UTC): the one a monthly run closes."""
    return Month.of(now or dt.datetime.now(dt.UTC)).previous()


async def _service(settings: Settings, client: Client) -> BillingService:
    db = client[settings.mongodb_db]
    directory = MongoEngineDirectory(
        db, ENGINE_CONFIG.max_accounts, ENGINE_CONFIG.max_assets, ENGINE_CONFIG.max_markets
    )
    await directory.load()
    ledger = MongoBillingLedger(db, directory)
    return BillingService(MongoBillingRepository(db), MongoAccountsRepository(db), ledger, ledger)


async def close_month(settings: Settings, uri: str, month: str | None, tenant: str | None) -> int:
    """Close the month; 0 on success, 2 for a refusal (bad month, month not over...)."""
    console = Console(stderr=True)
    client: Client = AsyncMongoClient(uri, tz_aware=True, appname="caas-billing")
    try:
        service = await _service(settings, client)
        try:
            which = Month.parse(month) if month is not None else default_month()
            columns = (TextColumn("{task.description}"), BarColumn(),
                       TextColumn("{task.completed} tenants"), TimeElapsedColumn())  # fmt: skip
            with Progress(*columns, console=console) as progress:
                task = progress.add_task(f"closing {which}", total=None)
                results = await service.close_month(
                    which, CLI_ACTOR, [tenant] if tenant else None,
                    lambda n: progress.update(task, completed=n),
                )  # fmt: skip
        except DomainError as exc:
            console.print(f"[red]error:[/red] {exc.message} ({exc.extensions['code']})")
            return 2
    finally:
        await client.close()
    table = Table(title=f"Invoices for {which}")
    for column in ("tenant", "invoice", "status", "totals", "new"):
        table.add_column(column)
    for r in results:
        if r.invoice is None:
            table.add_row(r.tenant_id, "-", "no plan", "", "")
            continue
        inv = r.invoice
        shown = ", ".join(f"{_text(inv.amount(a, m))} {a}" for a, m in inv.totals_minor.items())
        table.add_row(r.tenant_id, inv.id, inv.status.value, shown, "yes" if r.created else "no")
    Console().print(table)
    return 0


async def export(
    settings: Settings, uri: str, month: str | None, tenant: str | None, fmt: str,
    out: Path | None,
) -> int:  # fmt: skip
    """Write the invoices (every tenant, or one) as CSV or JSON; 2 for a bad request."""
    console = Console(stderr=True)
    client: Client = AsyncMongoClient(uri, tz_aware=True, appname="caas-billing")
    try:
        service = await _service(settings, client)
        try:
            which = Month.parse(month) if month is not None else None
            operator = Principal(CLI_ACTOR, Role.OPERATOR, None)
            body = encode(await service.all_invoices(operator, tenant, which), fmt.lower())
        except DomainError as exc:
            console.print(f"[red]error:[/red] {exc.message} ({exc.extensions['code']})")
            return 2
    finally:
        await client.close()
    _write(out, body)
    return 0


def _text(amount: Decimal) -> str:
    return format(amount.normalize(), "f") if amount else "0"


def _write(out: Path | None, body: bytes) -> None:
    if out is None:
        sys.stdout.buffer.write(body)
    else:
        out.write_bytes(body)
