"""What custody needs from other parts of the platform, as protocols the root fills in."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from domains.shared.context import TenantScope
from domains.shared.engine_port import AccountRef, AssetInfo


class AccountRecord(Protocol):
    """The parts of an account custody reads (owner and tenant)."""

    @property
    def id(self) -> str: ...
    @property
    def tenant_id(self) -> str: ...
    @property
    def customer_id(self) -> str: ...


class AccountLookup(Protocol):
    """The accounts service, as custody sees it."""

    async def accounts(self, scope: TenantScope, ids: Sequence[str]) -> Sequence[AccountRecord]: ...


class Sealer(Protocol):
    """AES-GCM sealing under a key ring from the environment."""

    def seal(self, plaintext: str, context: str) -> str: ...
    def open(self, sealed: str, context: str) -> str: ...


class Directory(Protocol):
    """Engine indices custody needs."""

    async def account_index(self, account_id: str, tenant_id: str, customer_id: str) -> int: ...
    def asset(self, code: str) -> AssetInfo | None: ...
    def accounts(self) -> list[AccountRef]: ...


class TenantWithdrawals(Protocol):
    """Whether a tenant's trading mode lets its withdrawals run (HALTED does not)."""

    async def withdrawals_allowed(self, tenant_id: str) -> bool: ...
