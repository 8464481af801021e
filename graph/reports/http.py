"""GET /reports/{kind}: a compliance report streamed as CSV or JSON, behind the same
authentication as /graphql (API key, signed request or token; COMPLIANCE of the tenant, or an
OPERATOR naming the tenant; the READ scope). GET /reports/regulatory: the signed bundle of
graph/reports/regulatory.py, under the same rules (a tenant's officer naming another tenant
is FORBIDDEN there). Every response carries the tenant's region (``x-caas-data-region``).

Query parameters: ``format`` (csv, json; default csv), ``from`` and ``to`` (ISO-8601 with a
zone; default the last 30 days; ``to`` is the as-of time of a BALANCES report), ``tenant``
(operators only). Refusals are JSON GraphQL-style errors with ``extensions.code`` and a 4xx
status, never a 500.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse

from domains.accounts.service import AccountsService
from domains.compliance.audit import CLIENT_ADDRESS, AuditEntry
from domains.compliance.audit_trail import AuditTrail
from domains.compliance.reports import ReportFormat, ReportKind, ReportRequest, ReportService
from domains.shared.context import RequestContext, Role, Scope, TenantScope
from domains.shared.engine_port import ReadModels
from domains.shared.errors import DomainError, ForbiddenError, NotFoundError, ValidationError
from domains.shared.scalars import utcnow
from graph.context import build_context
from graph.reports.regulatory import BundleRequest, ReportSigning, stream_bundle
from graph.security.ratelimit import address_of, client_address

STATUS = {"UNAUTHENTICATED": 401, "FORBIDDEN": 403, "NOT_FOUND": 404, "RATE_LIMITED": 429}
MEDIA = {ReportFormat.CSV: "text/csv; charset=utf-8", ReportFormat.JSON: "application/json"}
DEFAULT_PERIOD = dt.timedelta(days=30)
log = logging.getLogger("caas.reports")


def _time(request: Request, name: str, default: dt.datetime) -> dt.datetime:
    raw = request.query_params.get(name)
    if raw is None:
        return default
    try:
        parsed = dt.datetime.fromisoformat(raw)
    except ValueError as exc:
        raise ValidationError(f"{name} is not an ISO-8601 time", field=name) from exc
    if parsed.tzinfo is None:
        raise ValidationError(f"{name} needs a zone, e.g. a trailing Z", field=name)
    return parsed.astimezone(dt.UTC)


def parse_request(request: Request, context: RequestContext) -> tuple[ReportRequest, ReportFormat]:
    """The report asked for, if the caller may have it."""
    principal = context.require(Role.COMPLIANCE, Role.OPERATOR)
    context.require_scope(Scope.READ)
    try:
        kind = ReportKind(str(request.path_params["kind"]).upper())
        fmt = ReportFormat(request.query_params.get("format", "csv").upper())
    except ValueError as exc:
        raise ValidationError(
            "kind is one of " + ", ".join(k.value.lower() for k in ReportKind)
            + "; format is csv or json"
        ) from exc  # fmt: skip
    tenant = principal.tenant_id or request.query_params.get("tenant")
    if not tenant:
        raise ValidationError("operators name the tenant: ?tenant=<id>", field="tenant")
    until = _time(request, "to", dt.datetime.now(dt.UTC))
    since = _time(request, "from", until - DEFAULT_PERIOD)
    return ReportRequest(kind, tenant, since, until).validate(), fmt


def refusal(error: DomainError) -> Response:
    code = str(error.extensions.get("code", "INTERNAL"))
    body = {"errors": [{"message": error.message, "extensions": error.extensions}]}
    return JSONResponse(body, status_code=STATUS.get(code, 400))


async def _context(request: Request) -> RequestContext:
    platform = request.app.state.platform
    hops = platform.settings.limits.trusted_proxy_hops
    address = client_address.set(address_of(request.scope, hops))
    try:
        return await build_context(platform.services, request)
    finally:
        client_address.reset(address)


async def _region(platform: Any, tenant_id: str) -> str:
    """The tenant's data region (NOT_FOUND for no such tenant)."""
    found = await platform.get(AccountsService).tenants(TenantScope(None), [tenant_id])
    if not found:
        raise NotFoundError("no such tenant", id=tenant_id)
    region = found[0].data_region
    return region.value if region else "UNRECORDED"


async def _audit(platform: Any, context: RequestContext, tenant_id: str, operation: str,
                 arguments: dict[str, Any]) -> None:  # fmt: skip
    """The export is a compliance action: recorded before anything is streamed."""
    assert context.principal is not None
    await platform.get(AuditTrail).append(AuditEntry(
        tenant_id=tenant_id, actor=context.principal.key_id,
        role=context.principal.role.value, at=utcnow(),
        source_ip=str(context.transport.get(CLIENT_ADDRESS, "unknown")),
        operation=operation, outcome="OK", request_id=context.request_id, arguments=arguments,
    ))  # fmt: skip


Parse = Callable[[Request, RequestContext], tuple[ReportRequest, ReportFormat]]
Admitted = tuple[Any, RequestContext, ReportRequest, ReportFormat, str]


async def _admitted(request: Request, parse: Parse) -> Admitted | Response:
    """The platform, the caller, what it asked for and the tenant's region; or the refusal."""
    platform = request.app.state.platform
    context = await _context(request)
    try:
        report, fmt = parse(request, context)
        region = await _region(platform, report.tenant_id)
    except DomainError as error:
        return refusal(error)
    return platform, context, report, fmt, region


async def report_endpoint(request: Request) -> Response:
    """Stream one report (see the module docstring)."""
    admitted = await _admitted(request, parse_request)
    if isinstance(admitted, Response):
        return admitted
    platform, context, report, fmt, region = admitted
    await _audit(platform, context, report.tenant_id, "report.export",
                 {"kind": report.kind.value, "format": fmt.value,
                  "from": report.since.isoformat(), "to": report.until.isoformat()})  # fmt: skip
    # a report covers every command acknowledged before it was asked for: the read models
    # it streams from are written behind the journal, so they catch up to that point first
    await platform.get(ReadModels).settled()
    service = platform.get(ReportService)
    name = (f"{report.tenant_id}-{report.kind.value.lower()}-{report.since:%Y%m%dT%H%M%S}-"
            f"{report.until:%Y%m%dT%H%M%S}.{fmt.value.lower()}")  # fmt: skip
    return StreamingResponse(
        service.stream(report, fmt), media_type=MEDIA[fmt],
        headers={"content-disposition": f'attachment; filename="{name}"',
                 "cache-control": "no-store", "x-caas-data-region": region},
    )  # fmt: skip


def parse_bundle_request(
    request: Request, context: RequestContext
) -> tuple[ReportRequest, ReportFormat]:
    """The bundle asked for, if the caller may have it: a tenant's officers only their own."""
    principal = context.require(Role.COMPLIANCE, Role.OPERATOR)
    named = request.query_params.get("tenant")
    if principal.tenant_id is not None and named not in (None, principal.tenant_id):
        raise ForbiddenError("a tenant's officers export only their own tenant")
    context.require_scope(Scope.READ)
    try:
        fmt = ReportFormat(request.query_params.get("format", "csv").upper())
    except ValueError as exc:
        raise ValidationError("format is csv or json", field="format") from exc
    tenant = principal.tenant_id or named
    if not tenant:
        raise ValidationError("operators name the tenant: ?tenant=<id>", field="tenant")
    until = _time(request, "to", dt.datetime.now(dt.UTC))
    since = _time(request, "from", until - DEFAULT_PERIOD)
    return ReportRequest(ReportKind.TRADES, tenant, since, until).validate(), fmt


async def regulatory_endpoint(request: Request) -> Response:
    """Stream the signed regulatory bundle (graph/reports/regulatory.py) as a zip."""
    admitted = await _admitted(request, parse_bundle_request)
    if isinstance(admitted, Response):
        return admitted
    platform, context, report, fmt, region = admitted
    assert context.principal is not None
    await _audit(platform, context, report.tenant_id, "report.regulatory",
                 {"format": fmt.value, "from": report.since.isoformat(),
                  "to": report.until.isoformat()})  # fmt: skip
    await platform.get(ReadModels).settled()
    verification = await platform.get(AuditTrail).verify(report.tenant_id)
    bundle = BundleRequest(report, region, fmt, context.principal.key_id)
    ring = platform.get(ReportSigning).ring
    name = (f"{report.tenant_id}-regulatory-{report.since:%Y%m%dT%H%M%S}-"
            f"{report.until:%Y%m%dT%H%M%S}.zip")  # fmt: skip
    return StreamingResponse(
        stream_bundle(bundle, platform.get(ReportService), verification, ring, utcnow()),
        media_type="application/zip",
        headers={"content-disposition": f'attachment; filename="{name}"',
                 "cache-control": "no-store", "x-caas-data-region": region},
    )  # fmt: skip
