"""GraphQL types of API keys, customer tokens and the authentication audit (no secrets kept)."""

from __future__ import annotations

import datetime as dt

import strawberry

from domains.accounts.auth_audit import AuthFailure
from domains.accounts.customer_tokens import MintedToken
from domains.accounts.keys import IssuedKey, effective_scopes
from domains.accounts.model import ApiKey as ApiKeyModel
from domains.accounts.model import KeyStatus
from domains.shared.context import Role, Scope
from domains.shared.graphql import described_enum
from domains.shared.scalars import utcnow

described_enum(
    Role,
    "What a principal may do (design: roles and access).",
    OPERATOR="Platform staff: tenants, markets, oracle prices, halts; sees all tenants.",
    TENANT_ADMIN="Institution staff: configures its tenant, customers, keys and approvers.",
    COMPLIANCE="Institution compliance officers: KYC, alerts, cases, reports, audit trail.",
    RISK="Institution risk desk: positions, margin and exposure of all its customers.",
    TRADER="An end customer acting on its own accounts through the institution's front end.",
)
described_enum(
    Scope,
    "What a credential may be used for, on top of its role. Clients must accept new values.",
    READ="Queries and subscriptions.",
    TRADE="Orders, cancels, amendments and moves between accounts on the platform.",
    WITHDRAW="Funds leaving the platform (withdrawal requests and approvals).",
    ADMIN="Configuration, onboarding, API keys and customer tokens.",
)
described_enum(
    KeyStatus,
    "Whether an API key still authenticates.",
    ACTIVE="The key authenticates.",
    EXPIRED="The key passed its expiry time.",
    REVOKED="The key was revoked.",
)


def _id(value: str | None) -> strawberry.ID | None:
    return strawberry.ID(value) if value else None


@strawberry.type(name="ApiKey", description="An API key as its managers see it: never a secret.")
class ApiKeyNode:
    id: strawberry.ID = strawberry.field(description="The key id (`<keyId>` of the token).")
    label: str = strawberry.field(description="What the key is for, as its issuer named it.")
    role: Role = strawberry.field(description="The role the key acts in.")
    tenant_id: strawberry.ID | None = strawberry.field(
        description="The key's tenant; null for operator keys."
    )
    customer_id: strawberry.ID | None = strawberry.field(
        description="The customer a TRADER key acts for; null for staff keys."
    )
    scopes: list[Scope] = strawberry.field(description="What the key may be used for.")
    allowed_ips: list[str] = strawberry.field(
        description="Networks (CIDR) the key is accepted from; empty means anywhere."
    )
    require_signature: bool = strawberry.field(
        description="True when every request with this key must be signed (X-CAAS-Signature)."
    )
    status: KeyStatus = strawberry.field(description="Whether the key authenticates now.")
    generation: int = strawberry.field(description="1, plus one for each rotation.")
    expires_at: dt.datetime | None = strawberry.field(
        description="When the key stops working; null for no expiry."
    )
    created_at: dt.datetime | None = strawberry.field(description="When the key was issued.")
    rotated_at: dt.datetime | None = strawberry.field(description="The last rotation, if any.")
    previous_secret_valid_until: dt.datetime | None = strawberry.field(
        description="Until when the secrets replaced by the last rotation still work."
    )
    revoked_at: dt.datetime | None = strawberry.field(description="When it was revoked.")

    @classmethod
    def from_model(cls, key: ApiKeyModel) -> ApiKeyNode:
        now = utcnow()
        return cls(
            id=strawberry.ID(key.key_id),
            label=key.label,
            role=key.role,
            tenant_id=_id(key.tenant_id),
            customer_id=_id(key.customer_id),
            scopes=sorted((Scope(s) for s in effective_scopes(key)), key=lambda s: s.value),
            allowed_ips=list(key.allowed_networks),
            require_signature=key.require_signature,
            status=key.status(now),
            generation=key.generation,
            expires_at=key.expires_at,
            created_at=key.created_at,
            rotated_at=key.rotated_at,
            previous_secret_valid_until=key.previous_valid_until
            if key.previous_valid(now)
            else None,
            revoked_at=key.revoked_at,
        )


@strawberry.type(description="A key with its secrets, shown this once: store them now.")
class IssuedApiKey:
    key: ApiKeyNode = strawberry.field(description="The key.")
    token: str = strawberry.field(
        description="Send as `Authorization: Bearer <token>` (`<keyId>.<secret>`)."
    )
    signing_secret: str = strawberry.field(
        description="The HMAC-SHA256 key for signed requests (README: Signed requests)."
    )

    @classmethod
    def from_issued(cls, issued: IssuedKey) -> IssuedApiKey:
        return cls(
            key=ApiKeyNode.from_model(issued.key),
            token=issued.token,
            signing_secret=issued.signing_secret,
        )


@strawberry.type(description="A short-lived token for one customer, shown this once.")
class CustomerToken:
    token: str = strawberry.field(
        description="A JWT the front end sends as `Authorization: Bearer <token>`."
    )
    token_id: strawberry.ID = strawberry.field(description="The token's id (`jti`).")
    customer_id: strawberry.ID = strawberry.field(description="The customer it acts for.")
    scopes: list[Scope] = strawberry.field(description="What it may be used for.")
    expires_at: dt.datetime = strawberry.field(description="When it stops working.")

    @classmethod
    def from_minted(cls, minted: MintedToken) -> CustomerToken:
        return cls(
            token=minted.token,
            token_id=strawberry.ID(minted.token_id),
            customer_id=strawberry.ID(minted.customer_id),
            scopes=sorted(minted.scopes, key=lambda s: s.value),
            expires_at=minted.expires_at,
        )


@strawberry.type(description="One refused credential (never the credential itself).")
class AuthAuditEvent:
    id: strawberry.ID = strawberry.field(description="Entry id (time-ordered).")
    at: dt.datetime = strawberry.field(description="When the credential was refused.")
    reason: str = strawberry.field(
        description="Why, as `extensions.reason` said (e.g. BAD_SIGNATURE, KEY_REVOKED)."
    )
    transport: str = strawberry.field(description="`http` or `ws`.")
    method: str = strawberry.field(description="HTTP method (GET for WebSocket handshakes).")
    path: str = strawberry.field(description="Request path, without its query string.")
    ip: str | None = strawberry.field(description="Client IP (see trusted proxies).")
    key_id: strawberry.ID | None = strawberry.field(
        description="The key involved, when it exists; null for unknown keys and bad tokens."
    )
    tenant_id: strawberry.ID | None = strawberry.field(description="That key's tenant.")

    @classmethod
    def from_model(cls, event: AuthFailure) -> AuthAuditEvent:
        return cls(
            id=strawberry.ID(event.id),
            at=event.at,
            reason=event.reason,
            transport=event.transport,
            method=event.method,
            path=event.path,
            ip=event.ip,
            key_id=_id(event.key_id),
            tenant_id=_id(event.tenant_id),
        )
