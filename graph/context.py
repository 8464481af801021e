"""Builds each request's context: who is calling (from the Authorization header) and services."""

from __future__ import annotations

import hashlib
import time
import uuid
from collections import OrderedDict
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


class PrincipalCache:
    """Recently verified tokens -> principal, for a few seconds (a key lookup per request
    otherwise costs a store round trip). A revoked key stops working within ``ttl_s``.
    """

    def __init__(self, ttl_s: float = 5.0, max_entries: int = 10_000) -> None:
        self.ttl_s = ttl_s
        self.max_entries = max_entries
        self._entries: OrderedDict[bytes, tuple[float, Principal]] = OrderedDict()

    def get(self, token: str) -> Principal | None:
        entry = self._entries.get(hashlib.sha256(token.encode()).digest())
        if entry is None or entry[0] < time.monotonic():
            return None
        return entry[1]

    def put(self, token: str, principal: Principal) -> None:
        key = hashlib.sha256(token.encode()).digest()
        self._entries[key] = (time.monotonic() + self.ttl_s, principal)
        self._entries.move_to_end(key)
        while len(self._entries) > self.max_entries:
            self._entries.popitem(last=False)


async def authenticate(
    services: dict[type, object], headers: Mapping[str, str]
) -> Principal | None:
    """The principal named by the request's credentials; None when anonymous or unknown.

    The security issue hardens this (signed requests, scopes, tokens): a change here only.
    """
    token = _bearer(headers)
    if token is None:
        return None
    cache = services.get(PrincipalCache)
    assert cache is None or isinstance(cache, PrincipalCache)
    cached = cache.get(token) if cache else None
    if cached is not None:
        return cached
    accounts = services[AccountsService]
    assert isinstance(accounts, AccountsService)
    principal = await accounts.authenticate(token)
    if principal is not None and cache is not None:
        cache.put(token, principal)
    return principal


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
