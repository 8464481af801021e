"""Accounts subgraph root fields: parse -> service -> map."""

from __future__ import annotations

from typing import Annotated

import strawberry

from domains.accounts import loaders
from domains.accounts.billing.schema import BillingMutation, BillingQuery
from domains.accounts.config_schema import BrandInput, TenantConfigMutation, TenantConfigQuery
from domains.accounts.key_schema import ApiKeyMutation, ApiKeyQuery
from domains.accounts.model import Brand as BrandModel
from domains.accounts.residency import DataRegion
from domains.accounts.residency_schema import ResidencyMutation
from domains.accounts.sandbox import SandboxService
from domains.accounts.sandbox_schema import SandboxMutation
from domains.accounts.service import AccountsService
from domains.accounts.trading_mode_schema import TradingModeMutation
from domains.accounts.types import Account, Customer, Info, Tenant, list_accounts
from domains.shared.context import Role
from domains.shared.errors import ValidationError
from domains.shared.relay import Connection, build_connection, page_request

PAGE_FIRST = "Page size, 0 to 200 (default 50)."
PAGE_AFTER = "Cursor to continue after (`pageInfo.endCursor`)."


@strawberry.type(description="Who the caller is, as the platform sees it.")
class Viewer:
    key_id: str = strawberry.field(description="Id of the API key the request used.")
    role: Role = strawberry.field(description="The caller's role.")
    tenant_id: strawberry.ID | None = strawberry.field(
        description="The caller's tenant; null for platform operators."
    )
    customer_id: strawberry.ID | None = strawberry.field(
        description="The customer a TRADER key acts for; null for staff."
    )


@strawberry.type(description="Accounts queries.")
class AccountsQuery(TenantConfigQuery, ApiKeyQuery, BillingQuery):
    @strawberry.field(description="The authenticated caller.")
    def viewer(self, info: Info) -> Viewer:
        p = info.context.require()
        return Viewer(
            key_id=p.key_id,
            role=p.role,
            tenant_id=strawberry.ID(p.tenant_id) if p.tenant_id else None,
            customer_id=strawberry.ID(p.customer_id) if p.customer_id else None,
        )

    @strawberry.field(description="One tenant by id; null if it is not visible to the caller.")
    async def tenant(
        self,
        info: Info,
        id: Annotated[strawberry.ID, strawberry.argument(description="Tenant id.")],
    ) -> Tenant | None:
        return await Tenant.resolve_reference(info, id)

    @strawberry.field(
        description="Tenants visible to the caller (all for operators), newest first."
    )
    async def tenants(
        self,
        info: Info,
        first: Annotated[int | None, strawberry.argument(description=PAGE_FIRST)] = None,
        after: Annotated[str | None, strawberry.argument(description=PAGE_AFTER)] = None,
    ) -> Connection[Tenant]:
        request = page_request(first, after)
        rows = await info.context.get(AccountsService).list_tenants(
            info.context.scope(), request.first, request.after_key
        )
        return build_connection(rows, request, key=lambda t: t.id, node=Tenant.from_model)

    @strawberry.field(description="One customer by id; null if it is not visible to the caller.")
    async def customer(
        self,
        info: Info,
        id: Annotated[strawberry.ID, strawberry.argument(description="Customer id.")],
    ) -> Customer | None:
        return await Customer.resolve_reference(info, id)

    @strawberry.field(description="Customers visible to the caller, newest first.")
    async def customers(
        self,
        info: Info,
        first: Annotated[int | None, strawberry.argument(description=PAGE_FIRST)] = None,
        after: Annotated[str | None, strawberry.argument(description=PAGE_AFTER)] = None,
    ) -> Connection[Customer]:
        request = page_request(first, after)
        rows = await info.context.get(AccountsService).list_customers(
            info.context.scope(), request.first, request.after_key
        )
        return build_connection(rows, request, key=lambda c: c.id, node=Customer.from_model)

    @strawberry.field(description="One account by id; null if it is not visible to the caller.")
    async def account(
        self,
        info: Info,
        id: Annotated[strawberry.ID, strawberry.argument(description="Account id.")],
    ) -> Account | None:
        found = await loaders.accounts(info.context).load(str(id))
        return Account.from_model(found) if found else None

    @strawberry.field(description="Accounts visible to the caller, newest first.")
    async def accounts(
        self,
        info: Info,
        customer_id: Annotated[
            strawberry.ID | None, strawberry.argument(description="Only accounts of this customer.")
        ] = None,
        first: Annotated[int | None, strawberry.argument(description=PAGE_FIRST)] = None,
        after: Annotated[str | None, strawberry.argument(description=PAGE_AFTER)] = None,
    ) -> Connection[Account]:
        customer = str(customer_id) if customer_id is not None else None
        return await list_accounts(info, customer, first, after)


@strawberry.input(description="A new institution.")
class CreateTenantInput:
    name: str = strawberry.field(description="Registered name, unique on the platform.")
    jurisdiction: str = strawberry.field(description="ISO 3166 country code, e.g. `CH`.")
    brand: BrandInput = strawberry.field(description="White-label branding.")
    sandbox: bool = strawberry.field(
        default=False,
        description=(
            "A sandbox tenant: a pilot on the simulated venue and chain, with its own copies "
            'of live spot markets, the faucet and `resetSandbox` (README "Sandbox tenants"); '
            "`promoteTenant` later makes it live."
        ),
    )
    sandbox_markets: list[strawberry.ID] | None = strawberry.field(
        default=None,
        description=(
            'Sandbox only: the live spot markets to copy, e.g. `["BTC-USDT"]` (the copy is '
            "`BTC-USDT-SBX...`), at most 8; null copies every live spot market."
        ),
    )
    data_region: DataRegion | None = strawberry.field(
        default=None,
        description="Where its data is kept; default the deployment's first served region. "
        "A region this deployment does not serve is refused (REGION_NOT_SERVED).",
    )


@strawberry.input(description="A new end customer; a MAIN account is opened with it.")
class CreateCustomerInput:
    display_name: str = strawberry.field(description="Name to address the customer by.")
    email: str = strawberry.field(description="Contact e-mail, unique within the tenant.")
    external_ref: str | None = strawberry.field(
        default=None, description="The institution's own reference (its CRM id)."
    )


@strawberry.type(description="Accounts mutations.")
class AccountsMutation(
    SandboxMutation,
    TenantConfigMutation,
    ApiKeyMutation,
    TradingModeMutation,
    ResidencyMutation,
    BillingMutation,
):
    @strawberry.mutation(description="Create an institution (platform operators only).")
    async def create_tenant(
        self,
        info: Info,
        input: Annotated[CreateTenantInput, strawberry.argument(description="The tenant.")],
    ) -> Tenant:
        actor = info.context.require(Role.OPERATOR)
        brand = BrandModel(**vars(input.brand))
        if input.sandbox:
            markets = [str(m) for m in input.sandbox_markets] if input.sandbox_markets else None
            created = await info.context.get(SandboxService).create(
                actor, input.name, input.jurisdiction, brand, markets, input.data_region
            )
            return Tenant.from_model(created)
        if input.sandbox_markets is not None:
            raise ValidationError("sandboxMarkets is for sandbox tenants", field="sandboxMarkets")
        tenant = await info.context.get(AccountsService).create_tenant(
            input.name, input.jurisdiction, brand, input.data_region
        )
        return Tenant.from_model(tenant)

    @strawberry.mutation(description="Onboard a customer with its main account (tenant admins).")
    async def create_customer(
        self,
        info: Info,
        input: Annotated[CreateCustomerInput, strawberry.argument(description="The customer.")],
    ) -> Customer:
        info.context.require(Role.TENANT_ADMIN)
        customer, _ = await info.context.get(AccountsService).create_customer(
            info.context.scope(), input.display_name, input.email, input.external_ref
        )
        return Customer.from_model(customer)

    @strawberry.mutation(description="Open a sub-account for a customer (its admin or itself).")
    async def open_sub_account(
        self,
        info: Info,
        customer_id: Annotated[
            strawberry.ID, strawberry.argument(description="Owner of the account.")
        ],
        label: Annotated[
            str, strawberry.argument(description="Name of the account, 1-64 characters.")
        ],
    ) -> Account:
        info.context.require(Role.TENANT_ADMIN, Role.TRADER)
        account = await info.context.get(AccountsService).open_sub_account(
            info.context.scope(), str(customer_id), label
        )
        return Account.from_model(account)
