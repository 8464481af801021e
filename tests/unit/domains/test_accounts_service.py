"""AccountsService against an in-memory fake repository."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from domains.accounts.model import Account, ApiKey, Brand, Customer, Tenant
from domains.accounts.service import AccountsService
from domains.shared.context import TenantScope
from domains.shared.errors import ConflictError, ValidationError


class FakeAccountsRepository:
    def __init__(self) -> None:
        self.tenants: dict[str, Tenant] = {}
        self.customers: dict[str, Customer] = {}
        self.accounts: dict[str, Account] = {}
        self.keys: dict[str, ApiKey] = {}

    async def insert_tenant(self, tenant: Tenant) -> None:
        self.tenants[tenant.id] = tenant

    async def tenants_by_ids(self, scope: TenantScope, ids: Sequence[str]) -> list[Tenant]:
        return [self.tenants[i] for i in ids if i in self.tenants and scope.tenant_id in (None, i)]

    async def tenant_by_name(self, name: str) -> Tenant | None:
        return next((t for t in self.tenants.values() if t.name == name), None)

    async def list_tenants(self, scope: TenantScope, first: int, after: str | None) -> list[Tenant]:
        return list(self.tenants.values())[: first + 1]

    async def insert_customer(self, customer: Customer, main_account: Account) -> None:
        self.customers[customer.id] = customer
        self.accounts[main_account.id] = main_account

    async def customer_by_email(self, scope: TenantScope, email: str) -> Customer | None:
        return next((c for c in self.customers.values() if c.email == email), None)

    async def customers_by_ids(self, scope: TenantScope, ids: Sequence[str]) -> list[Customer]:
        return [
            self.customers[i]
            for i in ids
            if i in self.customers and self.customers[i].tenant_id == scope.tenant_id
        ]

    async def list_customers(
        self, scope: TenantScope, first: int, after: str | None
    ) -> list[Customer]:
        return list(self.customers.values())[: first + 1]

    async def insert_account(self, account: Account) -> None:
        self.accounts[account.id] = account

    async def ensure_account(self, account: Account) -> None:
        self.accounts.setdefault(account.id, account)

    async def accounts_by_ids(self, scope: TenantScope, ids: Sequence[str]) -> list[Account]:
        return [self.accounts[i] for i in ids if i in self.accounts]

    async def list_accounts(
        self, scope: TenantScope, customer_id: str | None, first: int, after: str | None
    ) -> list[Account]:
        return [a for a in self.accounts.values() if customer_id in (None, a.customer_id)]

    async def count_accounts(self, scope: TenantScope, customer_id: str) -> int:
        return sum(1 for a in self.accounts.values() if a.customer_id == customer_id)

    async def insert_api_key(self, key: ApiKey) -> None:
        self.keys[key.key_id] = key

    async def api_key(self, key_id: str) -> ApiKey | None:
        return self.keys.get(key_id)

    async def replace_api_key(self, key: ApiKey, expected_generation: int) -> bool:
        stored = self.keys.get(key.key_id)
        if stored is None or stored.generation != expected_generation:
            return False
        self.keys[key.key_id] = key
        return True

    async def list_api_keys(
        self, scope: TenantScope, first: int, after: str | None
    ) -> list[ApiKey]:
        keys = [k for k in self.keys.values() if scope.tenant_id in (None, k.tenant_id)]
        return sorted(keys, key=lambda k: k.key_id, reverse=True)[: first + 1]


@pytest.fixture
def service() -> AccountsService:
    return AccountsService(FakeAccountsRepository())


async def test_tenant_names_are_unique(service: AccountsService) -> None:
    await service.create_tenant("Bank A", "ch", Brand(display_name="A"))
    with pytest.raises(ConflictError):
        await service.create_tenant("Bank A", "de", Brand(display_name="A2"))


async def test_a_customer_is_onboarded_with_a_main_account(service: AccountsService) -> None:
    customer, main = await service.create_customer(TenantScope("ten_x"), " Dana ", "DANA@x.io")
    assert customer.display_name == "Dana" and customer.email == "dana@x.io"
    assert main.customer_id == customer.id and main.kind.value == "MAIN"


@pytest.mark.parametrize(
    ("display_name", "email"), [("", "a@b.c"), ("Ann", "not-an-email"), ("x" * 201, "a@b.c")]
)
async def test_bad_customer_input_is_a_validation_error_and_stores_nothing(
    service: AccountsService, display_name: str, email: str
) -> None:
    with pytest.raises(ValidationError):
        await service.create_customer(TenantScope("ten_x"), display_name, email)
    assert service._repo.customers == {}  # type: ignore[attr-defined]


async def test_operators_cannot_create_customers_without_a_tenant(
    service: AccountsService,
) -> None:
    with pytest.raises(ValidationError):
        await service.create_customer(TenantScope(None), "Ann", "ann@x.io")


async def test_sub_accounts_need_a_customer_of_the_callers_tenant(
    service: AccountsService,
) -> None:
    customer, _ = await service.create_customer(TenantScope("ten_x"), "Ann", "ann@x.io")
    sub = await service.open_sub_account(TenantScope("ten_x"), customer.id, "Grid bot")
    assert sub.kind.value == "SUB" and sub.label == "Grid bot"
    with pytest.raises(Exception, match="no such customer"):
        await service.open_sub_account(TenantScope("ten_other"), customer.id, "Sneaky")
