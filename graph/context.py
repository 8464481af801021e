"""Builds each request's context: who is calling (graph/security/authn.py) and the services."""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Mapping
from typing import Any

from starlette.requests import HTTPConnection, Request

from domains.compliance.audit import CLIENT_ADDRESS
from domains.shared.context import RequestContext
from graph.security.authn import (
    SIGNATURE_HEADERS,
    Authenticator,
    AuthRejectedError,
    CredentialRequest,
)
from graph.security.ratelimit import AUTH_THROTTLED, Budget, RequestRateLimiter, client_address

REQUEST_ID_HEADER = "x-request-id"
HANDSHAKE = "credential_request"  # RequestContext.transport entry: the request's own credential
CREDENTIAL_PARAMS = ("authorization", *SIGNATURE_HEADERS)


def _path(scope: Mapping[str, Any]) -> str:
    """The path and query as the client sent them (what a request signature covers)."""
    raw = scope.get("raw_path") or scope["path"].encode()
    path = raw.split(b"?", 1)[0].decode("latin-1")
    query = scope.get("query_string") or b""
    return f"{path}?{query.decode('latin-1')}" if query else path


async def credential_request(connection: HTTPConnection) -> CredentialRequest:
    """The parts of an HTTP request or WebSocket handshake that authentication looks at."""
    scope = connection.scope
    websocket = scope["type"] == "websocket"
    headers = connection.headers
    request = CredentialRequest(
        headers=headers,
        method="GET" if websocket else str(scope["method"]),
        path=_path(scope),
        body=b"",
        peer=connection.client.host if connection.client else None,
        transport="ws" if websocket else "http",
    )
    if request.signed() and isinstance(connection, Request):
        return dataclasses.replace(request, body=await connection.body())
    return request


async def build_context(
    services: dict[type, object], connection: HTTPConnection, request_id: str | None = None
) -> RequestContext:
    """The request's context; a refused credential leaves its reason for the error policy."""
    request = await credential_request(connection)
    context = RequestContext(
        principal=None,
        request_id=request_id or uuid.uuid4().hex,
        services=services,
    )
    context.transport[HANDSHAKE] = request
    context.transport[CLIENT_ADDRESS] = client_address.get()  # for the audit trail
    authenticator = services[Authenticator]
    assert isinstance(authenticator, Authenticator)
    limiter = services.get(RequestRateLimiter)
    throttle = limiter if isinstance(limiter, RequestRateLimiter) else None
    address = f"ip:{client_address.get()}"
    if throttle is not None and _presents_credentials(request):
        # an address that keeps failing is refused before any (argon2) verification runs
        refusal = await throttle.spent(address, Budget.AUTH_FAILURES)
        if refusal is not None:
            context.transport[AUTH_THROTTLED] = refusal
            return context
    try:
        context.principal = await authenticator.authenticate(request)
    except AuthRejectedError as rejected:
        context.auth_failure, context.auth_reason = rejected.message, rejected.reason
        if throttle is not None:
            await throttle.refused(address)
    return context


def _presents_credentials(request: CredentialRequest) -> bool:
    return bool(request.headers.get("authorization")) or request.signed()


async def authenticate_connection_init(context: RequestContext) -> None:
    """graphql-transport-ws: credentials in ``connection_init``'s payload replace the handshake's.

    The payload carries what headers would: ``Authorization`` (an API key token or a customer
    token), or ``X-CAAS-Key``/``X-CAAS-Timestamp``/``X-CAAS-Signature`` signing the handshake
    (method GET, the socket's path, empty body). Raises AuthRejectedError when refused.
    """
    params = {
        str(name).lower(): value
        for name, value in (context.connection_params or {}).items()
        if isinstance(value, str) and str(name).lower() in CREDENTIAL_PARAMS
    }
    if params:
        handshake = context.transport[HANDSHAKE]
        assert isinstance(handshake, CredentialRequest)
        authenticator = context.services[Authenticator]
        assert isinstance(authenticator, Authenticator)
        request = dataclasses.replace(handshake, headers=params)
        context.principal = await authenticator.authenticate(request)
        context.auth_failure = context.auth_reason = None
    elif context.auth_failure is not None:
        raise AuthRejectedError(context.auth_reason or "BAD_CREDENTIALS", context.auth_failure)


async def credential_problem(context: RequestContext) -> AuthRejectedError | None:
    """Why the principal of an open connection may no longer act (expired, revoked), or None."""
    if context.principal is None:
        return None
    authenticator = context.services[Authenticator]
    assert isinstance(authenticator, Authenticator)
    return await authenticator.revalidate(context.principal)


def recheck_seconds(context: RequestContext) -> float:
    """How often an open connection re-checks its credential (the key cache period)."""
    authenticator = context.services.get(Authenticator)
    cache = authenticator.settings.cache_seconds if isinstance(authenticator, Authenticator) else 5
    return max(1.0, cache)
