"""GET /reports/invoices: invoices as CSV or JSON (domains/accounts/billing/export.py),
behind the same authentication as /graphql: a TENANT_ADMIN gets its own tenant's, an
OPERATOR every tenant's or the one it names (``tenant``); the READ scope.

Query parameters: ``format`` (csv, json; default csv), ``month`` (YYYY-MM; default every
month), ``tenant`` (operators). Refusals are JSON GraphQL-style errors with
``extensions.code`` and a 4xx status (graph/reports/http.py), never a 500.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from domains.accounts.billing.export import encode
from domains.accounts.billing.model import Month
from domains.accounts.billing.service import BillingService
from domains.compliance.reports import ReportFormat
from domains.shared.context import Role, Scope
from domains.shared.errors import DomainError, ValidationError
from graph.context import build_context
from graph.reports.http import MEDIA, refusal
from graph.security.ratelimit import address_of, client_address


async def invoices_endpoint(request: Request) -> Response:
    """The caller's invoices, encoded (see the module docstring)."""
    platform = request.app.state.platform
    address = client_address.set(
        address_of(request.scope, platform.settings.limits.trusted_proxy_hops)
    )
    try:
        context = await build_context(platform.services, request)
    finally:
        client_address.reset(address)
    try:
        actor = context.require(Role.TENANT_ADMIN, Role.OPERATOR)
        context.require_scope(Scope.READ)
        fmt = request.query_params.get("format", "csv").lower()
        if fmt not in ("csv", "json"):
            raise ValidationError("format is csv or json", field="format")
        raw_month = request.query_params.get("month")
        month = Month.parse(raw_month) if raw_month is not None else None
        tenant = request.query_params.get("tenant")
        body = encode(await platform.get(BillingService).all_invoices(actor, tenant, month), fmt)
    except DomainError as error:
        return refusal(error)
    name = f"invoices-{actor.tenant_id or tenant or 'all'}-{month or 'all'}.{fmt}"
    return Response(body, media_type=MEDIA[ReportFormat(fmt.upper())],
                    headers={"content-disposition": f'attachment; filename="{name}"',
                             "cache-control": "no-store"})  # fmt: skip
