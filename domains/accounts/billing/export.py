"""Invoices as CSV or JSON, one row per invoice line (the totals are the sums of a given
invoice's rows per asset), for `/reports/invoices` and `caas billing export`."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable

import orjson

from domains.accounts.billing.model import Invoice
from domains.shared.errors import ValidationError

COLUMNS = ("invoice_id", "tenant_id", "month", "plan_version", "status", "issued_at", "line",
           "kind", "description", "asset", "quantity", "rate", "amount")  # fmt: skip
FORMATS = ("csv", "json")


def rows(invoices: Iterable[Invoice]) -> list[dict[str, str]]:
    found = []
    for invoice in invoices:
        head = {"invoice_id": invoice.id, "tenant_id": invoice.tenant_id,
                "month": str(invoice.month), "plan_version": str(invoice.plan_version),
                "status": invoice.status.value,
                "issued_at": invoice.issued_at.isoformat(timespec="milliseconds")
                .replace("+00:00", "Z")}  # fmt: skip
        for number, line in enumerate(invoice.lines, start=1):
            amount = invoice.amount(line.asset, line.amount_minor)
            text = format(amount.normalize(), "f") if amount else "0"
            found.append({**head, "line": str(number), "kind": line.kind.value,
                          "description": line.description, "asset": line.asset,
                          "quantity": line.quantity, "rate": line.rate,
                          "amount": text})  # fmt: skip
    return found


def _safe(value: str) -> str:
    """No cell starts a spreadsheet formula (CSV injection): = + @, or - before a non-number."""
    if value[:1] in ("=", "+", "@") or (value[:1] == "-" and not _numeric(value)):
        return "'" + value
    return value


def _numeric(value: str) -> bool:
    try:
        float(value)
    except ValueError:
        return False
    return True


def encode(invoices: Iterable[Invoice], fmt: str) -> bytes:
    """The invoices' lines as CSV (a header row, CRLF) or a JSON array of objects."""
    if fmt not in FORMATS:
        raise ValidationError("format is csv or json", field="format")
    found = rows(invoices)
    if fmt == "json":
        return orjson.dumps(found) + b"\n"
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=COLUMNS, lineterminator="\r\n")
    writer.writeheader()
    for row in found:
        writer.writerow({c: _safe(row[c]) for c in COLUMNS})
    return buffer.getvalue().encode()
