"""Tenant configuration rules (fees, listings, routing, warnings, brand, product permissions)
against in-memory fakes: validation, who may change what, and that bad input changes nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from decimal import Decimal
from typing import Any

import pytest

from domains.accounts.config_repository import ConfigAudit
from domains.accounts.configuration import system_actor
from domains.accounts.model import (
    DEFAULT_RISK_WARNINGS,
    Brand,
    FeeSchedule,
    FeeTier,
    Product,
    ProductPermission,
    RoutingMode,
    RoutingPolicy,
    Tenant,
    TenantConfig,
)
from domains.accounts.service import AccountsService
from domains.shared.context import Principal, Role, TenantScope
from domains.shared.errors import DomainError
from tests.unit.domains.test_accounts_service import FakeAccountsRepository


class FakeConfigRepository(FakeAccountsRepository):
    """The accounts fake plus tenant configuration, stored as TenantConfig values."""

    def __init__(self) -> None:
        super().__init__()
        self.configs: dict[str, TenantConfig] = {}
        self.permissions: dict[str, ProductPermission] = {}
        self.writes = 0

    async def tenant_configs(self, tenants: Sequence[Tenant]) -> list[TenantConfig]:
        return [
            self.configs.get(t.id, TenantConfig(tenant_id=t.id, jurisdiction=t.jurisdiction))
            for t in tenants
        ]

    def _change(self, tenant_id: str, audit: ConfigAudit, **changes: Any) -> None:
        tenant = self.tenants[tenant_id]
        current = self.configs.get(tenant_id, TenantConfig(tenant_id, tenant.jurisdiction))
        self.configs[tenant_id] = replace(
            current, updated_by=audit.updated_by, updated_at=audit.updated_at, **changes
        )
        self.writes += 1

    async def set_fee_schedule(
        self, tenant_id: str, schedule: FeeSchedule, audit: ConfigAudit
    ) -> None:
        self._change(tenant_id, audit, fee_schedule=schedule)

    async def set_listed_markets(
        self, tenant_id: str, market_ids: frozenset[str], audit: ConfigAudit
    ) -> None:
        self._change(tenant_id, audit, listed_markets=market_ids)

    async def set_routing(self, tenant_id: str, routing: RoutingPolicy, audit: ConfigAudit) -> None:
        self._change(tenant_id, audit, routing=routing)

    async def set_risk_warning(
        self, tenant_id: str, product: Product, text: str | None, audit: ConfigAudit
    ) -> None:
        (current,) = await self.tenant_configs([self.tenants[tenant_id]])
        warnings = dict(current.risk_warnings)
        warnings[product] = DEFAULT_RISK_WARNINGS[product] if text is None else text
        self._change(tenant_id, audit, risk_warnings=warnings)

    async def set_custody_policy_id(
        self, tenant_id: str, policy_id: str | None, audit: ConfigAudit
    ) -> None:
        self._change(tenant_id, audit, custody_policy_id=policy_id)

    async def set_brand(self, tenant_id: str, brand: Brand, audit: ConfigAudit) -> None:
        self.tenants[tenant_id] = replace(self.tenants[tenant_id], brand=brand)
        self._change(tenant_id, audit)

    async def product_permissions(
        self, jurisdictions: Sequence[str] | None
    ) -> list[ProductPermission]:
        wanted = sorted(self.permissions) if jurisdictions is None else jurisdictions
        return [self.permissions[j] for j in wanted if j in self.permissions]

    async def set_product_permission(self, permission: ProductPermission) -> None:
        self.permissions[permission.jurisdiction] = permission
        self.writes += 1


class FakeCatalog:
    def __init__(self, kinds: dict[str, str]) -> None:
        self.kinds = kinds

    async def market_kinds(self, market_ids: Sequence[str]) -> dict[str, str]:
        return {m: self.kinds[m] for m in market_ids if m in self.kinds}


CATALOG = {"BTC-USDT": "SPOT", "ETH-USDT": "SPOT", "BTC-USDT-PERP": "PERPETUAL"}
OPERATOR = Principal("key_op", Role.OPERATOR, None)


def _schedule(*tiers: tuple[str, int, int], markup_bps: int = 0) -> FeeSchedule:
    """A schedule built without validation: the service must validate it."""
    return FeeSchedule(tuple(FeeTier(Decimal(v), m, t) for v, m, t in tiers), markup_bps)


@pytest.fixture
def repo() -> FakeConfigRepository:
    return FakeConfigRepository()


@pytest.fixture
def service(repo: FakeConfigRepository) -> AccountsService:
    return AccountsService(repo, FakeCatalog(CATALOG))


@pytest.fixture
async def tenant(service: AccountsService) -> Tenant:
    return await service.create_tenant("Bank A", "ch", Brand(display_name="A"))


@pytest.fixture
def admin(tenant: Tenant) -> Principal:
    return Principal("key_admin_a", Role.TENANT_ADMIN, tenant.id)


def _code(error: pytest.ExceptionInfo[DomainError]) -> object:
    return error.value.extensions["code"]


async def test_a_new_tenant_gets_the_default_configuration(
    service: AccountsService, tenant: Tenant
) -> None:
    config = await service.tenant_config(tenant.id)
    assert config.fee_schedule.rates_for(Decimal(0)) == (10, 20)
    assert config.markup_bps == 0
    assert config.listed_markets == frozenset()
    assert config.routing == RoutingPolicy(RoutingMode.INTERNAL_THEN_EXTERNAL, 50)
    assert set(config.risk_warnings) == {Product.SPOT, Product.PERPETUAL}
    assert config.permitted_products == frozenset({Product.SPOT})
    assert config.custody_policy_id is None and config.updated_by is None


def test_rates_come_from_the_highest_tier_reached_and_markup_is_added_apart() -> None:
    schedule = FeeSchedule.of(
        [FeeTier(Decimal(0), 10, 20), FeeTier(Decimal(1_000_000), 8, 16)], markup_bps=5
    )
    assert schedule.rates_for(Decimal(0)) == (10, 20)
    assert schedule.rates_for(Decimal("999999.99")) == (10, 20)
    assert schedule.rates_for(Decimal(1_000_000)) == (8, 16)
    assert schedule.all_in_rates_for(Decimal(5_000_000)) == (13, 21)


async def test_a_tenant_admin_sets_its_fee_schedule_and_the_change_is_audited(
    service: AccountsService, tenant: Tenant, admin: Principal
) -> None:
    schedule = _schedule(("0", 10, 20), ("1000000", 8, 16), markup_bps=5)
    config = await service.set_fee_schedule(admin, None, schedule)
    assert config.fee_schedule == schedule and config.markup_bps == 5
    assert config.updated_by == "key_admin_a" and config.updated_at is not None


@pytest.mark.parametrize(
    ("tiers", "markup"),
    [
        ((), 0),
        ((("10", 10, 20),), 0),
        ((("0", 10, 20), ("100", 8, 16), ("100", 6, 12)), 0),
        ((("0", 10, 20), ("100", 8, 16), ("50", 6, 12)), 0),
        ((("0", 1001, 20),), 0),
        ((("0", 10, -1),), 0),
        ((("0", 10, 20),), 501),
        ((("0", 10, 20),), -1),
        ((("0", 10, 20), ("-5", 8, 16)), 0),
        ((("0", 10, 20), ("0.000000001", 8, 16)), 0),
        ((("0", 10, 20), ("1000000000000000.01", 8, 16)), 0),
        (tuple(("0", 1, 1) if i == 0 else (str(i), 1, 1) for i in range(21)), 0),
    ],
)
async def test_a_bad_fee_schedule_is_a_validation_error_and_changes_nothing(
    service: AccountsService,
    repo: FakeConfigRepository,
    admin: Principal,
    tiers: tuple[tuple[str, int, int], ...],
    markup: int,
) -> None:
    with pytest.raises(DomainError) as error:
        await service.set_fee_schedule(admin, None, _schedule(*tiers, markup_bps=markup))
    assert _code(error) == "VALIDATION"
    assert repo.writes == 0


@pytest.mark.parametrize("role", [Role.TRADER, Role.RISK, Role.COMPLIANCE])
async def test_only_tenant_admins_and_operators_configure_a_tenant(
    service: AccountsService, repo: FakeConfigRepository, tenant: Tenant, role: Role
) -> None:
    caller = Principal("key_x", role, tenant.id, "cus_x" if role is Role.TRADER else None)
    with pytest.raises(DomainError) as error:
        await service.set_routing_policy(caller, None, RoutingMode.INTERNAL_ONLY, 10)
    assert _code(error) == "FORBIDDEN" and repo.writes == 0


async def test_a_tenant_admin_cannot_configure_another_tenant(
    service: AccountsService, repo: FakeConfigRepository, admin: Principal
) -> None:
    other = await service.create_tenant("Bank B", "de", Brand(display_name="B"))
    with pytest.raises(DomainError) as error:
        await service.set_fee_schedule(admin, other.id, _schedule(("0", 1, 2)))
    assert _code(error) == "FORBIDDEN" and repo.writes == 0
    assert await service.tenant_configs(TenantScope(admin.tenant_id), [other.id]) == []


async def test_an_operator_names_the_tenant_it_configures(
    service: AccountsService, tenant: Tenant
) -> None:
    with pytest.raises(DomainError) as missing:
        await service.set_routing_policy(OPERATOR, None, RoutingMode.INTERNAL_ONLY, 10)
    assert _code(missing) == "VALIDATION"
    with pytest.raises(DomainError) as unknown:
        await service.set_routing_policy(OPERATOR, "ten_nope", RoutingMode.INTERNAL_ONLY, 10)
    assert _code(unknown) == "NOT_FOUND"
    config = await service.set_routing_policy(OPERATOR, tenant.id, RoutingMode.EXTERNAL_ONLY, 25)
    assert config.routing == RoutingPolicy(RoutingMode.EXTERNAL_ONLY, 25)
    assert config.updated_by == "key_op"


@pytest.mark.parametrize("slippage", [-1, 1001])
async def test_slippage_outside_0_to_1000_bps_is_refused(
    service: AccountsService, repo: FakeConfigRepository, admin: Principal, slippage: int
) -> None:
    with pytest.raises(DomainError) as error:
        await service.set_routing_policy(admin, None, RoutingMode.INTERNAL_ONLY, slippage)
    assert _code(error) == "VALIDATION" and repo.writes == 0


async def test_a_tenant_lists_known_spot_markets_normalised(
    service: AccountsService, admin: Principal
) -> None:
    config = await service.set_listed_markets(admin, None, [" btc-usdt", "ETH-USDT", "BTC-USDT"])
    assert config.listed_markets == frozenset({"BTC-USDT", "ETH-USDT"})
    assert config.lists("BTC-USDT") and not config.lists("BTC-USDT-PERP")
    assert (await service.set_listed_markets(admin, None, [])).listed_markets == frozenset()


@pytest.mark.parametrize("market_ids", [["BTC-USDT", "DOGE-USDT"], ["not a market"], ["BTCUSDT"]])
async def test_unknown_or_malformed_markets_cannot_be_listed(
    service: AccountsService, repo: FakeConfigRepository, admin: Principal, market_ids: list[str]
) -> None:
    with pytest.raises(DomainError) as error:
        await service.set_listed_markets(admin, None, market_ids)
    assert _code(error) == "VALIDATION" and repo.writes == 0


async def test_perpetuals_are_not_permitted_until_the_operator_allows_them(
    service: AccountsService, repo: FakeConfigRepository, tenant: Tenant, admin: Principal
) -> None:
    with pytest.raises(DomainError) as error:
        await service.set_listed_markets(admin, None, ["BTC-USDT", "BTC-USDT-PERP"])
    assert _code(error) == "PRODUCT_NOT_PERMITTED"
    assert error.value.extensions["markets"] == ["BTC-USDT-PERP"]
    assert repo.writes == 0

    await service.set_product_permissions(OPERATOR, "ch", [Product.SPOT, Product.PERPETUAL])
    config = await service.set_listed_markets(admin, None, ["BTC-USDT", "BTC-USDT-PERP"])
    assert config.listed_markets == frozenset({"BTC-USDT", "BTC-USDT-PERP"})
    assert config.permits("PERPETUAL") and config.permits(Product.SPOT)


async def test_a_jurisdiction_may_forbid_spot_too(
    service: AccountsService, admin: Principal
) -> None:
    await service.set_product_permissions(OPERATOR, "CH", [])
    with pytest.raises(DomainError) as error:
        await service.set_listed_markets(admin, None, ["BTC-USDT"])
    assert _code(error) == "PRODUCT_NOT_PERMITTED"


async def test_without_a_market_catalog_listing_is_refused_clearly(
    repo: FakeConfigRepository,
) -> None:
    service = AccountsService(repo)
    tenant = await service.create_tenant("Bank C", "CH", Brand(display_name="C"))
    admin = Principal("key_c", Role.TENANT_ADMIN, tenant.id)
    with pytest.raises(DomainError, match="market catalog") as error:
        await service.set_listed_markets(admin, None, ["BTC-USDT"])
    assert _code(error) == "UNAVAILABLE" and repo.writes == 0
    service.attach_market_catalog(FakeCatalog(CATALOG))
    assert (await service.set_listed_markets(admin, None, ["BTC-USDT"])).lists("BTC-USDT")


async def test_the_constructor_stays_compatible_with_a_repository_without_configuration() -> None:
    service = AccountsService(FakeAccountsRepository())
    tenant = await service.create_tenant("Bank D", "CH", Brand(display_name="D"))
    with pytest.raises(DomainError) as error:
        await service.tenant_config(tenant.id)
    assert _code(error) == "UNAVAILABLE"


async def test_product_permissions_are_for_operators_and_default_to_spot_only(
    service: AccountsService, repo: FakeConfigRepository, admin: Principal
) -> None:
    with pytest.raises(DomainError) as error:
        await service.set_product_permissions(admin, "CH", [Product.PERPETUAL])
    assert _code(error) == "FORBIDDEN" and repo.writes == 0
    (default,) = await service.product_permissions("fr")
    assert default.jurisdiction == "FR" and default.is_default
    assert default.products == frozenset({Product.SPOT})
    assert await service.product_permissions() == []

    stored = await service.set_product_permissions(OPERATOR, " us-ny ", [Product.PERPETUAL])
    assert stored.jurisdiction == "US-NY" and stored.updated_by == "key_op"
    assert await service.product_permissions() == [stored]
    assert await service.permitted_products("US-NY") == frozenset({Product.PERPETUAL})


@pytest.mark.parametrize("jurisdiction", ["", "toolongcode", "C H", "ch!"])
async def test_a_malformed_jurisdiction_is_refused(
    service: AccountsService, jurisdiction: str
) -> None:
    with pytest.raises(DomainError) as error:
        await service.set_product_permissions(OPERATOR, jurisdiction, [Product.SPOT])
    assert _code(error) == "VALIDATION"


async def test_a_risk_warning_is_replaced_and_restored_to_the_default(
    service: AccountsService, admin: Principal
) -> None:
    config = await service.set_risk_warning(admin, None, Product.SPOT, "  Prices move.  ")
    assert config.risk_warnings[Product.SPOT] == "Prices move."
    assert config.risk_warnings[Product.PERPETUAL] == DEFAULT_RISK_WARNINGS[Product.PERPETUAL]
    config = await service.set_risk_warning(admin, None, Product.SPOT, None)
    assert config.risk_warnings[Product.SPOT] == DEFAULT_RISK_WARNINGS[Product.SPOT]


@pytest.mark.parametrize("text", ["", "   ", "x" * 4001])
async def test_an_empty_or_huge_risk_warning_is_refused(
    service: AccountsService, repo: FakeConfigRepository, admin: Principal, text: str
) -> None:
    with pytest.raises(DomainError) as error:
        await service.set_risk_warning(admin, None, Product.SPOT, text)
    assert _code(error) == "VALIDATION" and repo.writes == 0


async def test_the_custody_policy_reference_is_set_and_cleared(
    service: AccountsService, admin: Principal
) -> None:
    assert (
        await service.set_custody_policy_id(admin, None, "pol_01")
    ).custody_policy_id == "pol_01"
    assert (await service.set_custody_policy_id(admin, None, None)).custody_policy_id is None
    with pytest.raises(DomainError) as error:
        await service.set_custody_policy_id(admin, None, "has spaces")
    assert _code(error) == "VALIDATION"


async def test_a_tenant_admin_rebrands_its_tenant(
    service: AccountsService, repo: FakeConfigRepository, tenant: Tenant, admin: Principal
) -> None:
    brand = Brand(" New Name ", "https://a.example/logo.svg", "#112233", "#abc", "help@a.example")
    updated = await service.set_brand(admin, None, brand)
    assert updated.brand.display_name == "New Name"
    assert repo.tenants[tenant.id].brand == updated.brand
    assert (await service.tenant_config(tenant.id)).updated_by == "key_admin_a"


@pytest.mark.parametrize(
    "brand",
    [
        Brand(""),
        Brand("A", logo_url="http://insecure.example/logo.png"),
        Brand("A", primary_color="blue"),
        Brand("A", secondary_color="#12345"),
        Brand("A", support_email="nobody"),
        Brand("A", support_url="javascript:alert(1)"),
    ],
)
async def test_a_bad_brand_is_refused_and_changes_nothing(
    service: AccountsService, repo: FakeConfigRepository, tenant: Tenant, brand: Brand
) -> None:
    with pytest.raises(DomainError) as error:
        await service.set_brand(OPERATOR, tenant.id, brand)
    assert _code(error) == "VALIDATION" and repo.writes == 0
    assert repo.tenants[tenant.id].brand == Brand(display_name="A")


async def test_seeding_configures_a_tenant_as_a_system_operator(
    service: AccountsService, tenant: Tenant
) -> None:
    seeder = system_actor("seed")
    tiers = [FeeTier(Decimal(0), 10, 20), FeeTier(Decimal(1_000_000), 8, 16)]
    await service.set_fee_schedule(seeder, tenant.id, FeeSchedule.of(tiers, markup_bps=5))
    config = await service.set_listed_markets(seeder, tenant.id, ["BTC-USDT", "ETH-USDT"])
    assert config.updated_by == "system:seed" and config.markup_bps == 5
    assert config.listed_markets == frozenset({"BTC-USDT", "ETH-USDT"})
