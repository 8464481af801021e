"""Custody subgraph mutations: parse -> service -> map."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated

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
from domains.shared.context import Role
from domains.shared.errors import ValidationError

MAX_SIM_BLOCKS = 100


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
        principal = info.context.require(Role.TENANT_ADMIN, Role.OPERATOR)  # operators: shared
        wallet = await info.context.get(CustodyCalls).open_wallet(
            principal, asset, temperature, label, xpub
        )
        return Wallet.from_model(wallet)

    @strawberry.mutation(description="The account's deposit address for an asset (made once).")
    async def request_deposit_address(
        self,
        info: Info,
        account_id: Annotated[strawberry.ID, _desc("The account to credit.")],
        asset: Annotated[str, _desc("Asset, e.g. `BTC`.")],
    ) -> DepositAddress:
        principal = info.context.require(Role.TRADER, Role.TENANT_ADMIN)
        found = await info.context.get(CustodyCalls).deposit_address(principal, account_id, asset)
        return DepositAddress.from_model(found)

    @strawberry.mutation(
        description="Request a withdrawal: screening, policy, hold, approvals, "
        "signing, broadcast, debit."
    )
    async def request_withdrawal(
        self, info: Info, input: Annotated[WithdrawalInput, _desc("The withdrawal.")]
    ) -> WithdrawalPayload:
        principal = info.context.require(Role.TRADER, Role.TENANT_ADMIN)
        request = RequestWithdrawal(
            input.account_id, input.asset, input.amount, input.destination, input.idempotency_key
        )
        calls = info.context.get(CustodyCalls)
        return _payload(info, await calls.request_withdrawal(principal, request))

    @strawberry.mutation(
        description="Approve with an approver's Ed25519 signature over the "
        "withdrawal's approvalPayload."
    )
    async def approve_withdrawal(
        self,
        info: Info,
        id: Annotated[strawberry.ID, _desc("Withdrawal id.")],
        signature: Annotated[str, _desc("base64url Ed25519 signature of approvalPayload.")],
    ) -> WithdrawalPayload:
        principal = info.context.require(*STAFF)
        w = await info.context.get(CustodyCalls).approve_withdrawal(principal, id, signature)
        return _payload(info, w)

    @strawberry.mutation(description="Refuse an open or frozen withdrawal; its hold is released.")
    async def reject_withdrawal(
        self,
        info: Info,
        id: Annotated[strawberry.ID, _desc("Withdrawal id.")],
        reason: Annotated[str, _desc("Why (kept on the withdrawal).")],
    ) -> WithdrawalPayload:
        principal = info.context.require(*STAFF)
        calls = info.context.get(CustodyCalls)
        return _payload(info, await calls.reject_withdrawal(principal, id, reason))

    @strawberry.mutation(
        description="Import the transaction `caas cold-sign` signed offline (operators: "
        "for OMNIBUS withdrawals, signed by the platform's cold key)."
    )
    async def submit_cold_signature(
        self,
        info: Info,
        id: Annotated[strawberry.ID, _desc("Withdrawal id.")],
        signed_transaction: Annotated[str, _desc("The JSON `caas cold-sign` printed.")],
    ) -> WithdrawalPayload:
        principal = info.context.require(Role.TENANT_ADMIN, Role.OPERATOR)
        w = await info.context.get(CustodyCalls).submit_cold_signature(
            principal, id, signed_transaction
        )
        return _payload(info, w)

    @strawberry.mutation(description="Compliance: freeze or unfreeze a withdrawal.")
    async def set_withdrawal_frozen(
        self,
        info: Info,
        id: Annotated[strawberry.ID, _desc("Withdrawal id.")],
        frozen: Annotated[bool, _desc("True to freeze.")],
    ) -> WithdrawalPayload:
        principal = info.context.require(Role.COMPLIANCE, Role.TENANT_ADMIN)
        return _payload(
            info, await info.context.get(WithdrawalService).freeze(principal, id, frozen)
        )

    @strawberry.mutation(description="Compliance: freeze or unfreeze a wallet (no signing).")
    async def set_wallet_frozen(
        self,
        info: Info,
        wallet_id: Annotated[strawberry.ID, _desc("Wallet id.")],
        frozen: Annotated[bool, _desc("True to freeze.")],
    ) -> Wallet:
        principal = info.context.require(Role.COMPLIANCE, Role.TENANT_ADMIN)
        wallet = await info.context.get(CustodyService).freeze_wallet(principal, wallet_id, frozen)
        return Wallet.from_model(wallet)

    @strawberry.mutation(description="Compliance: freeze or unfreeze an account's withdrawals.")
    async def set_account_frozen(
        self,
        info: Info,
        account_id: Annotated[strawberry.ID, _desc("Account id.")],
        frozen: Annotated[bool, _desc("True to freeze.")],
        reason: Annotated[str, _desc("Why.")] = "",
    ) -> bool:
        principal = info.context.require(Role.COMPLIANCE, Role.TENANT_ADMIN)
        return await info.context.get(CustodyService).freeze_account(
            principal, account_id, frozen, reason
        )

    @strawberry.mutation(description="Compliance: block or unblock a destination (screening).")
    async def set_address_blocked(
        self,
        info: Info,
        address: Annotated[str, _desc("Destination address.")],
        blocked: Annotated[bool, _desc("True to block.")],
        reason: Annotated[str, _desc("Why.")] = "",
    ) -> bool:
        principal = info.context.require(Role.COMPLIANCE, Role.TENANT_ADMIN)
        return await info.context.get(Governance).set_blocked(principal, address, blocked, reason)

    @strawberry.mutation(description="Register an approver's Ed25519 public key and groups.")
    async def register_approver(
        self,
        info: Info,
        name: Annotated[str, _desc("Display name.")],
        public_key: Annotated[str, _desc("base64url of the raw 32-byte Ed25519 public key.")],
        groups: Annotated[list[str], _desc("Approver groups.")],
        key_id: Annotated[str | None, _desc("The API key the person uses.")] = None,
    ) -> Approver:
        principal = info.context.require(Role.TENANT_ADMIN)
        a = await info.context.get(Governance).register_approver(
            principal, name, public_key, groups, key_id
        )
        return Approver.from_model(a)

    @strawberry.mutation(description="Propose an address-book entry (needs the quorum).")
    async def propose_address_book_entry(
        self,
        info: Info,
        asset: Annotated[str, _desc("Asset.")],
        address: Annotated[str, _desc("Destination address.")],
        label: Annotated[str, _desc("Name.")] = "",
    ) -> AddressBookEntry:
        principal = info.context.require(Role.TENANT_ADMIN)
        custody = info.context.get(CustodyService)
        entry = await info.context.get(Governance).propose_entry(
            principal, asset, address, label, custody.decimals
        )
        return AddressBookEntry.from_model(entry)

    @strawberry.mutation(description="Approve an address-book entry with an Ed25519 signature.")
    async def approve_address_book_entry(
        self,
        info: Info,
        id: Annotated[strawberry.ID, _desc("Entry id.")],
        signature: Annotated[str, _desc("base64url signature of approvalPayload.")],
    ) -> AddressBookEntry:
        principal = info.context.require(*STAFF)
        entry = await info.context.get(Governance).approve_entry(principal, id, signature)
        return AddressBookEntry.from_model(entry)

    @strawberry.mutation(description="Save the tenant's policy draft (replaces the open draft).")
    async def save_custody_policy_draft(
        self, info: Info, rules: Annotated[list[PolicyRuleInput], _desc("Rules, in order.")]
    ) -> CustodyPolicy:
        principal = info.context.require(Role.TENANT_ADMIN)
        policy = await info.context.get(Governance).save_draft(principal, [_rule(r) for r in rules])
        return CustodyPolicy.from_model(policy)

    @strawberry.mutation(description="Publish a draft; the previous version is retired.")
    async def publish_custody_policy(
        self, info: Info, version: Annotated[int, _desc("The draft's version.")]
    ) -> CustodyPolicy:
        principal = info.context.require(Role.TENANT_ADMIN)
        return CustodyPolicy.from_model(
            await info.context.get(Governance).publish(principal, version)
        )

    @strawberry.mutation(
        description="Set hot limits and the sweep rule of an asset (operators: of the "
        "platform's shared wallets)."
    )
    async def set_treasury_settings(
        self, info: Info, input: Annotated[TreasuryInput, _desc("The settings.")]
    ) -> bool:
        principal = info.context.require(Role.TENANT_ADMIN, Role.OPERATOR)
        custody, asset = info.context.get(CustodyService), input.asset.strip().upper()
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
            principal,
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
        principal = info.context.require(Role.TENANT_ADMIN)
        setup = await info.context.get(CustodyCalls).set_mode(principal, mode)
        return CustodySettings.from_model(setup, info.context.get(CustodyService).decimals)

    @strawberry.mutation(
        description="Sweep the hot balance above the threshold into cold now (operators: "
        "the platform's shared wallets)."
    )
    async def sweep_hot_wallet(
        self, info: Info, asset: Annotated[str, _desc("Asset.")]
    ) -> WithdrawalPayload | None:
        principal = info.context.require(Role.TENANT_ADMIN, Role.OPERATOR)
        w = await info.context.get(CustodyCalls).sweep(principal, asset.strip().upper())
        return None if w is None else _payload(info, w)

    @strawberry.mutation(
        description="Request a cold -> hot refill (treasury quorum, then cold signing)."
    )
    async def request_refill(
        self,
        info: Info,
        asset: Annotated[str, _desc("Asset.")],
        amount: Annotated[Decimal, _desc("Amount, a decimal string.")],
    ) -> WithdrawalPayload:
        principal = info.context.require(Role.TENANT_ADMIN)
        w = await info.context.get(TreasuryService).request_refill(principal, asset, amount)
        return _payload(info, w)

    @strawberry.mutation(description="Publish a proof of reserves for an asset.")
    async def publish_proof_of_reserves(
        self, info: Info, asset: Annotated[str, _desc("Asset.")]
    ) -> ProofOfReserves:
        principal = info.context.require(Role.TENANT_ADMIN)
        snap = await info.context.get(CustodyCalls).publish_reserves(principal, asset)
        return ProofOfReserves.from_model(snap, _dec(info, snap.asset))

    @strawberry.mutation(
        description="SIMULATOR ONLY: send funds from outside the platform "
        "(a faucet) to an address; returns the transaction id."
    )
    async def simulate_chain_transfer(
        self,
        info: Info,
        asset: Annotated[str, _desc("Asset.")],
        address: Annotated[str, _desc("Receiving address.")],
        amount: Annotated[Decimal, _desc("Amount, a decimal string.")],
    ) -> str:
        principal = info.context.require(Role.OPERATOR, Role.TENANT_ADMIN)
        asset = asset.strip().upper()
        if not _valid(asset, address):
            raise ValidationError(f"not a valid {asset} address", field="address")
        to_minor(amount, _dec(info, asset), "amount")  # VALIDATION here, before forwarding
        calls = info.context.get(CustodyCalls)
        return await calls.simulate_transfer(principal, asset, address.strip(), amount)

    @strawberry.mutation(description="SIMULATOR ONLY: mine blocks now; returns the new height.")
    async def mine_blocks(
        self, info: Info, count: Annotated[int, _desc("Blocks to mine, 1-100.")] = 1
    ) -> int:
        principal = info.context.require(Role.OPERATOR)
        if not 1 <= count <= MAX_SIM_BLOCKS:
            raise ValidationError(f"count is 1-{MAX_SIM_BLOCKS}", field="count")
        return await info.context.get(CustodyCalls).mine_blocks(principal, count)


def _valid(asset: str, address: str) -> bool:
    from domains.custody.keys import valid_address

    return asset in ("BTC", "ETH", "USDT") and valid_address(asset, address.strip())
