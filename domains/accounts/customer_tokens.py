"""Customer tokens: short-lived JWTs (HS256) an institution's backend mints for its front end.

A TENANT_ADMIN key mints a token for one customer of its tenant; the front end sends it as
``Authorization: Bearer <jwt>`` and acts as that customer (role TRADER). Tokens name the key
that minted them (``azp``), so revoking that key ends them too. Keys come from a ring
(``{kid: secret}``): the first signs, all verify, so the ring rotates without a flag day.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import jwt

from domains.accounts.errors import CustomerNotFoundError
from domains.accounts.model import Customer
from domains.shared.context import Principal, Role, Scope, TenantScope
from domains.shared.errors import ForbiddenError, ValidationError
from domains.shared.ids import new_id
from domains.shared.scalars import utcnow

ISSUER = "caas"
AUDIENCE = "caas-api"
ALGORITHM = "HS256"
DEFAULT_TTL_SECONDS = 900
MAX_TTL_SECONDS = 3600
TOKEN_SCOPES = frozenset({Scope.READ, Scope.TRADE, Scope.WITHDRAW})
DEFAULT_TOKEN_SCOPES = frozenset({Scope.READ, Scope.TRADE})
REQUIRED_CLAIMS = ("exp", "iat", "jti", "sub", "iss", "aud", "tenant", "customer", "scopes", "azp")


class CustomerDirectory(Protocol):
    async def customers_by_ids(self, scope: TenantScope, ids: Sequence[str]) -> list[Customer]: ...


class TokenRejectedError(Exception):
    """A token that does not authenticate; ``reason`` is the stable ``extensions.reason``."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message


@dataclass(frozen=True)
class MintedToken:
    """A minted token (returned once) and what it says."""

    token: str
    token_id: str
    customer_id: str
    scopes: frozenset[Scope]
    expires_at: dt.datetime


@dataclass(frozen=True)
class TokenClaims:
    """The verified claims of a customer token."""

    token_id: str
    tenant_id: str
    customer_id: str
    scopes: frozenset[str]
    issued_by: str
    expires_at: dt.datetime

    def principal(self) -> Principal:
        return Principal(
            key_id=self.token_id,
            role=Role.TRADER,
            tenant_id=self.tenant_id,
            customer_id=self.customer_id,
            scopes=self.scopes,
            expires_at=self.expires_at,
            issued_by=self.issued_by,
        )


def looks_like_jwt(token: str) -> bool:
    """Three dot-separated parts (API key tokens have two)."""
    return token.count(".") == 2


class CustomerTokens:
    """Mints and verifies customer tokens under the key ring ``ring`` (first one signs)."""

    def __init__(self, customers: CustomerDirectory, ring: Mapping[str, bytes]) -> None:
        if not ring:
            raise ValueError("the customer token key ring is empty")
        for kid, key in ring.items():
            if len(key) < 32 or not kid:
                raise ValueError(f"token key {kid!r} must have an id and at least 32 bytes")
        self._customers = customers
        self._ring = dict(ring)
        self._current = next(iter(ring))

    async def mint(
        self,
        actor: Principal,
        customer_id: str,
        scopes: Iterable[Scope] | None,
        ttl_seconds: int | None,
    ) -> MintedToken:
        """A token for a customer of the actor's tenant, with at most the actor's scopes."""
        if actor.role is not Role.TENANT_ADMIN or actor.tenant_id is None:
            raise ForbiddenError("customer tokens are minted with a tenant admin key")
        granted = _token_scopes(actor, scopes)
        ttl = DEFAULT_TTL_SECONDS if ttl_seconds is None else ttl_seconds
        if not 1 <= ttl <= MAX_TTL_SECONDS:
            raise ValidationError(f"ttlSeconds must be 1 to {MAX_TTL_SECONDS}", field="ttlSeconds")
        scope = TenantScope(actor.tenant_id)
        if not await self._customers.customers_by_ids(scope, [customer_id]):
            raise CustomerNotFoundError("no such customer", id=customer_id)
        now = utcnow()
        expires = now + dt.timedelta(seconds=ttl)
        token_id = new_id("tok")
        claims: dict[str, Any] = {
            "iss": ISSUER,
            "aud": AUDIENCE,
            "sub": customer_id,
            "tenant": actor.tenant_id,
            "customer": customer_id,
            "scopes": sorted(s.value for s in granted),
            "azp": actor.key_id,
            "iat": int(now.timestamp()),
            "exp": int(expires.timestamp()),
            "jti": token_id,
        }
        token = jwt.encode(
            claims, self._ring[self._current], algorithm=ALGORITHM, headers={"kid": self._current}
        )
        expires_at = dt.datetime.fromtimestamp(claims["exp"], dt.UTC)
        return MintedToken(token, token_id, customer_id, granted, expires_at)

    def verify(self, token: str) -> TokenClaims:
        """The claims of a valid token; TokenRejectedError (TOKEN_EXPIRED, BAD_TOKEN) if not."""
        try:
            header = jwt.get_unverified_header(token)
            key = self._ring.get(str(header.get("kid", "")))
            if key is None or header.get("alg") != ALGORITHM:
                raise TokenRejectedError("BAD_TOKEN", "the token is not signed by this platform")
            claims = jwt.decode(
                token,
                key,
                algorithms=[ALGORITHM],
                audience=AUDIENCE,
                issuer=ISSUER,
                options={"require": list(REQUIRED_CLAIMS)},
            )
        except jwt.ExpiredSignatureError as exc:
            raise TokenRejectedError("TOKEN_EXPIRED", "the customer token has expired") from exc
        except jwt.InvalidTokenError as exc:
            raise TokenRejectedError("BAD_TOKEN", "the customer token is not valid") from exc
        return _claims(claims)


def _token_scopes(actor: Principal, requested: Iterable[Scope] | None) -> frozenset[Scope]:
    granted = DEFAULT_TOKEN_SCOPES if requested is None else frozenset(requested)
    if not granted or not granted <= TOKEN_SCOPES:
        raise ValidationError("a customer token holds READ, TRADE and/or WITHDRAW", field="scopes")
    beyond = {s.value for s in granted} - actor.scopes
    if beyond:
        names = ", ".join(sorted(beyond))
        raise ForbiddenError(f"a token cannot grant scopes its issuer lacks: {names}")
    return granted


def _claims(claims: dict[str, Any]) -> TokenClaims:
    texts = [claims.get(name) for name in ("jti", "tenant", "customer", "azp")]
    scopes = claims.get("scopes")
    known = {s.value for s in TOKEN_SCOPES}
    if (
        not all(isinstance(t, str) and t for t in texts)
        or claims.get("sub") != claims.get("customer")
        or not isinstance(scopes, list)
        or not all(isinstance(s, str) and s in known for s in scopes)
    ):
        raise TokenRejectedError("BAD_TOKEN", "the customer token has malformed claims")
    return TokenClaims(
        token_id=claims["jti"],
        tenant_id=claims["tenant"],
        customer_id=claims["customer"],
        scopes=frozenset(scopes),
        issued_by=claims["azp"],
        expires_at=dt.datetime.fromtimestamp(int(claims["exp"]), dt.UTC),
    )
