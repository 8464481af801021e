"""The deposit watcher is incremental: each pass reads only the blocks a deposit may still be
waiting in (the deepest confirmation requirement) plus the new ones, never the whole chain;
it remembers the height it scanned (a new watcher after a restart resumes from there, and
catches up on blocks mined while it was down) and credits each chain transaction once."""

from __future__ import annotations

import pytest
import pytest_asyncio
from starlette.applications import Starlette

from domains.accounts.model import Brand
from domains.accounts.service import AccountsService
from domains.custody.deposits import DepositWatcher
from domains.custody.model import DepositStatus, WalletTemperature
from domains.custody.money import CustodyMoney
from domains.custody.omnibus import SubLedger
from domains.custody.repository import MongoCustodyRepository
from domains.custody.service import CustodyService
from domains.shared.context import Principal, Role, TenantScope
from graph.bootstrap import Platform

pytestmark = [pytest.mark.store]


@pytest_asyncio.fixture(loop_scope="session", scope="module")
async def customer(app: Starlette) -> tuple[Principal, str]:
    platform: Platform = app.state.platform
    accounts = platform.get(AccountsService)
    tenant = await accounts.create_tenant("Watcher Bank", "CH", Brand(display_name="W"))
    scope = TenantScope(tenant.id)
    await platform.get(CustodyService).open_wallet(scope, "BTC", WalletTemperature.HOT, "")
    customer, account = await accounts.create_customer(scope, "W", "w@w.example")
    return Principal("key_w", Role.TRADER, tenant.id, customer.id), account.id


async def _available(platform: Platform, principal: Principal, account_id: str) -> int:
    assert principal.tenant_id is not None and principal.customer_id is not None
    index = await platform.directory.account_index(
        account_id, principal.tenant_id, principal.customer_id
    )
    asset = platform.directory.asset("BTC")
    assert asset is not None
    return platform.writer.engine.balance(index, asset.index)[0]


async def test_each_pass_reads_the_confirmation_window_not_the_chain(
    app: Starlette, customer: tuple[Principal, str]
) -> None:
    platform: Platform = app.state.platform
    watcher = platform.get(DepositWatcher)
    await platform.chain.mine(150)  # a long chain, scanned block by block
    principal, account_id = customer
    address = await platform.get(CustodyService).deposit_address(principal, account_id, "BTC")
    await platform.chain.send_from_outside("BTC", address.address, 12_345)
    before = await _available(platform, principal, account_id)
    for _ in range(20):
        read = platform.chain.blocks_scanned
        await platform.chain.mine()  # (the block listener scans)
        assert platform.chain.blocks_scanned - read <= watcher.window + 1
    read = platform.chain.blocks_scanned
    assert await watcher.scan() == 0  # nothing new: still only the window
    assert platform.chain.blocks_scanned - read <= watcher.window
    assert await _available(platform, principal, account_id) == before + 12_345, (
        "credited exactly once"
    )


async def test_a_restarted_watcher_resumes_from_its_height_and_credits_once(
    app: Starlette, customer: tuple[Principal, str]
) -> None:
    platform: Platform = app.state.platform
    principal, account_id = customer
    repo = MongoCustodyRepository(platform.db)
    address = await platform.get(CustodyService).deposit_address(principal, account_id, "BTC")
    before = await _available(platform, principal, account_id)
    platform.chain.on_block.clear()  # the watcher is down: blocks go by unscanned
    tx = await platform.chain.send_from_outside("BTC", address.address, 777)
    scanned = await repo.scanned_height(platform.chain.name)
    await platform.chain.mine(40)  # far past the window: only a remembered height finds it
    assert await repo.scanned_height(platform.chain.name) == scanned
    restarted = DepositWatcher(
        repo, platform.get(CustodyService), platform.chain,
        CustodyMoney(platform.engines.bus, platform.directory, platform.custody_steps),
        platform.settings.custody.confirmations, platform.get(SubLedger),
    )  # fmt: skip
    read = platform.chain.blocks_scanned
    assert await restarted.scan() == 1
    assert platform.chain.blocks_scanned - read == 40 + restarted.window
    assert await repo.scanned_height(platform.chain.name) == platform.chain.height
    assert await restarted.scan() == 0 and await platform.get(DepositWatcher).scan() == 0
    deposits = await repo.deposits(TenantScope(principal.tenant_id), account_id, 50, None)
    mine = [d for d in deposits if d.tx_id == tx]
    assert [d.status for d in mine] == [DepositStatus.CREDITED]
    assert await _available(platform, principal, account_id) == before + 777
    platform.chain.on_block.append(platform.custody_runtime.on_block)
