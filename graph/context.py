"""Builds each request's context: who is calling (from the Authorization header) and services."""

from __future__ import annotations

import uuid
from collections.abc import Mapping

from domains.accounts.service import AccountsService
from domains.shared.context import Principal, RequestContext

REQUEST_ID_HEADER = "x-request-id"


def _bearer(headers: Mapping[str, str]) -> str | None:
    raw = headers.get("authorization")
    if not raw:
        return None
    scheme, _, token = raw.partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


async def authenticate(
    services: dict[type, object], headers: Mapping[str, str]
) -> Principal | None:
    """The principal named by the request's credentials; None when anonymous or unknown.

    The security issue hardens this (signed requests, scopes, tokens): a change here only.
    """
    token = _bearer(headers)
    if token is None:
        return None
    accounts = services[AccountsService]
    assert isinstance(accounts, AccountsService)
    return await accounts.authenticate(token)


async def build_context(
    services: dict[type, object], headers: Mapping[str, str], request_id: str | None = None
) -> RequestContext:
    principal = await authenticate(services, headers)
    failure = None
    if principal is None and _bearer(headers) is not None:
        failure = "the API key is unknown, revoked or malformed"
    return RequestContext(
        principal=principal,
        request_id=request_id or uuid.uuid4().hex,
        services=services,
        auth_failure=failure,
    )
