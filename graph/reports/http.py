"""GET /reports/{kind}: a compliance report streamed as CSV or JSON, behind the same
authentication as /graphql (API key, signed request or token; COMPLIANCE of the tenant, or an
OPERATOR naming the tenant; the READ scope).

Query parameters: ``format`` (csv, json; default csv), ``from`` and ``to`` (ISO-8601 with a
zone; default the last 30 days; ``to`` is the as-of time of a BALANCES report), ``tenant``
(operators only). Refusals are JSON GraphQL-style errors with ``extensions.code`` and a 4xx
status, never a 500.
"""

from __future__ import annotations

import datetime as dt
import logging

from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse

from domains.compliance.audit import CLIENT_ADDRESS, AuditEntry
from domains.compliance.audit_trail import AuditTrail
from domains.compliance.reports import ReportFormat, ReportKind, ReportRequest, ReportService
from domains.shared.context import RequestContext, Role, Scope
from domains.shared.engine_port import ReadModels
from domains.shared.errors import DomainError, ValidationError
from domains.shared.scalars import utcnow
from graph.context import build_context
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


async def report_endpoint(request: Request) -> Response:
    """Stream one report (see the module docstring)."""
    platform = request.app.state.platform
    hops = platform.settings.limits.trusted_proxy_hops
    address = client_address.set(address_of(request.scope, hops))
    try:
        context = await build_context(platform.services, request)
    finally:
        client_address.reset(address)
    try:
        report, fmt = parse_request(request, context)
    except DomainError as error:
        return refusal(error)
    assert context.principal is not None
    await platform.get(AuditTrail).append(AuditEntry(  # the export is a compliance action
        tenant_id=report.tenant_id, actor=context.principal.key_id,
        role=context.principal.role.value, at=utcnow(),
        source_ip=str(context.transport.get(CLIENT_ADDRESS, "unknown")),
        operation="report.export", outcome="OK", request_id=context.request_id,
        arguments={"kind": report.kind.value, "format": fmt.value,
                   "from": report.since.isoformat(), "to": report.until.isoformat()},
    ))  # fmt: skip
    # a report covers every command acknowledged before it was asked for: the read models
    # it streams from are written behind the journal, so they catch up to that point first
    await platform.get(ReadModels).settled()
    service = platform.get(ReportService)
    name = (f"{report.tenant_id}-{report.kind.value.lower()}-{report.since:%Y%m%dT%H%M%S}-"
            f"{report.until:%Y%m%dT%H%M%S}.{fmt.value.lower()}")  # fmt: skip
    return StreamingResponse(
        service.stream(report, fmt), media_type=MEDIA[fmt],
        headers={"content-disposition": f'attachment; filename="{name}"',
                 "cache-control": "no-store"},
    )  # fmt: skip
