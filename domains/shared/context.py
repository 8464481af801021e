"""Who is calling and what a resolver may reach: Principal, Role and the per-request context.

Domains import this module, never graph/: the composition root fills the context in.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import enum
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from strawberry.dataloader import DataLoader

from domains.shared.errors import ForbiddenError, UnauthenticatedError

S = TypeVar("S")
K = TypeVar("K")
V = TypeVar("V")


def utc_iso_now() -> str:
    """Now as ISO-8601 UTC with milliseconds (what ``extensions.serverTime`` carries)."""
    now = dt.datetime.now(dt.UTC)
    return now.strftime("%Y-%m-%dT%H:%M:%S.") + f"{now.microsecond // 1000:03d}Z"


class Role(enum.Enum):
    """Roles of design.md section 5."""

    OPERATOR = "OPERATOR"
    TENANT_ADMIN = "TENANT_ADMIN"
    COMPLIANCE = "COMPLIANCE"
    RISK = "RISK"
    TRADER = "TRADER"


class Scope(enum.Enum):
    """What a credential may be used for, on top of its role (README "Authentication")."""

    READ = "READ"
    TRADE = "TRADE"
    WITHDRAW = "WITHDRAW"
    ADMIN = "ADMIN"


@dataclass(frozen=True)
class Principal:
    """An authenticated caller. ``tenant_id`` is None only for platform operators."""

    key_id: str
    role: Role
    tenant_id: str | None
    customer_id: str | None = None
    scopes: frozenset[str] = frozenset()
    expires_at: dt.datetime | None = None  # the credential's end (key expiry, token exp)
    signed: bool = False  # the request carried a valid HMAC signature
    issued_by: str | None = None  # for a customer token: the API key that minted it
    sandbox: bool = False  # the credential belongs to a sandbox tenant (README "Sandbox tenants")

    @property
    def is_operator(self) -> bool:
        return self.role is Role.OPERATOR

    def has_scope(self, scope: Scope) -> bool:
        return scope.value in self.scopes


@dataclass(frozen=True)
class TenantScope:
    """The tenant (and for traders the customer) every repository call is scoped to.

    ``tenant_id`` None means all tenants: operators only.
    """

    tenant_id: str | None
    customer_id: str | None = None

    @classmethod
    def of(cls, principal: Principal) -> TenantScope:
        """Staff see their tenant; a TRADER sees only its own customer inside it."""
        customer = principal.customer_id if principal.role is Role.TRADER else None
        return cls(tenant_id=principal.tenant_id, customer_id=customer)

    def filter(self) -> dict[str, Any]:
        """A Mongo filter fragment restricting a query to this tenant."""
        return {} if self.tenant_id is None else {"tenant_id": self.tenant_id}

    def owner_filter(self, field: str = "customer_id") -> dict[str, Any]:
        """Tenant filter plus, for a trader, its own customer id in ``field``."""
        if self.customer_id is None:
            return self.filter()
        return {**self.filter(), field: self.customer_id}


class SharedDataLoader(DataLoader[K, V]):
    """A DataLoader whose pending loads survive a sibling's cancellation.

    graphql-core cancels the other resolvers of a selection when one field fails; a task
    cancelled while awaiting a shared load future would cancel that future itself, and
    every other resolver awaiting the same key would then see CancelledError (which escapes
    GraphQL error handling as a server error). Each caller awaits a shield instead.
    """

    def load(self, key: K) -> Awaitable[V]:
        return asyncio.shield(super().load(key))


@dataclass
class RequestContext:
    """Per-request state: the principal, the wired services, and this request's DataLoaders."""

    principal: Principal | None
    request_id: str
    services: dict[type, object]
    auth_failure: str | None = None
    auth_reason: str | None = None  # extensions.reason of a refused credential
    connection_params: dict[str, Any] | None = None
    transport: dict[str, object] = field(default_factory=dict)  # composition root's notes
    _loaders: dict[str, DataLoader[Any, Any]] = field(default_factory=dict)

    def get(self, kind: type[S]) -> S:
        """The service instance of type ``kind`` wired by the composition root."""
        service = self.services.get(kind)
        if not isinstance(service, kind):
            raise LookupError(f"service {kind.__name__} is not wired")
        return service

    def loader(self, name: str, factory: Callable[[], DataLoader[K, V]]) -> DataLoader[K, V]:
        """This request's DataLoader called ``name``, created on first use."""
        existing = self._loaders.get(name)
        if existing is None:
            existing = factory()
            self._loaders[name] = existing
        return existing

    def require(self, *roles: Role) -> Principal:
        """The principal, if authenticated and holding one of ``roles`` (any role if none given)."""
        if self.principal is None:
            raise self.unauthenticated()
        if roles and self.principal.role not in roles:
            allowed = ", ".join(role.value for role in roles)
            raise ForbiddenError(f"this operation needs one of the roles: {allowed}")
        return self.principal

    def require_scope(self, *scopes: Scope) -> Principal:
        """The principal, if its credential carries every one of ``scopes`` (FORBIDDEN if not)."""
        principal = self.require()
        missing = [scope.value for scope in scopes if not principal.has_scope(scope)]
        if missing:
            raise ForbiddenError(
                f"this operation needs the scope {', '.join(missing)} on the credential",
                reason="MISSING_SCOPE",
                scopes=missing,
            )
        return principal

    def unauthenticated(self) -> UnauthenticatedError:
        """The error for a request without a usable credential (its reason when one was refused)."""
        if self.auth_failure is None:
            return UnauthenticatedError(
                "this operation needs credentials: Authorization: Bearer <keyId>.<secret>, "
                "a signed request or a customer token",
                reason="NO_CREDENTIALS",
            )
        return UnauthenticatedError(
            self.auth_failure,
            reason=self.auth_reason or "BAD_CREDENTIALS",
            serverTime=utc_iso_now(),
        )

    def scope(self) -> TenantScope:
        """The tenant scope of the authenticated caller."""
        return TenantScope.of(self.require())
