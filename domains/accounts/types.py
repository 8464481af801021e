"""GraphQL surface of the accounts domain: Tenant, Customer and Account entities."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Annotated

import strawberry
from strawberry.dataloader import DataLoader

from domains.accounts import loaders
from domains.accounts.balances import Balance as BalanceModel
from domains.accounts.balances import MongoBalances
from domains.accounts.config_types import TenantConfiguration
from domains.accounts.model import Account as AccountModel
from domains.accounts.model import AccountKind, TenantStatus, TradingMode
from domains.accounts.model import Brand as BrandModel
from domains.accounts.model import Customer as CustomerModel
from domains.accounts.model import Tenant as TenantModel
from domains.accounts.residency import DataRegion
from domains.accounts.service import AccountsService
from domains.compliance.types import CustomerKyc
from domains.custody.types import TenantWallets
from domains.orders.types import AccountOrders
from domains.positions.types import AccountPositions
from domains.shared.context import RequestContext, Role, SharedDataLoader
from domains.shared.errors import ForbiddenError
from domains.shared.graphql import described_enum
from domains.shared.relay import Connection, build_connection, page_request

Info = strawberry.Info[RequestContext, None]

described_enum(
    TenantStatus,
    "Lifecycle of an institution on the platform.",
    ACTIVE="The institution operates normally.",
    SUSPENDED="The institution is suspended: no new orders or withdrawals.",
)
described_enum(
    TradingMode,
    "How far an institution's customers may trade (its wind-down state), set with "
    "`setTenantTradingMode` and enforced per account by the matching engine.",
    NORMAL="Trading as usual.",
    REDUCE_ONLY="New orders may only shrink perpetual positions; spot orders may only SELL.",
    CANCEL_ONLY="No new orders or amends; open orders may be cancelled.",
    HALTED="No new orders, amends or customer cancels, and no withdrawals.",
    WITHDRAW_ONLY="No trading; every open order was cancelled; withdrawals run under policy.",
    WOUND_DOWN="Every open order cancelled and every perpetual position closed at the mark; "
    "balances stay for withdrawal.",
)
described_enum(
    DataRegion,
    "Where an institution's data is kept. A deployment serves the regions it is configured "
    "for (CAAS_DATA_REGIONS); a tenant of another region is refused (REGION_NOT_SERVED).",
    EU="The European Union / EEA.",
    UK="The United Kingdom.",
    US="The United States.",
    SG="Singapore.",
    HK="Hong Kong.",
    CH="Switzerland.",
)
described_enum(
    AccountKind,
    "A customer's main account, one of its sub-accounts, or the institution's treasury.",
    MAIN="The account every customer gets at onboarding.",
    SUB="An extra account, e.g. per strategy or per end user of a broker.",
    TREASURY="The institution's own account, which funds customers and receives from them.",
)


@strawberry.type(description="What a white-label front end needs to look like the institution.")
class Brand:
    display_name: str = strawberry.field(description="Name shown to end customers.")
    logo_url: str | None = strawberry.field(description="HTTPS URL of the logo, if any.")
    primary_color: str = strawberry.field(description="Primary colour, CSS hex, e.g. `#0B5FFF`.")
    secondary_color: str = strawberry.field(description="Secondary colour, CSS hex.")
    support_email: str | None = strawberry.field(description="Support e-mail for customers.")
    support_url: str | None = strawberry.field(description="Support web page for customers.")

    @classmethod
    def from_model(cls, brand: BrandModel) -> Brand:
        return cls(**brand.__dict__)


@strawberry.federation.type(keys=["id"], description="An institution offering crypto services.")
class Tenant(TenantWallets, TenantConfiguration):
    id: strawberry.ID = strawberry.field(description="Tenant id, e.g. `ten_01J...`.")
    name: str = strawberry.field(description="Legal or registered name, unique on the platform.")
    jurisdiction: str = strawberry.field(description="ISO 3166 country code, e.g. `CH`.")
    brand: Brand = strawberry.field(description="White-label branding.")
    status: TenantStatus = strawberry.field(description="Lifecycle status.")
    created_at: dt.datetime | None = strawberry.field(description="When the tenant was created.")
    trading_mode: TradingMode = strawberry.field(
        description="How far its customers may trade right now (`setTenantTradingMode`)."
    )
    trading_mode_reason: str | None = strawberry.field(
        description="Why the trading mode was last set (shown to the tenant's own callers); "
        "null if it never changed."
    )
    trading_mode_since: dt.datetime | None = strawberry.field(
        description="Since when the tenant is in this trading mode; null if it never changed."
    )
    sandbox: bool = strawberry.field(
        default=False,
        description=(
            "A sandbox tenant (`createTenant(sandbox: true)`): its own sandbox markets, the "
            "faucet, `resetSandbox`, custody on a simulated chain only; every response to its "
            "credentials carries `extensions.sandbox: true`. Never changes."
        ),
    )
    promoted_to: strawberry.ID | None = strawberry.field(
        default=None,
        description="A promoted sandbox: the live tenant `promoteTenant` made of it.",
    )
    promoted_from: strawberry.ID | None = strawberry.field(
        default=None,
        description="A live tenant made by `promoteTenant`: the sandbox it was promoted from.",
    )
    data_region: DataRegion | None = strawberry.field(
        description="The region the institution's data is kept in, set at creation and "
        "carried by every export; it changes only with `setTenantDataRegion` after a data "
        "migration. Null only for a tenant stored before regions were recorded and not yet "
        "given the deployment's default (done at server start)."
    )

    @classmethod
    def from_model(cls, tenant: TenantModel) -> Tenant:
        return cls(
            id=strawberry.ID(tenant.id),
            name=tenant.name,
            jurisdiction=tenant.jurisdiction,
            brand=Brand.from_model(tenant.brand),
            status=tenant.status,
            created_at=tenant.created_at,
            trading_mode=tenant.trading.mode,
            trading_mode_reason=tenant.trading.reason,
            trading_mode_since=tenant.trading.since,
            sandbox=tenant.sandbox,
            promoted_to=strawberry.ID(tenant.promoted_to) if tenant.promoted_to else None,
            promoted_from=strawberry.ID(tenant.promoted_from) if tenant.promoted_from else None,
            data_region=tenant.data_region,
        )

    @classmethod
    async def resolve_reference(cls, info: Info, id: strawberry.ID) -> Tenant | None:
        tenant = await loaders.tenants(info.context).load(str(id))
        return cls.from_model(tenant) if tenant else None

    @strawberry.field(
        description=(
            "The institution's treasury account: its own funds, moved to and from customers "
            "with `transferFunds`. Tenant admins of this tenant and operators only."
        )
    )
    async def treasury_account(self, info: Info) -> Account:
        principal = info.context.require()
        if principal.role not in (Role.OPERATOR, Role.TENANT_ADMIN) or (
            principal.tenant_id not in (None, str(self.id))
        ):
            raise ForbiddenError("the treasury is visible to the institution's admins only")
        account = await info.context.get(AccountsService).treasury_account(str(self.id))
        return Account.from_model(account)


@strawberry.federation.type(keys=["id"], description="An end customer of an institution.")
class Customer(CustomerKyc):
    id: strawberry.ID = strawberry.field(description="Customer id, e.g. `cus_01J...`.")
    tenant_id: strawberry.Private[str]
    display_name: str = strawberry.field(description="Name to address the customer by.")
    email: str = strawberry.field(description="Contact e-mail, unique within the tenant.")
    external_ref: str | None = strawberry.field(
        description="The institution's own reference for this customer (its CRM id)."
    )
    created_at: dt.datetime | None = strawberry.field(description="When the customer onboarded.")

    @classmethod
    def from_model(cls, customer: CustomerModel) -> Customer:
        return cls(
            id=strawberry.ID(customer.id),
            tenant_id=customer.tenant_id,
            display_name=customer.display_name,
            email=customer.email,
            external_ref=customer.external_ref,
            created_at=customer.created_at,
        )

    @classmethod
    async def resolve_reference(cls, info: Info, id: strawberry.ID) -> Customer | None:
        customer = await loaders.customers(info.context).load(str(id))
        return cls.from_model(customer) if customer else None

    @strawberry.field(description="The institution the customer belongs to.")
    async def tenant(self, info: Info) -> Tenant | None:
        return await Tenant.resolve_reference(info, strawberry.ID(self.tenant_id))

    @strawberry.field(description="The customer's accounts, newest first.")
    async def accounts(
        self,
        info: Info,
        first: Annotated[
            int | None, strawberry.argument(description="Page size, 0 to 200 (default 50).")
        ] = None,
        after: Annotated[
            str | None,
            strawberry.argument(description="Cursor to continue after (`pageInfo.endCursor`)."),
        ] = None,
    ) -> Connection[Account]:
        return await list_accounts(info, str(self.id), first, after)


@strawberry.type(description="What an account holds of one asset.")
class Balance:
    asset: str = strawberry.field(description="Asset code, e.g. `BTC`.")
    available: Decimal = strawberry.field(description="Free to trade or withdraw.")
    locked: Decimal = strawberry.field(
        description="Reserved by open orders and pending withdrawals."
    )
    total: Decimal = strawberry.field(description="available + locked.")
    updated_at: dt.datetime | None = strawberry.field(description="Last change.")

    @classmethod
    def from_model(cls, balance: BalanceModel) -> Balance:
        return cls(
            asset=balance.asset,
            available=balance.available,
            locked=balance.locked,
            total=balance.total,
            updated_at=balance.updated_at,
        )


def balances_loader(ctx: RequestContext) -> DataLoader[str, list[BalanceModel]]:
    """Balances by account id, one query per batch."""
    store, scope = ctx.get(MongoBalances), ctx.scope()

    async def load(keys: list[str]) -> list[list[BalanceModel]]:
        grouped: dict[str, list[BalanceModel]] = {key: [] for key in keys}
        for balance in await store.of_accounts(scope, keys):
            grouped[balance.account_id].append(balance)
        return [grouped[key] for key in keys]

    return ctx.loader("accounts.balances", lambda: SharedDataLoader(load_fn=load))


@strawberry.federation.type(keys=["id"], description="A trading account of a customer.")
class Account(AccountOrders, AccountPositions):
    id: strawberry.ID = strawberry.field(description="Account id, e.g. `acc_01J...`.")
    tenant_id: strawberry.Private[str]
    customer_id: strawberry.Private[str]
    kind: AccountKind = strawberry.field(description="Main account or sub-account.")
    label: str = strawberry.field(description="Name the customer gave the account.")
    created_at: dt.datetime | None = strawberry.field(description="When it was opened.")

    @classmethod
    def from_model(cls, account: AccountModel) -> Account:
        return cls(
            id=strawberry.ID(account.id),
            tenant_id=account.tenant_id,
            customer_id=account.customer_id,
            kind=account.kind,
            label=account.label,
            created_at=account.created_at,
        )

    @classmethod
    async def resolve_reference(cls, info: Info, id: strawberry.ID) -> Account | None:
        account = await loaders.accounts(info.context).load(str(id))
        return cls.from_model(account) if account else None

    @strawberry.field(description="Balances per asset (assets never held are left out).")
    async def balances(self, info: Info) -> list[Balance]:
        rows = await balances_loader(info.context).load(str(self.id))
        return [Balance.from_model(b) for b in rows]

    @strawberry.field(description="The customer who owns the account.")
    async def customer(self, info: Info) -> Customer | None:
        return await Customer.resolve_reference(info, strawberry.ID(self.customer_id))

    @strawberry.field(description="The institution the account belongs to.")
    async def tenant(self, info: Info) -> Tenant | None:
        return await Tenant.resolve_reference(info, strawberry.ID(self.tenant_id))


async def list_accounts(
    info: Info, customer_id: str | None, first: int | None, after: str | None
) -> Connection[Account]:
    """One page of accounts visible to the caller, newest first."""
    request = page_request(first, after)
    rows = await info.context.get(AccountsService).list_accounts(
        info.context.scope(), customer_id, request.first, request.after_key
    )
    return build_connection(rows, request, key=lambda a: a.id, node=Account.from_model)
