"""Accounts use cases: tenants, customers, accounts and who-is-calling; knows nothing of GraphQL."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Protocol

from domains.accounts.config_repository import TenantConfigRepository
from domains.accounts.configuration import (
    MarketCatalog,
    TenantConfigService,
    validate_brand,
)
from domains.accounts.errors import (
    CustomerNotFoundError,
    DuplicateTenantError,
    SubAccountLimitError,
)
from domains.accounts.model import (
    MAX_SUB_ACCOUNTS,
    TREASURY_OWNER,
    Account,
    AccountKind,
    Brand,
    Customer,
    FeeSchedule,
    Product,
    ProductPermission,
    RoutingMode,
    Tenant,
    TenantConfig,
    treasury_account_id,
)
from domains.accounts.residency import DataRegion, Residency
from domains.shared.context import Principal, TenantScope
from domains.shared.errors import ValidationError
from domains.shared.ids import new_id
from domains.shared.scalars import utcnow


class AccountsRepository(Protocol):
    """What the service needs from storage (MongoAccountsRepository, or a fake in tests)."""

    async def insert_tenant(self, tenant: Tenant) -> None: ...
    async def tenants_by_ids(self, scope: TenantScope, ids: Sequence[str]) -> list[Tenant]: ...
    async def tenant_by_name(self, name: str) -> Tenant | None: ...
    async def list_tenants(
        self, scope: TenantScope, first: int, after: str | None
    ) -> list[Tenant]: ...
    async def insert_customer(self, customer: Customer, main_account: Account) -> None: ...
    async def customer_by_email(self, scope: TenantScope, email: str) -> Customer | None: ...
    async def customers_by_ids(self, scope: TenantScope, ids: Sequence[str]) -> list[Customer]: ...
    async def list_customers(
        self, scope: TenantScope, first: int, after: str | None
    ) -> list[Customer]: ...
    async def insert_account(self, account: Account) -> None: ...
    async def ensure_account(self, account: Account) -> None: ...
    async def accounts_by_ids(self, scope: TenantScope, ids: Sequence[str]) -> list[Account]: ...
    async def list_accounts(
        self, scope: TenantScope, customer_id: str | None, first: int, after: str | None
    ) -> list[Account]: ...
    async def count_accounts(self, scope: TenantScope, customer_id: str) -> int: ...


def _require_text(value: str, field: str, max_len: int = 200) -> str:
    value = value.strip()
    if not value or len(value) > max_len:
        raise ValidationError(f"{field} must be 1 to {max_len} characters", field=field)
    return value


class AccountsService:
    """Tenants, customers, accounts and API keys; tenant configuration through ``config``.

    ``market_catalog`` checks the markets a tenant lists (wired to the orders domain); without
    one, listing markets is refused with UNAVAILABLE. ``configs`` stores tenant configuration;
    by default the repository itself when it can (MongoAccountsRepository can).
    """

    def __init__(
        self,
        repository: AccountsRepository,
        market_catalog: MarketCatalog | None = None,
        configs: TenantConfigRepository | None = None,
    ) -> None:
        self._repo = repository
        if configs is None and isinstance(repository, TenantConfigRepository):
            configs = repository
        self.config = TenantConfigService(repository, configs, market_catalog)

    def attach_market_catalog(self, catalog: MarketCatalog) -> None:
        """Wire the market catalog after construction (when the orders service comes later)."""
        self.config.market_catalog = catalog

    residency = Residency()  # every region; the composition root sets the deployment's

    async def create_tenant(
        self, name: str, jurisdiction: str, brand: Brand, data_region: DataRegion | None = None
    ) -> Tenant:
        """A new tenant; ``data_region`` (default: the deployment's first) must be served."""
        name = _require_text(name, "name")
        jurisdiction = _require_text(jurisdiction, "jurisdiction", 8).upper()
        region = self.residency.require_served(data_region)
        if await self._repo.tenant_by_name(name) is not None:
            raise DuplicateTenantError(f"a tenant named {name!r} exists already", field="name")
        tenant = Tenant(
            id=new_id("ten"),
            name=name,
            jurisdiction=jurisdiction,
            brand=validate_brand(brand),
            created_at=utcnow(),
            data_region=region,
        )
        await self._repo.insert_tenant(tenant)
        return tenant

    async def tenant_by_name(self, name: str) -> Tenant | None:
        return await self._repo.tenant_by_name(name)

    async def tenants(self, scope: TenantScope, ids: Sequence[str]) -> list[Tenant]:
        return await self._repo.tenants_by_ids(scope, ids)

    async def list_tenants(self, scope: TenantScope, first: int, after: str | None) -> list[Tenant]:
        return await self._repo.list_tenants(scope, first, after)

    async def create_customer(
        self, scope: TenantScope, display_name: str, email: str, external_ref: str | None = None
    ) -> tuple[Customer, Account]:
        """Onboard a customer with its MAIN account."""
        if scope.tenant_id is None:
            raise ValidationError("customers belong to a tenant; operators cannot create them")
        email = _require_text(email, "email", 254).lower()
        if "@" not in email:
            raise ValidationError("email is not an e-mail address", field="email")
        customer = Customer(
            id=new_id("cus"),
            tenant_id=scope.tenant_id,
            display_name=_require_text(display_name, "displayName"),
            email=email,
            external_ref=external_ref,
            created_at=utcnow(),
        )
        main = Account(
            id=new_id("acc"),
            tenant_id=scope.tenant_id,
            customer_id=customer.id,
            kind=AccountKind.MAIN,
            label="Main",
            created_at=customer.created_at,
        )
        await self._repo.insert_customer(customer, main)
        return customer, main

    async def customer_by_email(self, scope: TenantScope, email: str) -> Customer | None:
        return await self._repo.customer_by_email(scope, email.lower())

    async def customers(self, scope: TenantScope, ids: Sequence[str]) -> list[Customer]:
        return await self._repo.customers_by_ids(scope, ids)

    async def list_customers(
        self, scope: TenantScope, first: int, after: str | None
    ) -> list[Customer]:
        return await self._repo.list_customers(scope, first, after)

    async def open_sub_account(self, scope: TenantScope, customer_id: str, label: str) -> Account:
        """Open a SUB account for a customer of the caller's tenant."""
        found = await self._repo.customers_by_ids(scope, [customer_id])
        if not found:
            raise CustomerNotFoundError("no such customer", id=customer_id)
        customer = found[0]
        if await self._repo.count_accounts(scope, customer.id) > MAX_SUB_ACCOUNTS:
            raise SubAccountLimitError(f"a customer has at most {MAX_SUB_ACCOUNTS} sub-accounts")
        account = Account(
            id=new_id("acc"),
            tenant_id=customer.tenant_id,
            customer_id=customer.id,
            kind=AccountKind.SUB,
            label=_require_text(label, "label", 64),
            created_at=utcnow(),
        )
        await self._repo.insert_account(account)
        return account

    async def treasury_account(self, tenant_id: str) -> Account:
        """The tenant's treasury account (the institution's own funds), opened on first use."""
        account_id = treasury_account_id(tenant_id)
        scope = TenantScope(tenant_id)
        found = await self._repo.accounts_by_ids(scope, [account_id])
        if found:
            return found[0]
        account = Account(
            id=account_id, tenant_id=tenant_id, customer_id=TREASURY_OWNER,
            kind=AccountKind.TREASURY, label="Treasury", created_at=utcnow(),
        )  # fmt: skip
        await self._repo.ensure_account(account)  # opened concurrently: the same account
        return (await self._repo.accounts_by_ids(scope, [account_id]))[0]

    async def accounts(self, scope: TenantScope, ids: Sequence[str]) -> list[Account]:
        return await self._repo.accounts_by_ids(scope, ids)

    async def list_accounts(
        self, scope: TenantScope, customer_id: str | None, first: int, after: str | None
    ) -> list[Account]:
        return await self._repo.list_accounts(scope, customer_id, first, after)

    # --- tenant configuration (see configuration.TenantConfigService) -----------------------

    async def tenant_config(self, tenant_id: str) -> TenantConfig:
        """A tenant's configuration, unscoped: for other services, never straight to a caller."""
        return await self.config.tenant_config(tenant_id)

    async def tenant_configs(self, scope: TenantScope, ids: Sequence[str]) -> list[TenantConfig]:
        """Configurations of the tenants visible in ``scope``."""
        return await self.config.tenant_configs(scope, ids)

    async def set_fee_schedule(
        self, actor: Principal, tenant_id: str | None, schedule: FeeSchedule
    ) -> TenantConfig:
        """Replace a tenant's fee tiers and markup (TENANT_ADMIN own tenant, OPERATOR any)."""
        return await self.config.set_fee_schedule(actor, tenant_id, schedule)

    async def set_listed_markets(
        self, actor: Principal, tenant_id: str | None, market_ids: Iterable[str]
    ) -> TenantConfig:
        """Replace a tenant's listed markets (checked against the market catalog)."""
        return await self.config.set_listed_markets(actor, tenant_id, market_ids)

    async def set_routing_policy(
        self, actor: Principal, tenant_id: str | None, mode: RoutingMode, max_slippage_bps: int
    ) -> TenantConfig:
        """Replace a tenant's routing mode and slippage limit."""
        return await self.config.set_routing_policy(actor, tenant_id, mode, max_slippage_bps)

    async def set_risk_warning(
        self, actor: Principal, tenant_id: str | None, product: Product, text: str | None
    ) -> TenantConfig:
        """Set (or with None reset) the risk warning a tenant shows for a product."""
        return await self.config.set_risk_warning(actor, tenant_id, product, text)

    async def set_custody_policy_id(
        self, actor: Principal, tenant_id: str | None, policy_id: str | None
    ) -> TenantConfig:
        """Point a tenant at a custody policy id (or none)."""
        return await self.config.set_custody_policy_id(actor, tenant_id, policy_id)

    async def set_brand(self, actor: Principal, tenant_id: str | None, brand: Brand) -> Tenant:
        """Replace a tenant's white-label brand."""
        return await self.config.set_brand(actor, tenant_id, brand)

    async def permitted_products(self, jurisdiction: str) -> frozenset[Product]:
        """Products institutions of a jurisdiction may offer."""
        return await self.config.permitted_products(jurisdiction)

    async def product_permissions(self, jurisdiction: str | None = None) -> list[ProductPermission]:
        """Configured product permissions (or one jurisdiction's, default included)."""
        return await self.config.product_permissions(jurisdiction)

    async def set_product_permissions(
        self, actor: Principal, jurisdiction: str, products: Iterable[Product]
    ) -> ProductPermission:
        """Set the products a jurisdiction permits (OPERATOR only)."""
        return await self.config.set_product_permissions(actor, jurisdiction, products)
