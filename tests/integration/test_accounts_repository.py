"""The accounts repository against the embedded store: scoping and atomic onboarding."""

from __future__ import annotations

import pytest
import pytest_asyncio
from pymongo.errors import DuplicateKeyError

from domains.accounts.model import Account, AccountKind, Customer
from domains.accounts.repository import INDEXES, MongoAccountsRepository
from domains.shared.context import TenantScope
from domains.shared.ids import new_id
from domains.shared.mongo import Database, ensure_indexes

pytestmark = [pytest.mark.store, pytest.mark.asyncio(loop_scope="session")]


@pytest_asyncio.fixture(loop_scope="session")
async def db(scratch_db: Database) -> Database:
    await ensure_indexes(scratch_db, INDEXES)
    return scratch_db


def _customer(tenant: str, email: str) -> tuple[Customer, Account]:
    customer = Customer(id=new_id("cus"), tenant_id=tenant, display_name="X", email=email)
    account = Account(new_id("acc"), tenant, customer.id, AccountKind.MAIN, "Main")
    return customer, account


async def test_onboarding_is_atomic_a_failed_account_insert_leaves_no_customer(
    db: Database,
) -> None:
    repo = MongoAccountsRepository(db)
    first, account = _customer("ten_a", "one@x.io")
    await repo.insert_customer(first, account)
    second, _ = _customer("ten_a", "two@x.io")
    with pytest.raises(DuplicateKeyError):
        await repo.insert_customer(second, account)  # same account id: the second insert fails
    assert await repo.customers_by_ids(TenantScope("ten_a"), [second.id]) == []


async def test_reads_are_scoped_to_the_tenant_and_for_traders_to_the_customer(
    db: Database,
) -> None:
    repo = MongoAccountsRepository(db)
    mine, my_account = _customer("ten_b", "mine@x.io")
    theirs, their_account = _customer("ten_b", "theirs@x.io")
    other_tenant, other_account = _customer("ten_c", "other@x.io")
    for customer, account in ((mine, my_account), (theirs, their_account),
                              (other_tenant, other_account)):  # fmt: skip
        await repo.insert_customer(customer, account)
    ids = [my_account.id, their_account.id, other_account.id]
    staff = await repo.accounts_by_ids(TenantScope("ten_b"), ids)
    assert {a.id for a in staff} == {my_account.id, their_account.id}
    trader = TenantScope("ten_b", customer_id=mine.id)
    assert [a.id for a in await repo.accounts_by_ids(trader, ids)] == [my_account.id]
    assert await repo.list_accounts(trader, theirs.id, 10, None) == []
    assert [c.id for c in await repo.list_customers(trader, 10, None)] == [mine.id]
    page = await repo.list_accounts(TenantScope("ten_b"), None, 1, None)
    rest = await repo.list_accounts(TenantScope("ten_b"), None, 10, page[0].id)
    assert {a.id for a in page[:1] + rest} == {my_account.id, their_account.id}
