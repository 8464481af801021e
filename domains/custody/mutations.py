"""Custody subgraph mutations: parse -> service -> map."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, TypeVar

import strawberry

from domains.custody.calls import CustodyCalls
from domains.custody.fields import STAFF, _dec, _desc, _payload, _rule
from domains.custody.governance import Governance
from domains.custody.model import CustodyMode, TreasuryLimits, WalletTemperature
from domains.custody.service import CustodyService, to_minor
from domains.custody.treasury import TreasuryService
from domains.custody.types import DepositAddress, Info, Wallet
from domains.custody.types_ops import (
    AddressBookEntry,
    Approver,
    CustodyPolicy,
    CustodySettings,
    PolicyRuleInput,
    ProofOfReserves,
    TreasuryInput,
    WithdrawalInput,
    WithdrawalPayload,
)
from domains.custody.withdrawals import RequestWithdrawal, WithdrawalService
from domains.shared.context import Principal, Role
from domains.shared.errors import ValidationError

S = TypeVar("S")

MAX_SIM_BLOCKS = 100
# arguments several mutations take, described once
AssetArg = Annotated[str, _desc("Asset.")]
WithdrawalIdArg = Annotated[strawberry.ID, _desc("Withdrawal id.")]
FrozenArg = Annotated[bool, _desc("True to freeze.")]
ReasonArg = Annotated[str, _desc("Why.")]
AmountArg = Annotated[Decimal, _desc("Amount, a decimal string.")]
DestinationArg = Annotated[str, _desc("Destination address.")]
ADMIN = (Role.TENANT_ADMIN,)
ADMIN_OR_OPERATOR = (Role.TENANT_ADMIN, Role.OPERATOR)  # operators: the platform's shared wallets
OWNER = (Role.TRADER, Role.TENANT_ADMIN)
OFFICERS = (Role.COMPLIANCE, Role.TENANT_ADMIN)


def _as(info: Info, roles: tuple[Role, ...], service: type[S]) -> tuple[S, Principal]:
    """The request's `service` and the caller, once the caller holds one of `roles`
    (FORBIDDEN otherwise): every custody mutation starts with this one line."""
    principal = info.context.require(*roles)
    return info.context.get(service), principal


@strawberry.type(description="Custody mutations.")
class CustodyMutation:
    @strawberry.mutation(
        description="Open the tenant's HOT wallet (keys made and sealed on the "
        "server) or COLD wallet (give the xpub of a key made offline). Operators open the "
        "platform's shared wallets that OMNIBUS tenants use."
    )
    async def open_wallet(
        self,
        info: Info,
        asset: Annotated[str, _desc("Asset code, e.g. `BTC`.")],
        temperature: Annotated[WalletTemperature, _desc("Hot or cold.")],
        label: Annotated[str, _desc("Name; a default is made.")] = "",
        xpub: Annotated[str | None, _desc("COLD only: the account node's xpub.")] = None,
    ) -> Wallet:
        calls, who = _as(info, ADMIN_OR_OPERATOR, CustodyCalls)
        return Wallet.from_model(await calls.open_wallet(who, asset, temperature, label, xpub))

    @strawberry.mutation(description="The account's deposit address for an asset (made once).")
    async def request_deposit_address(
        self,
        info: Info,
        account_id: Annotated[strawberry.ID, _desc("The account to credit.")],
        asset: Annotated[str, _desc("Asset, e.g. `BTC`.")],
    ) -> DepositAddress:
        calls, who = _as(info, OWNER, CustodyCalls)
        return DepositAddress.from_model(await calls.deposit_address(who, account_id, asset))

    @strawberry.mutation(
        description="Request a withdrawal: screening, policy, hold, approvals, "
        "signing, broadcast, debit."
    )
    async def request_withdrawal(
        self, info: Info, input: Annotated[WithdrawalInput, _desc("The withdrawal.")]
    ) -> WithdrawalPayload:
        calls, who = _as(info, OWNER, CustodyCalls)
        request = RequestWithdrawal(
            input.account_id, input.asset, input.amount, input.destination, input.idempotency_key
        )
        return _payload(info, await calls.request_withdrawal(who, request))

    @strawberry.mutation(
        description="Approve with an approver's Ed25519 signature over the "
        "withdrawal's approvalPayload."
    )
    async def approve_withdrawal(
        self,
        info: Info,
        id: WithdrawalIdArg,
        signature: Annotated[str, _desc("base64url Ed25519 signature of approvalPayload.")],
    ) -> WithdrawalPayload:
        calls, who = _as(info, STAFF, CustodyCalls)
        return _payload(info, await calls.approve_withdrawal(who, id, signature))

    @strawberry.mutation(description="Refuse an open or frozen withdrawal; its hold is released.")
    async def reject_withdrawal(
        self,
        info: Info,
        id: WithdrawalIdArg,
        reason: Annotated[str, _desc("Why (kept on the withdrawal).")],
    ) -> WithdrawalPayload:
        calls, who = _as(info, STAFF, CustodyCalls)
        return _payload(info, await calls.reject_withdrawal(who, id, reason))

    @strawberry.mutation(
        description="Import the transaction `caas cold-sign` signed offline (operators: "
        "for OMNIBUS withdrawals, signed by the platform's cold key)."
    )
    async def submit_cold_signature(
        self,
        info: Info,
        id: WithdrawalIdArg,
        signed_transaction: Annotated[str, _desc("The JSON `caas cold-sign` printed.")],
    ) -> WithdrawalPayload:
        calls, who = _as(info, ADMIN_OR_OPERATOR, CustodyCalls)
        return _payload(info, await calls.submit_cold_signature(who, id, signed_transaction))

    @strawberry.mutation(description="Compliance: freeze or unfreeze a withdrawal.")
    async def set_withdrawal_frozen(
        self, info: Info, id: WithdrawalIdArg, frozen: FrozenArg
    ) -> WithdrawalPayload:
        withdrawals, who = _as(info, OFFICERS, WithdrawalService)
        return _payload(info, await withdrawals.freeze(who, id, frozen))

    @strawberry.mutation(description="Compliance: freeze or unfreeze a wallet (no signing).")
    async def set_wallet_frozen(
        self,
        info: Info,
        wallet_id: Annotated[strawberry.ID, _desc("Wallet id.")],
        frozen: FrozenArg,
    ) -> Wallet:
        custody, who = _as(info, OFFICERS, CustodyService)
        return Wallet.from_model(await custody.freeze_wallet(who, wallet_id, frozen))

    @strawberry.mutation(description="Compliance: freeze or unfreeze an account's withdrawals.")
    async def set_account_frozen(
        self,
        info: Info,
        account_id: Annotated[strawberry.ID, _desc("Account id.")],
        frozen: FrozenArg,
        reason: ReasonArg = "",
    ) -> bool:
        custody, who = _as(info, OFFICERS, CustodyService)
        return await custody.freeze_account(who, account_id, frozen, reason)

    @strawberry.mutation(description="Compliance: block or unblock a destination (screening).")
    async def set_address_blocked(
        self,
        info: Info,
        address: DestinationArg,
        blocked: Annotated[bool, _desc("True to block.")],
        reason: ReasonArg = "",
    ) -> bool:
        governance, who = _as(info, OFFICERS, Governance)
        return await governance.set_blocked(who, address, blocked, reason)

    @strawberry.mutation(description="Register an approver's Ed25519 public key and groups.")
    async def register_approver(
        self,
        info: Info,
        name: Annotated[str, _desc("Display name.")],
        public_key: Annotated[str, _desc("base64url of the raw 32-byte Ed25519 public key.")],
        groups: Annotated[list[str], _desc("Approver groups.")],
        key_id: Annotated[str | None, _desc("The API key the person uses.")] = None,
    ) -> Approver:
        governance, who = _as(info, ADMIN, Governance)
        return Approver.from_model(
            await governance.register_approver(who, name, public_key, groups, key_id)
        )

    @strawberry.mutation(description="Propose an address-book entry (needs the quorum).")
    async def propose_address_book_entry(
        self,
        info: Info,
        asset: AssetArg,
        address: DestinationArg,
        label: Annotated[str, _desc("Name.")] = "",
    ) -> AddressBookEntry:
        decimals = info.context.get(CustodyService).decimals
        governance, who = _as(info, ADMIN, Governance)
        entry = await governance.propose_entry(who, asset, address, label, decimals)
        return AddressBookEntry.from_model(entry)

    @strawberry.mutation(description="Approve an address-book entry with an Ed25519 signature.")
    async def approve_address_book_entry(
        self,
        info: Info,
        id: Annotated[strawberry.ID, _desc("Entry id.")],
        signature: Annotated[str, _desc("base64url signature of approvalPayload.")],
    ) -> AddressBookEntry:
        governance, who = _as(info, STAFF, Governance)
        return AddressBookEntry.from_model(await governance.approve_entry(who, id, signature))

    @strawberry.mutation(description="Save the tenant's policy draft (replaces the open draft).")
    async def save_custody_policy_draft(
        self, info: Info, rules: Annotated[list[PolicyRuleInput], _desc("Rules, in order.")]
    ) -> CustodyPolicy:
        governance, who = _as(info, ADMIN, Governance)
        return CustodyPolicy.from_model(await governance.save_draft(who, [_rule(r) for r in rules]))

    @strawberry.mutation(description="Publish a draft; the previous version is retired.")
    async def publish_custody_policy(
        self, info: Info, version: Annotated[int, _desc("The draft's version.")]
    ) -> CustodyPolicy:
        governance, who = _as(info, ADMIN, Governance)
        return CustodyPolicy.from_model(await governance.publish(who, version))

    @strawberry.mutation(
        description="Set hot limits and the sweep rule of an asset (operators: of the "
        "platform's shared wallets)."
    )
    async def set_treasury_settings(
        self, info: Info, input: Annotated[TreasuryInput, _desc("The settings.")]
    ) -> bool:
        custody, who = _as(info, ADMIN_OR_OPERATOR, CustodyService)
        asset = input.asset.strip().upper()
        d = custody.decimals(asset)
        limits = TreasuryLimits(
            *(
                to_minor(v, d, n, positive=False)
                for n, v in (
                    ("hotTxLimit", input.hot_tx_limit),
                    ("hotDailyLimit", input.hot_daily_limit),
                    ("sweepThreshold", input.sweep_threshold),
                    ("hotTarget", input.hot_target),
                )
            )
        )
        await custody.set_treasury(
            who,
            asset,
            limits,
            input.treasury_quorum,
            input.cooling_off_seconds,
            input.withdrawal_ttl_seconds,
        )
        return True

    @strawberry.mutation(
        description="Switch the tenant between SEGREGATED and OMNIBUS custody; refused with "
        "CUSTODY_BALANCE_HELD while it holds custody funds (balances, holds, pending "
        "deposits, an omnibus share)."
    )
    async def set_custody_mode(
        self, info: Info, mode: Annotated[CustodyMode, _desc("The new mode.")]
    ) -> CustodySettings:
        calls, who = _as(info, ADMIN, CustodyCalls)
        setup = await calls.set_mode(who, mode)
        return CustodySettings.from_model(setup, info.context.get(CustodyService).decimals)

    @strawberry.mutation(
        description="Sweep the hot balance above the threshold into cold now (operators: "
        "the platform's shared wallets)."
    )
    async def sweep_hot_wallet(self, info: Info, asset: AssetArg) -> WithdrawalPayload | None:
        calls, who = _as(info, ADMIN_OR_OPERATOR, CustodyCalls)
        w = await calls.sweep(who, asset.strip().upper())
        return None if w is None else _payload(info, w)

    @strawberry.mutation(
        description="Request a cold -> hot refill (treasury quorum, then cold signing)."
    )
    async def request_refill(
        self, info: Info, asset: AssetArg, amount: AmountArg
    ) -> WithdrawalPayload:
        treasury, who = _as(info, ADMIN, TreasuryService)
        return _payload(info, await treasury.request_refill(who, asset, amount))

    @strawberry.mutation(description="Publish a proof of reserves for an asset.")
    async def publish_proof_of_reserves(self, info: Info, asset: AssetArg) -> ProofOfReserves:
        calls, who = _as(info, ADMIN, CustodyCalls)
        snap = await calls.publish_reserves(who, asset)
        return ProofOfReserves.from_model(snap, _dec(info, snap.asset))

    @strawberry.mutation(
        description="SIMULATOR ONLY: send funds from outside the platform "
        "(a faucet) to an address; returns the transaction id."
    )
    async def simulate_chain_transfer(
        self,
        info: Info,
        asset: AssetArg,
        address: Annotated[str, _desc("Receiving address.")],
        amount: AmountArg,
    ) -> str:
        calls, who = _as(info, (Role.OPERATOR, Role.TENANT_ADMIN), CustodyCalls)
        asset = asset.strip().upper()
        if not _valid(asset, address):
            raise ValidationError(f"not a valid {asset} address", field="address")
        to_minor(amount, _dec(info, asset), "amount")  # VALIDATION here, before forwarding
        return await calls.simulate_transfer(who, asset, address.strip(), amount)

    @strawberry.mutation(description="SIMULATOR ONLY: mine blocks now; returns the new height.")
    async def mine_blocks(
        self, info: Info, count: Annotated[int, _desc("Blocks to mine, 1-100.")] = 1
    ) -> int:
        calls, who = _as(info, (Role.OPERATOR,), CustodyCalls)
        if not 1 <= count <= MAX_SIM_BLOCKS:
            raise ValidationError(f"count is 1-{MAX_SIM_BLOCKS}", field="count")
        return await calls.mine_blocks(who, count)


def _valid(asset: str, address: str) -> bool:
    from domains.custody.keys import valid_address

    return asset in ("BTC", "ETH", "USDT") and valid_address(asset, address.strip())
