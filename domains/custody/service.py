"""Wallets, deposit addresses, treasury limits and freezes; knows nothing of GraphQL."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from decimal import Decimal

from domains.custody import keys
from domains.custody.chain import ChainAdapter
from domains.custody.errors import FrozenError
from domains.custody.model import (
    PLATFORM_TENANT,
    CustodyMode,
    CustodySetup,
    Deposit,
    DepositAddress,
    TreasuryLimits,
    Wallet,
    WalletTemperature,
)
from domains.custody.ports import AccountLookup, AccountRecord, Directory, Sealer
from domains.custody.repository import MongoCustodyRepository
from domains.shared.context import Principal, Role, TenantScope
from domains.shared.errors import ConflictError, NotFoundError, ValidationError
from domains.shared.ids import new_id
from domains.shared.scalars import utcnow

SUPPORTED_ASSETS = frozenset(keys.COIN_TYPES)


def sealing_context(wallet_id: str, tenant_id: str) -> str:
    """What a hot wallet's sealed key is bound to (a copy on another wallet does not open)."""
    return f"custody-hot-key:{tenant_id}:{wallet_id}"


def to_minor(value: Decimal, decimals: int, field: str, *, positive: bool = True) -> int:
    """Decimal asset units -> integer minor units; off the unit is VALIDATION, never rounded."""
    minor = value.scaleb(decimals)
    if minor != minor.to_integral_value() or (minor <= 0 if positive else minor < 0):
        qualifier = "a positive" if positive else "a non-negative"
        raise ValidationError(f"{field} must be {qualifier} multiple of 1e-{decimals}", field=field)
    return int(minor)


class CustodyService:
    """Wallets per tenant and asset, addresses per account, limits and freezes."""

    def __init__(
        self,
        repository: MongoCustodyRepository,
        accounts: AccountLookup,
        directory: Directory,
        sealer: Sealer,
        chain: ChainAdapter,
    ) -> None:
        self._repo = repository
        self._accounts = accounts
        self._directory = directory
        self._sealer = sealer
        self._chain = chain

    @property
    def chain(self) -> ChainAdapter:
        return self._chain

    def decimals(self, asset: str) -> int:
        info = self._directory.asset(asset)
        if info is None or asset not in SUPPORTED_ASSETS:
            raise ValidationError(f"unknown asset {asset}", field="asset")
        return info.decimals

    async def open_wallet(
        self,
        scope: TenantScope,
        asset: str,
        temperature: WalletTemperature,
        label: str,
        xpub: str | None = None,
    ) -> Wallet:
        """Open the tenant's HOT wallet (keys made here, sealed) or COLD wallet (an xpub).

        An operator's scope (no tenant) opens the platform's shared wallets (omnibus).
        """
        owner = scope.tenant_id or PLATFORM_TENANT
        asset = asset.strip().upper()
        if asset not in SUPPORTED_ASSETS:
            raise ValidationError(
                f"custody supports {', '.join(sorted(SUPPORTED_ASSETS))}", field="asset"
            )
        existing = await self._repo.wallets_of(scope, [owner])
        if any(w.asset == asset and w.temperature is temperature for w in existing):
            raise ConflictError(f"the tenant has a {temperature.value} {asset} wallet already")
        wallet_id, sealed = new_id("wal"), None
        if temperature is WalletTemperature.HOT:
            if xpub:
                raise ValidationError("a hot wallet's keys are made by the server", field="xpub")
            node = keys.new_account_node(asset)
            assert node.xprv is not None
            public, sealed = (
                node.xpub,
                self._sealer.seal(node.xprv, sealing_context(wallet_id, owner)),
            )
        else:
            if not xpub:
                raise ValidationError(
                    "a cold wallet is opened with the xpub of a key made "
                    "offline (`caas cold-keygen`)",
                    field="xpub",
                )
            try:
                public = keys.check_xpub(xpub)
            except keys.InvalidKeyError as exc:
                raise ValidationError(str(exc), field="xpub") from exc
        wallet = Wallet(
            id=wallet_id,
            tenant_id=owner,
            asset=asset,
            temperature=temperature,
            label=label.strip()[:100] or f"{asset} {temperature.value.lower()}",
            created_at=utcnow(),
            xpub=public,
            sealed_key=sealed,
            address=keys.derive_address(asset, public, keys.INTERNAL_CHAIN, 0),
        )
        await self._repo.insert_wallet(wallet)
        self._chain.watch([wallet.address])
        return wallet

    async def wallets_by_tenant(
        self, scope: TenantScope, tenant_ids: Sequence[str]
    ) -> dict[str, list[Wallet]]:
        grouped: dict[str, list[Wallet]] = {key: [] for key in tenant_ids}
        for wallet in await self._repo.wallets_of(scope, tenant_ids):
            grouped[wallet.tenant_id].append(wallet)
        return grouped

    async def wallet(self, tenant_id: str, asset: str, temperature: WalletTemperature) -> Wallet:
        for w in await self._repo.wallets_of(TenantScope(tenant_id), [tenant_id]):
            if w.asset == asset and w.temperature is temperature:
                return w
        raise NotFoundError(f"the tenant has no {temperature.value} {asset} wallet")

    async def wallet_by_id(self, wallet_id: str) -> Wallet:
        found = await self._repo.wallet_by_id(wallet_id)
        if found is None:
            raise NotFoundError("no such wallet", id=wallet_id)
        return found

    async def mode(self, tenant_id: str) -> CustodyMode:
        return (await self._repo.setup(tenant_id)).mode

    async def hot_wallet_for(self, tenant_id: str, asset: str) -> Wallet:
        """The hot wallet serving a tenant's customers: its own, or the platform's (omnibus)."""
        owner = PLATFORM_TENANT if await self.mode(tenant_id) is CustodyMode.OMNIBUS else tenant_id
        return await self.wallet(owner, asset, WalletTemperature.HOT)

    def hot_private_key(self, wallet: Wallet, chain: int, index: int) -> bytes:
        """A hot wallet's child private key (opened from its sealed xprv, never stored)."""
        return self.hot_path_key(wallet, (chain, index))

    def hot_path_key(self, wallet: Wallet, path: Sequence[int]) -> bytes:
        """A hot wallet's private key at ``path`` below its account node (never stored)."""
        if wallet.sealed_key is None:
            raise ValidationError("only hot wallets sign on the server")
        xprv = self._sealer.open(wallet.sealed_key, sealing_context(wallet.id, wallet.tenant_id))
        return keys.path_private_key(xprv, path)

    async def account(self, principal: Principal, account_id: str) -> AccountRecord:
        """The account if the caller may act on it: a trader its own, staff their tenant's."""
        scope = TenantScope.of(principal)
        if scope.tenant_id is None:
            raise ValidationError("custody operations act inside a tenant")
        found = await self._accounts.accounts(scope, [account_id])
        if (
            not found
            or found[0].tenant_id != scope.tenant_id
            or (scope.customer_id is not None and found[0].customer_id != scope.customer_id)
        ):
            raise NotFoundError("no such account", id=account_id)
        return found[0]

    async def deposit_address(
        self, principal: Principal, account_id: str, asset: str
    ) -> DepositAddress:
        """The account's deposit address for ``asset``, derived once from the hot xpub that
        serves the tenant: its own (``0/<index>``) or, omnibus, the platform's shared one
        (``0/<tenant slot>/<index>``)."""
        account = await self.account(principal, account_id)
        asset = asset.strip().upper()
        self.decimals(asset)
        wallet = await self.hot_wallet_for(account.tenant_id, asset)
        existing = await self._repo.deposit_address(account.id, asset, wallet.id)
        if existing is not None:
            return existing
        slot: int | None = None
        if wallet.tenant_id == PLATFORM_TENANT:
            slot = await self._repo.omnibus_slot(wallet.id, account.tenant_id)
            index = await self._repo.next_slot_index(wallet.id, account.tenant_id)
        else:
            index = await self._repo.next_address_index(wallet.id)
        path = (keys.EXTERNAL_CHAIN, index) if slot is None else (keys.EXTERNAL_CHAIN, slot, index)
        address = DepositAddress(
            address=keys.path_address(asset, wallet.xpub, path),
            tenant_id=account.tenant_id,
            account_id=account.id,
            customer_id=account.customer_id,
            asset=asset,
            wallet_id=wallet.id,
            derivation_index=index,
            created_at=utcnow(),
            tenant_slot=slot,
        )
        stored = await self._repo.insert_deposit_address(address)
        self._chain.watch([stored.address])
        return stored

    async def deposits(
        self, scope: TenantScope, account_id: str | None, first: int, after: str | None
    ) -> list[Deposit]:
        return await self._repo.deposits(scope, account_id, first, after)

    async def pending_deposit_count(self, tenant_id: str) -> int:
        """Deposits to the tenant's addresses still waiting for confirmations."""
        return await self._repo.pending_deposit_count(tenant_id)

    async def setup(self, tenant_id: str) -> CustodySetup:
        return await self._repo.setup(tenant_id)

    async def set_treasury(
        self,
        principal: Principal,
        asset: str,
        limits: TreasuryLimits,
        quorum: int,
        cooling_off_seconds: int,
        ttl_seconds: int,
    ) -> CustodySetup:
        """Set one asset's hot limits and sweep rule, and the tenant-wide treasury settings."""
        tenant_id = _tenant(principal)
        self.decimals(asset)
        if not 1 <= quorum <= 10 or not 0 <= cooling_off_seconds <= 30 * 86_400:
            raise ValidationError("quorum is 1-10; cooling-off at most 30 days", field="quorum")
        if not 60 <= ttl_seconds <= 30 * 86_400:
            raise ValidationError("withdrawal expiry is 1 minute to 30 days", field="ttl")
        if limits.hot_target_minor > limits.sweep_threshold_minor:
            raise ValidationError(
                "the hot target must not exceed the sweep threshold", field="hotTarget"
            )
        current = await self._repo.setup(tenant_id)
        setup = replace(
            current,
            limits={**current.limits, asset: limits},
            treasury_quorum=quorum,
            cooling_off_seconds=cooling_off_seconds,
            withdrawal_ttl_seconds=ttl_seconds,
        )
        await self._repo.save_setup(setup)
        return setup

    async def freeze_wallet(self, principal: Principal, wallet_id: str, frozen: bool) -> Wallet:
        tenant_id = _tenant(principal)
        if not await self._repo.set_wallet_frozen(tenant_id, wallet_id, frozen):
            raise NotFoundError("no such wallet", id=wallet_id)
        found = [
            w
            for w in await self._repo.wallets_of(TenantScope(tenant_id), [tenant_id])
            if w.id == wallet_id
        ]
        return found[0]

    async def freeze_account(
        self, principal: Principal, account_id: str, frozen: bool, reason: str
    ) -> bool:
        account = await self.account(principal, account_id)
        await self._repo.set_account_frozen(account.tenant_id, account.id, frozen, reason[:500])
        return frozen

    async def ensure_not_frozen(self, account_id: str | None, wallet: Wallet | None) -> None:
        if account_id is not None and await self._repo.account_frozen(account_id):
            raise FrozenError("the account is frozen by compliance", id=account_id)
        if wallet is not None and wallet.frozen:
            raise FrozenError("the wallet is frozen by compliance", id=wallet.id)

    async def watch_everything(self) -> None:
        """At start-up: watch every wallet and deposit address."""
        self._chain.watch([w.address for w in await self._repo.all_wallets()])
        self._chain.watch([a.address for a in await self._repo.all_deposit_addresses()])


def _tenant(principal: Principal) -> str:
    """The caller's tenant; an operator acts on the platform's own (omnibus) wallets."""
    if principal.role is Role.OPERATOR:
        return PLATFORM_TENANT
    if principal.tenant_id is None:
        raise ValidationError("custody operations act inside a tenant")
    return principal.tenant_id


def staff(principal: Principal) -> bool:
    return principal.role in (Role.TENANT_ADMIN, Role.COMPLIANCE, Role.RISK)
