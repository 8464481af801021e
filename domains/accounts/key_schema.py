"""Root fields for API keys, customer tokens and the auth audit: parse -> service -> map."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

import strawberry

from domains.accounts.auth_audit import MongoAuthAudit
from domains.accounts.customer_tokens import CustomerTokens
from domains.accounts.key_types import ApiKeyNode, AuthAuditEvent, CustomerToken, IssuedApiKey
from domains.accounts.keys import DEFAULT_OVERLAP_SECONDS, ApiKeyService, KeySpec
from domains.shared.context import RequestContext, Role, Scope, TenantScope
from domains.shared.relay import Connection, build_connection, page_request

Info = strawberry.Info[RequestContext, None]
PAGE_FIRST = "Page size, 0 to 200 (default 50)."
PAGE_AFTER = "Cursor to continue after (`pageInfo.endCursor`)."


@strawberry.input(description="A new API key. Omitted fields take the documented defaults.")
class IssueApiKeyInput:
    role: Role = strawberry.field(description="The role the key acts in.")
    tenant_id: strawberry.ID | None = strawberry.field(
        default=None,
        description="Operators: the key's tenant (null for an operator key). Tenant admins: "
        "ignored, keys belong to their own tenant.",
    )
    customer_id: strawberry.ID | None = strawberry.field(
        default=None, description="For TRADER keys: the customer the key acts for."
    )
    label: str = strawberry.field(default="", description="What the key is for (64 chars).")
    scopes: list[Scope] | None = strawberry.field(
        default=None,
        description="What the key may be used for; default: the role's scopes (TRADER: READ, "
        "TRADE). Never more than the issuing key holds.",
    )
    allowed_ips: list[str] | None = strawberry.field(
        default=None, description="CIDRs (or addresses) the key is accepted from; default any."
    )
    expires_at: dt.datetime | None = strawberry.field(
        default=None, description="When the key stops working; default never."
    )
    require_signature: bool | None = strawberry.field(
        default=None,
        description="Whether requests must be signed. Keys with WITHDRAW or ADMIN always "
        "must; others default to false.",
    )


@strawberry.type(description="API key and authentication audit queries.")
class ApiKeyQuery:
    @strawberry.field(description="API keys of the caller's tenant (all for operators).")
    async def api_keys(
        self,
        info: Info,
        first: Annotated[int | None, strawberry.argument(description=PAGE_FIRST)] = None,
        after: Annotated[str | None, strawberry.argument(description=PAGE_AFTER)] = None,
    ) -> Connection[ApiKeyNode]:
        actor = info.context.require(Role.TENANT_ADMIN, Role.OPERATOR)
        request = page_request(first, after)
        rows = await info.context.get(ApiKeyService).list(actor, request.first, request.after_key)
        return build_connection(rows, request, key=lambda k: k.key_id, node=ApiKeyNode.from_model)

    @strawberry.field(
        description="Refused credentials, newest first: all for operators, the keys of their "
        "tenant for tenant admins and compliance officers."
    )
    async def auth_audit_events(
        self,
        info: Info,
        reason: Annotated[
            str | None, strawberry.argument(description="Only this reason, e.g. BAD_SIGNATURE.")
        ] = None,
        key_id: Annotated[
            strawberry.ID | None, strawberry.argument(description="Only this key.")
        ] = None,
        first: Annotated[int | None, strawberry.argument(description=PAGE_FIRST)] = None,
        after: Annotated[str | None, strawberry.argument(description=PAGE_AFTER)] = None,
    ) -> Connection[AuthAuditEvent]:
        actor = info.context.require(Role.OPERATOR, Role.TENANT_ADMIN, Role.COMPLIANCE)
        request = page_request(first, after)
        key = str(key_id) if key_id is not None else None
        rows = await info.context.get(MongoAuthAudit).list(
            TenantScope(actor.tenant_id), request.first, request.after_key, reason, key
        )
        return build_connection(rows, request, key=lambda e: e.id, node=AuthAuditEvent.from_model)


@strawberry.type(description="API key and customer token mutations.")
class ApiKeyMutation:
    @strawberry.mutation(
        description="Issue an API key (tenant admins for their tenant, operators for any). "
        "The token and signing secret are in the answer only."
    )
    async def issue_api_key(
        self,
        info: Info,
        input: Annotated[IssueApiKeyInput, strawberry.argument(description="The key.")],
    ) -> IssuedApiKey:
        actor = info.context.require(Role.TENANT_ADMIN, Role.OPERATOR)
        spec = KeySpec(
            role=input.role,
            tenant_id=str(input.tenant_id) if input.tenant_id is not None else None,
            customer_id=str(input.customer_id) if input.customer_id is not None else None,
            label=input.label,
            scopes=frozenset(input.scopes) if input.scopes is not None else None,
            allowed_ips=tuple(input.allowed_ips or ()),
            expires_at=input.expires_at,
            require_signature=input.require_signature,
        )
        issued = await info.context.get(ApiKeyService).issue(actor, spec)
        return IssuedApiKey.from_issued(issued)

    @strawberry.mutation(
        description="New secrets for the same key id. The old ones keep working for "
        "`overlapSeconds` (0 ends them at once); the new ones are in the answer only."
    )
    async def rotate_api_key(
        self,
        info: Info,
        id: Annotated[strawberry.ID, strawberry.argument(description="The key id.")],
        overlap_seconds: Annotated[
            int, strawberry.argument(description="0 to 86400; default 300.")
        ] = DEFAULT_OVERLAP_SECONDS,
    ) -> IssuedApiKey:
        actor = info.context.require(Role.TENANT_ADMIN, Role.OPERATOR)
        issued = await info.context.get(ApiKeyService).rotate(actor, str(id), overlap_seconds)
        return IssuedApiKey.from_issued(issued)

    @strawberry.mutation(
        description="Revoke a key at once, with the customer tokens it minted (idempotent). "
        "Other server processes stop accepting it within CAAS_AUTH_CACHE_SECONDS (5 s)."
    )
    async def revoke_api_key(
        self,
        info: Info,
        id: Annotated[strawberry.ID, strawberry.argument(description="The key id.")],
    ) -> ApiKeyNode:
        actor = info.context.require(Role.TENANT_ADMIN, Role.OPERATOR)
        revoked = await info.context.get(ApiKeyService).revoke(actor, str(id))
        return ApiKeyNode.from_model(revoked)

    @strawberry.mutation(
        description="Mint a short-lived token for one customer of the caller's tenant, for "
        "its front end (tenant admin keys). Shown once."
    )
    async def issue_customer_token(
        self,
        info: Info,
        customer_id: Annotated[strawberry.ID, strawberry.argument(description="The customer.")],
        scopes: Annotated[
            list[Scope] | None,
            strawberry.argument(description="Default READ and TRADE; never ADMIN."),
        ] = None,
        ttl_seconds: Annotated[
            int | None, strawberry.argument(description="Lifetime, 1 to 3600; default 900.")
        ] = None,
    ) -> CustomerToken:
        actor = info.context.require(Role.TENANT_ADMIN)
        minted = await info.context.get(CustomerTokens).mint(
            actor, str(customer_id), scopes, ttl_seconds
        )
        return CustomerToken.from_minted(minted)
