"""The ``balances`` subscription: balance changes of the caller's accounts as they happen."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncGenerator
from decimal import Decimal
from typing import Annotated

import strawberry

from domains.accounts.balances import BalanceStreams, balance_changes
from domains.accounts.service import AccountsService
from domains.accounts.trading_mode_schema import TenantStatusSubscription
from domains.shared.context import RequestContext
from domains.shared.errors import NotFoundError, ValidationError
from domains.shared.streams import slow_consumer
from subscriptions.broker import OVERFLOW, RESYNC

Info = strawberry.Info[RequestContext, None]


@strawberry.type(description="One balance of one account after a change (trade, order, deposit).")
class BalanceUpdate:
    account_id: strawberry.ID = strawberry.field(description="The account.")
    asset: str = strawberry.field(description="Asset code, e.g. `BTC`.")
    available: Decimal = strawberry.field(description="Free to trade or withdraw.")
    locked: Decimal = strawberry.field(
        description="Reserved by open orders and pending withdrawals."
    )
    total: Decimal = strawberry.field(description="available + locked.")
    sequence: int = strawberry.field(
        description=(
            "Engine sequence of the command this balance reflects: increasing per balance, "
            "not contiguous. After a reconnect, read `account { balances }` to resynchronise."
        )
    )
    updated_at: dt.datetime | None = strawberry.field(description="When it changed.")


@strawberry.type(description="Accounts subscriptions.")
class AccountsSubscription(TenantStatusSubscription):
    @strawberry.subscription(
        description=(
            "Balance changes visible to the caller: a trader's own accounts, or every account "
            "of the tenant for staff; optionally of one account."
        )
    )
    async def balances(
        self,
        info: Info,
        account: Annotated[
            strawberry.ID | None, strawberry.argument(description="Only this account.")
        ] = None,
    ) -> AsyncGenerator[BalanceUpdate, None]:
        principal = info.context.require()
        if principal.tenant_id is None:
            raise ValidationError("balance streams are per tenant; use a tenant's key")
        scope = info.context.scope()
        if account is not None:
            visible = await info.context.get(AccountsService).accounts(scope, [str(account)])
            if not visible:
                raise NotFoundError("no such account", id=str(account))
        streams = info.context.get(BalanceStreams)
        async with streams.subscribe(principal.tenant_id) as changes:
            async for payload in changes:
                if payload == RESYNC:
                    continue  # the broker reconnected: re-read `account { balances }`
                if payload == OVERFLOW:
                    raise slow_consumer("balances")  # balance changes cannot be conflated
                for change in balance_changes(payload):
                    balance = change.balance
                    if account is not None and balance.account_id != str(account):
                        continue
                    if scope.customer_id is not None and change.customer_id != scope.customer_id:
                        continue
                    yield BalanceUpdate(
                        account_id=strawberry.ID(balance.account_id), asset=balance.asset,
                        available=balance.available, locked=balance.locked,
                        total=balance.total, sequence=balance.seq, updated_at=balance.updated_at,
                    )  # fmt: skip
