"""Withdrawals: screening -> policy -> engine hold -> approvals -> signing -> broadcast -> debit.

Every status has an exit and every failure path releases the hold: rejection, expiry,
screening or policy refusal (nothing held yet), a chain refusal. Sweeps (hot -> cold) and
refills (cold -> hot) use the same machinery without engine money moves.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import secrets
from collections.abc import Sequence
from dataclasses import dataclass, replace
from decimal import Decimal
from typing import Protocol

from pymongo.errors import DuplicateKeyError

from domains.custody import approvals, keys
from domains.custody.chain import ChainAdapter, SignedTx, UnsignedTx
from domains.custody.chain import ChainRejectedError as ChainRefusal
from domains.custody.errors import (
    ApprovalDuplicateError,
    FrozenError,
    InsufficientFundsError,
    SelfApprovalError,
    SignatureInvalidError,
    TenantHaltedError,
)
from domains.custody.governance import Governance
from domains.custody.model import (
    PLATFORM_TENANT,
    Approval,
    Approver,
    WalletTemperature,
    Withdrawal,
    WithdrawalKind,
    WithdrawalStatus,
)
from domains.custody.money import CustodyMoney
from domains.custody.omnibus import SubLedger
from domains.custody.policy import ApprovalRequirement, PolicyAction
from domains.custody.ports import TenantWithdrawals
from domains.custody.repository import MongoCustodyRepository
from domains.custody.service import CustodyService, to_minor
from domains.shared.context import Principal, Role, TenantScope
from domains.shared.errors import ConflictError, ForbiddenError, NotFoundError, ValidationError
from domains.shared.ids import new_id
from domains.shared.scalars import utcnow

log = logging.getLogger("caas.custody.withdrawals")
OPEN = (WithdrawalStatus.PENDING_APPROVAL, WithdrawalStatus.AWAITING_COLD_SIGNATURE)
STAFF = (Role.TENANT_ADMIN, Role.COMPLIANCE, Role.RISK)
MAX_KEY = 64
REDRIVE_AFTER = dt.timedelta(seconds=60)  # a ready withdrawal untouched this long is re-signed


@dataclass(frozen=True)
class RequestWithdrawal:
    """A customer withdrawal as the API received it."""

    account_id: str
    asset: str
    amount: Decimal
    destination: str
    idempotency_key: str | None = None


class WithdrawalChecks(Protocol):
    """What compliance checks before a customer withdrawal (KYC level limits, sanctions
    screening of the destination); raises a domain error (KYC_REQUIRED,
    WITHDRAWAL_LIMIT_EXCEEDED, SANCTIONS_HIT) to refuse it. The composition root wires it."""

    async def check(
        self, tenant_id: str, customer_id: str, asset: str, amount: Decimal, destination: str,
        reference: str,
    ) -> None: ...  # fmt: skip


class WithdrawalService:
    """The withdrawal state machine."""

    def __init__(
        self,
        repository: MongoCustodyRepository,
        custody: CustodyService,
        governance: Governance,
        money: CustodyMoney,
        chain: ChainAdapter,
        confirmations: dict[str, int],
        checks: WithdrawalChecks | None = None,
        ledger: SubLedger | None = None,
    ) -> None:
        self._checks = checks
        self._ledger = ledger
        self._repo = repository
        self._custody = custody
        self._gov = governance
        self._money = money
        self._chain = chain
        self._confirmations = confirmations
        self.tenant_modes: TenantWithdrawals | None = None  # set by the composition root

    async def _ensure_tenant_not_halted(self, tenant_id: str) -> None:
        """A HALTED tenant's withdrawals are neither requested, approved nor signed."""
        if self.tenant_modes is not None and not await self.tenant_modes.withdrawals_allowed(
            tenant_id
        ):
            raise TenantHaltedError(
                "your institution is HALTED: withdrawals are refused", tradingMode="HALTED"
            )

    async def request(self, principal: Principal, req: RequestWithdrawal) -> Withdrawal:
        """Screen, apply the policy, hold the funds; sign at once when the policy allows."""
        if principal.role not in (Role.TRADER, Role.TENANT_ADMIN):
            raise ForbiddenError("withdrawals are requested by traders and tenant admins")
        account = await self._custody.account(principal, req.account_id)
        if req.idempotency_key is not None:
            earlier = await self._by_key(account.tenant_id, req)
            if earlier is not None:
                return earlier
        asset = req.asset.strip().upper()
        amount = to_minor(req.amount, self._custody.decimals(asset), "amount")
        destination = req.destination.strip()
        if not keys.valid_address(asset, destination):
            raise ValidationError(f"not a valid {asset} address", field="destination")
        await self._custody.ensure_not_frozen(account.id, None)
        await self._ensure_tenant_not_halted(account.tenant_id)
        hot = await self._custody.hot_wallet_for(account.tenant_id, asset)  # else 404
        index = await self._money.index(account.id, account.tenant_id, account.customer_id)
        if self._money.available(index, asset) < amount:
            raise InsufficientFundsError("the account's available balance does not cover it")
        now, setup = utcnow(), await self._custody.setup(account.tenant_id)
        w = Withdrawal(
            id=new_id("wdr"),
            tenant_id=account.tenant_id,
            kind=WithdrawalKind.CUSTOMER,
            asset=asset,
            amount_minor=amount,
            destination=destination,
            status=WithdrawalStatus.REJECTED,
            initiator_key_id=principal.key_id,
            initiator_role=principal.role.value,
            nonce=secrets.token_hex(16),
            created_at=now,
            expires_at=now + dt.timedelta(seconds=setup.withdrawal_ttl_seconds),
            account_id=account.id,
            customer_id=account.customer_id,
            idempotency_key=req.idempotency_key,
            omnibus=hot.tenant_id == PLATFORM_TENANT,  # the platform's shared wallets sign
        )
        if await self._gov.blocked(account.tenant_id, destination):
            return await self._insert(replace(w, reason="SCREENING: the destination is blocked"))
        if self._checks is not None:  # compliance: KYC level limits, sanctions screening
            decimal_amount = Decimal(amount).scaleb(-self._custody.decimals(asset))
            await self._checks.check(account.tenant_id, account.customer_id, asset,
                                     decimal_amount, destination, w.id)  # fmt: skip
        decision, entry_id = await self._gov.decide(w, amount, self._custody.decimals(asset))
        w = replace(
            w,
            policy_version=decision.version,
            rule_name=decision.rule_name,
            address_book_entry_id=entry_id,
        )
        if decision.action is PolicyAction.BLOCK:
            why = f"rule {decision.rule_name}" if decision.rule_name else "no rule matched"
            return await self._insert(replace(w, reason=f"POLICY: {why}"))
        requirement = decision.requirement.as_doc() if decision.requirement else None
        w = replace(w, status=WithdrawalStatus.PENDING_APPROVAL, requirement=requirement)
        await self._insert(w)
        try:
            hold_seq = await self._money.hold(index, asset, amount, w.id)
        except Exception:
            await self._save(
                replace(
                    w,
                    status=WithdrawalStatus.REJECTED,
                    reason="INSUFFICIENT_FUNDS: the hold was refused",
                ),
                w,
            )
            raise
        held = replace(w, hold_seq=hold_seq)
        await self._save(held, w)
        if decision.action is PolicyAction.ALLOW:
            return await self._sign(held)
        return held

    async def _by_key(self, tenant_id: str, req: RequestWithdrawal) -> Withdrawal | None:
        key = req.idempotency_key or ""
        if not key.strip() or len(key) > MAX_KEY or not key.isprintable():
            raise ValidationError(
                f"idempotencyKey is 1-{MAX_KEY} printable characters", field="idempotencyKey"
            )
        earlier = await self._repo.withdrawal_by_key(tenant_id, key)
        if earlier is not None and (earlier.account_id, earlier.destination) != (
            req.account_id,
            req.destination.strip(),
        ):
            raise ConflictError("idempotencyKey was used for another withdrawal")
        return earlier

    async def _insert(self, w: Withdrawal) -> Withdrawal:
        """Store a new withdrawal; a concurrent retry with the same key loses the race."""
        try:
            await self._repo.insert_withdrawal(w)
        except DuplicateKeyError as exc:
            raise ConflictError(
                "a request with this idempotencyKey is in flight; read it with the same key again"
            ) from exc
        return w

    async def _save(self, w: Withdrawal, expected: Withdrawal) -> Withdrawal:
        if not await self._repo.replace_withdrawal(w, expected):
            raise ConflictError("the withdrawal changed meanwhile; read it and retry", id=w.id)
        return w

    async def get(self, scope: TenantScope, withdrawal_id: str) -> Withdrawal:
        w = await self._repo.withdrawal(scope, withdrawal_id)
        if w is None:
            raise NotFoundError("no such withdrawal", id=withdrawal_id)
        return w

    async def list(
        self, scope: TenantScope, account_id: str | None, first: int, after: str | None
    ) -> list[Withdrawal]:
        return await self._repo.withdrawals(scope, account_id, first, after)

    # --- approvals ----------------------------------------------------------------------
    async def approve(self, principal: Principal, withdrawal_id: str, signature: str) -> Withdrawal:
        """Add one approver's Ed25519 signature; sign and broadcast once the quorum is met."""
        principal_staff(principal)
        w = await self._expire_if_due(await self.get(TenantScope.of(principal), withdrawal_id))
        if w.status is not WithdrawalStatus.PENDING_APPROVAL:
            raise ConflictError(f"the withdrawal is {w.status.value}", status=w.status.value)
        if w.kind is WithdrawalKind.CUSTOMER:
            await self._ensure_tenant_not_halted(w.tenant_id)
        roster = await self._repo.approvers(w.tenant_id)
        signer = await self._gov.verify_signer(
            roster, signature, approvals.withdrawal_payload(w), w.id
        )
        if any(a.approver_id == signer.id for a in w.approvals):
            raise ApprovalDuplicateError("this approver has approved already", approver=signer.id)
        if signer.key_id is not None and signer.key_id == w.initiator_key_id:
            raise SelfApprovalError("the initiator cannot approve its own withdrawal")
        approved = replace(w, approvals=(*w.approvals, Approval(signer.id, signature, utcnow())))
        await self._save(approved, w)
        if w.requirement is not None and self._met(w.requirement, approved, roster):
            return await self._sign(approved)
        return approved

    @staticmethod
    def _met(requirement: dict[str, object], w: Withdrawal, roster: Sequence[Approver]) -> bool:
        groups = {a.id: a.groups for a in roster}
        need = ApprovalRequirement.from_doc(dict(requirement))
        return need.satisfied([groups.get(a.approver_id, ()) for a in w.approvals])

    async def reject(self, principal: Principal, withdrawal_id: str, reason: str) -> Withdrawal:
        """Refuse an open or frozen withdrawal; the hold is released."""
        principal_staff(principal)
        w = await self.get(TenantScope.of(principal), withdrawal_id)
        if w.status not in (*OPEN, WithdrawalStatus.FROZEN):
            raise ConflictError(f"the withdrawal is {w.status.value}", status=w.status.value)
        return await self._close(w, WithdrawalStatus.REJECTED, f"REJECTED: {reason.strip()[:300]}")

    async def _close(self, w: Withdrawal, status: WithdrawalStatus, reason: str) -> Withdrawal:
        closed = await self._save(replace(w, status=status, reason=reason), w)
        if w.kind is WithdrawalKind.CUSTOMER and w.hold_seq is not None:
            index = await self._money.index(w.account_id or "", w.tenant_id, w.customer_id or "")
            await self._money.release(index, w.asset, w.amount_minor, w.id)
        return closed

    async def _expire_if_due(self, w: Withdrawal) -> Withdrawal:
        if w.status in OPEN and utcnow() >= w.expires_at:
            return await self._close(w, WithdrawalStatus.EXPIRED, "EXPIRED: not completed in time")
        return w

    async def expire_due(self) -> int:
        """Expire every open withdrawal past its time (releasing holds)."""
        expired = 0
        for w in await self._repo.withdrawals_in(OPEN):
            try:
                if (await self._expire_if_due(w)).status is WithdrawalStatus.EXPIRED:
                    expired += 1
            except ConflictError:
                continue  # changed meanwhile; the next pass sees it
        return expired

    async def freeze(self, principal: Principal, withdrawal_id: str, frozen: bool) -> Withdrawal:
        """Compliance stops (or lets go on) a withdrawal that has not left custody."""
        if principal.role not in (Role.COMPLIANCE, Role.TENANT_ADMIN):
            raise ForbiddenError("withdrawals are frozen by compliance")
        w = await self.get(TenantScope.of(principal), withdrawal_id)
        if frozen and w.status in OPEN:
            return await self._save(
                replace(w, status=WithdrawalStatus.FROZEN, frozen_from=w.status.value), w
            )
        if not frozen and w.status is WithdrawalStatus.FROZEN:
            back = WithdrawalStatus(w.frozen_from or WithdrawalStatus.PENDING_APPROVAL.value)
            return await self._save(replace(w, status=back, frozen_from=None), w)
        raise ConflictError(f"the withdrawal is {w.status.value}", status=w.status.value)

    # --- signing, broadcast, debit ------------------------------------------------------
    async def _sign(self, w: Withdrawal) -> Withdrawal:
        """Hot signs within its limits; otherwise the transaction waits for the cold key.

        An omnibus withdrawal is signed by the platform's shared wallets, under their limits.
        """
        hot = await self._custody.wallet(w.wallet_owner, w.asset, WalletTemperature.HOT)
        if w.kind is not WithdrawalKind.REFILL and await self._hot_may_sign(w, hot.id):
            tx = UnsignedTx(
                self._chain.name, w.asset, hot.address, w.destination, w.amount_minor, w.id
            )
            private = self._custody.hot_private_key(hot, keys.INTERNAL_CHAIN, 0)
            signature, public = keys.sign_digest_source(private, tx.canonical())
            return await self._broadcast(
                replace(w, source_wallet_id=hot.id), w, SignedTx(tx, signature, public)
            )
        try:
            cold = await self._custody.wallet(w.wallet_owner, w.asset, WalletTemperature.COLD)
        except NotFoundError:
            return await self._close(w, WithdrawalStatus.REJECTED, "NO_COLD_WALLET: above the "
                                     "hot limits and the tenant has no cold wallet")  # fmt: skip
        tx = UnsignedTx(
            self._chain.name, w.asset, cold.address, w.destination, w.amount_minor, w.id
        )
        waiting = replace(
            w,
            status=WithdrawalStatus.AWAITING_COLD_SIGNATURE,
            source_wallet_id=cold.id,
            unsigned_tx=tx.canonical().decode(),
        )
        return await self._save(waiting, w)

    async def _hot_may_sign(self, w: Withdrawal, hot_id: str) -> bool:
        hot = await self._custody.wallet(w.wallet_owner, w.asset, WalletTemperature.HOT)
        if hot.frozen:
            return False
        if w.kind is WithdrawalKind.SWEEP:
            return True
        limits = (await self._custody.setup(w.wallet_owner)).limits.get(w.asset)
        if limits is not None:
            day_ago = utcnow() - dt.timedelta(days=1)
            spent = await self._repo.hot_spent_since(hot_id, day_ago)
            if w.amount_minor > limits.hot_tx_limit_minor or (
                spent + w.amount_minor > limits.hot_daily_limit_minor
            ):
                return False
        return await self._chain.spendable(w.asset, hot.address) >= w.amount_minor

    async def _broadcast(self, w: Withdrawal, expected: Withdrawal, signed: SignedTx) -> Withdrawal:
        """Broadcast, then the final debit; a chain refusal rejects and releases the hold.

        An omnibus withdrawal must fit in its tenant's share of the shared wallets (checked
        and debited under the share's lock, so two withdrawals never spend it twice).
        """
        if not (w.omnibus and w.kind is WithdrawalKind.CUSTOMER):
            return await self._send(w, expected, signed)
        ledger = self._omnibus_ledger()
        async with ledger.lock(w.tenant_id, w.asset):
            if await ledger.share(w.tenant_id, w.asset) < w.amount_minor:
                await self._save(w, expected)
                return await self._close(w, WithdrawalStatus.REJECTED, "OMNIBUS_SHARE: the "
                                         "tenant's share of the shared wallet does not cover "
                                         "it")  # fmt: skip
            return await self._send(w, expected, signed)

    def _omnibus_ledger(self) -> SubLedger:
        if self._ledger is None:
            raise RuntimeError("omnibus withdrawals need the sub-ledger")
        return self._ledger

    async def _send(self, w: Withdrawal, expected: Withdrawal, signed: SignedTx) -> Withdrawal:
        try:
            tx_id = await self._chain.broadcast(signed)
        except ChainRefusal as exc:
            await self._save(w, expected)
            return await self._close(w, WithdrawalStatus.REJECTED, f"CHAIN_REJECTED: {exc}")
        return await self._sent(w, expected, tx_id)

    async def _sent(self, w: Withdrawal, expected: Withdrawal, tx_id: str) -> Withdrawal:
        """Record a broadcast transaction: BROADCAST, then the final debit."""
        if w.omnibus and w.kind is WithdrawalKind.CUSTOMER:
            await self._omnibus_ledger().debit(w)  # before anything can fail: once per id
        sent = replace(w, status=WithdrawalStatus.BROADCAST, tx_id=tx_id, unsigned_tx=None)
        await self._save(sent, expected)
        if w.kind is WithdrawalKind.CUSTOMER:
            index = await self._money.index(w.account_id or "", w.tenant_id, w.customer_id or "")
            seq = await self._money.debit(index, w.asset, w.amount_minor, w.id)
            sent = await self._save(replace(sent, debit_seq=seq), sent)
        return sent

    async def submit_cold_signature(
        self, principal: Principal, withdrawal_id: str, signed_json: str
    ) -> Withdrawal:
        """Import a transaction signed offline by ``caas cold-sign``: verify, broadcast, debit."""
        if principal.role not in (Role.TENANT_ADMIN, Role.OPERATOR):
            raise ForbiddenError("cold signatures are imported by tenant admins (or operators)")
        w = await self._expire_if_due(await self.get(TenantScope.of(principal), withdrawal_id))
        if principal.role is Role.OPERATOR and not w.omnibus:
            raise ForbiddenError("operators import cold signatures of the shared wallets only")
        if w.status is not WithdrawalStatus.AWAITING_COLD_SIGNATURE or w.unsigned_tx is None:
            raise ConflictError(f"the withdrawal is {w.status.value}", status=w.status.value)
        if w.kind is WithdrawalKind.CUSTOMER:
            await self._ensure_tenant_not_halted(w.tenant_id)
        try:
            signed = SignedTx.from_json(json.loads(signed_json))
        except (ValueError, KeyError, TypeError) as exc:
            raise ValidationError(
                "not a signed transaction from `caas cold-sign`", field="signedTransaction"
            ) from exc
        cold = await self._custody.wallet(w.wallet_owner, w.asset, WalletTemperature.COLD)
        await self._custody.ensure_not_frozen(None, cold)
        if signed.tx.canonical().decode() != w.unsigned_tx:
            raise SignatureInvalidError("the signed transaction is not the one exported")
        try:
            owner = keys.encode_address(w.asset, bytes.fromhex(signed.public_key))
        except ValueError as exc:
            raise SignatureInvalidError("malformed public key") from exc
        if owner != cold.address or not keys.verify_signature(
            signed.public_key, signed.signature, signed.tx.canonical()
        ):
            raise SignatureInvalidError("the signature is not the cold wallet's")
        return await self._broadcast(w, w, signed)

    async def resume(self) -> int:
        """Finish engine steps a crash interrupted: a hold not recorded, a debit not made.

        Every step is looked up in the step log (projected from the journal) first, so a
        step that did reach the engine is never applied twice.
        """
        resumed = 0
        held = (*OPEN, WithdrawalStatus.FROZEN, WithdrawalStatus.BROADCAST,
                WithdrawalStatus.CONFIRMED)  # fmt: skip
        for w in await self._repo.withdrawals_in(held):
            if w.kind is not WithdrawalKind.CUSTOMER:
                continue
            index = await self._money.index(w.account_id or "", w.tenant_id, w.customer_id or "")
            try:
                if w.hold_seq is None:
                    seq = await self._money.hold(index, w.asset, w.amount_minor, w.id)
                    w = await self._save(replace(w, hold_seq=seq), w)
                    resumed += 1
                if w.tx_id is not None and w.debit_seq is None:
                    if w.omnibus:
                        await self._omnibus_ledger().debit(w)  # a no-op if it was posted
                    seq = await self._money.debit(index, w.asset, w.amount_minor, w.id)
                    await self._save(replace(w, debit_seq=seq), w)
                    resumed += 1
            except (ConflictError, InsufficientFundsError):
                log.exception("withdrawal %s could not be resumed", w.id)
        return resumed + await self.redrive()

    async def redrive(self, now: dt.datetime | None = None) -> int:
        """Finish signing and broadcasting a crash interrupted.

        A transaction the chain already carries (broadcast, then the crash before BROADCAST
        was saved) is recorded and debited, never signed again: the hot wallet's spend for a
        withdrawal is one transaction id (the withdrawal id is in it), and an exported cold
        transaction is stored. A withdrawal ready to sign (policy ALLOW or its approvals
        met) that the chain does not carry and that nobody touched for REDRIVE_AFTER is
        signed again (a live approval may still be signing a younger one).
        """
        now = now or utcnow()
        done = 0
        waiting = (WithdrawalStatus.PENDING_APPROVAL, WithdrawalStatus.AWAITING_COLD_SIGNATURE)
        for w in await self._repo.withdrawals_in(waiting):
            try:
                ready = await self._ready(w)
                if not ready and w.status is not WithdrawalStatus.AWAITING_COLD_SIGNATURE:
                    continue  # not signed yet: nothing can have been broadcast
                tx = await self._candidate(w)
                if tx is not None and await self._chain.carries(tx.tx_id):
                    source = replace(
                        w, source_wallet_id=w.source_wallet_id or await self._hot_id(w)
                    )
                    await self._sent(source, w, tx.tx_id)
                    log.warning("withdrawal %s: broadcast %s recorded after a restart", w.id,
                                tx.tx_id)  # fmt: skip
                    done += 1
                elif ready and now - self._touched(w) >= REDRIVE_AFTER:
                    await self._sign(w)
                    log.warning("withdrawal %s: signing resumed after a restart", w.id)
                    done += 1
            except (ConflictError, InsufficientFundsError, NotFoundError, FrozenError):
                log.exception("withdrawal %s could not be re-driven", w.id)
        return done

    async def _candidate(self, w: Withdrawal) -> UnsignedTx | None:
        """The spend this withdrawal would have broadcast: the exported cold transaction,
        or the hot wallet's."""
        if w.status is WithdrawalStatus.AWAITING_COLD_SIGNATURE:
            return UnsignedTx.from_json(json.loads(w.unsigned_tx)) if w.unsigned_tx else None
        if w.kind is WithdrawalKind.REFILL:
            return None  # refills are signed by the cold key only
        hot = await self._custody.wallet(w.wallet_owner, w.asset, WalletTemperature.HOT)
        return UnsignedTx(self._chain.name, w.asset, hot.address, w.destination, w.amount_minor,
                          w.id)  # fmt: skip

    async def _hot_id(self, w: Withdrawal) -> str:
        return (await self._custody.wallet(w.wallet_owner, w.asset, WalletTemperature.HOT)).id

    async def _ready(self, w: Withdrawal) -> bool:
        """Pending and allowed to sign: held (a customer's), and ALLOW or approvals met."""
        if (
            w.status is not WithdrawalStatus.PENDING_APPROVAL
            or w.kind is not WithdrawalKind.CUSTOMER
        ):
            return False
        if w.hold_seq is None:
            return False
        if w.requirement is None:
            return True
        return self._met(w.requirement, w, await self._repo.approvers(w.tenant_id))

    @staticmethod
    def _touched(w: Withdrawal) -> dt.datetime:
        """When the withdrawal last moved forward: created, or its latest approval."""
        return max([w.created_at, *(a.approved_at for a in w.approvals)])

    async def confirm_broadcasts(self) -> int:
        """Mark broadcast withdrawals CONFIRMED once buried deep enough."""
        done = 0
        for w in await self._repo.withdrawals_in([WithdrawalStatus.BROADCAST]):
            depth = await self._chain.confirmations(w.tx_id or "")
            needed = self._confirmations.get(w.asset, 6)
            status = WithdrawalStatus.CONFIRMED if depth >= needed else w.status
            if depth != w.confirmations or status is not w.status:
                try:
                    await self._save(replace(w, confirmations=depth, status=status), w)
                    done += status is WithdrawalStatus.CONFIRMED
                except ConflictError:
                    continue
        return done

    async def start(self, w: Withdrawal, *, sign: bool) -> Withdrawal:
        """Store a treasury move, and sign it at once when ``sign`` (sweeps)."""
        await self._insert(w)
        return await self._sign(w) if sign else w

    async def pending_sweep(self, tenant_id: str, asset: str) -> bool:
        """Whether a sweep of this tenant and asset is still waiting to be broadcast."""
        open_moves = await self._repo.withdrawals_in(OPEN)
        return any(w.kind is WithdrawalKind.SWEEP and w.tenant_id == tenant_id
                   and w.asset == asset for w in open_moves)  # fmt: skip


def principal_staff(principal: Principal) -> None:
    if principal.role not in STAFF:
        raise ForbiddenError("approvals are given by the institution's staff")


__all__ = ["FrozenError", "RequestWithdrawal", "WithdrawalService"]
