"""Custody's money moves: engine commands through the CommandBus, journaled with notes.

deposit_credit (chain -> available), withdrawal_hold (available -> held),
withdrawal_release (held -> available) and withdrawal_debit (held -> gone). The ledger
posts DEPOSIT / WITHDRAWAL legs against ``external`` from these, so reconcile stays clean.
"""

from __future__ import annotations

from domains.custody.errors import InsufficientFundsError
from domains.custody.ports import Directory
from domains.shared.engine_port import CommandBus, DuplicateCommandError, Submitted, client_tag
from domains.shared.errors import DomainError, ValidationError
from engine import codes
from engine import commands as cmd

NOTE_DEPOSIT = "custody_deposit"
NOTE_WITHDRAWAL = "custody_withdrawal"


class EngineRefusedError(DomainError):
    """The engine refused a custody command for a reason other than funds."""

    code = "ENGINE_REJECTED"


def _accepted(submitted: Submitted) -> int:
    """OK, or the engine's refusal code."""
    if submitted.events is None:
        return codes.OK
    for event in submitted.events:
        kind = int(event["kind"])
        if kind == codes.EV_ACCEPTED:
            return codes.OK
        if kind == codes.EV_REJECTED:
            return int(event["code"])
    raise RuntimeError("the engine answered without ACCEPTED or REJECTED")


class CustodyMoney:
    """Builds and submits custody's engine commands."""

    def __init__(self, bus: CommandBus, directory: Directory) -> None:
        self._bus = bus
        self._directory = directory

    @property
    def bus(self) -> CommandBus:
        return self._bus

    async def index(self, account_id: str, tenant_id: str, customer_id: str) -> int:
        return await self._directory.account_index(account_id, tenant_id, customer_id)

    def asset_index(self, asset: str) -> int:
        info = self._directory.asset(asset)
        if info is None:
            raise ValidationError(f"unknown asset {asset}", field="asset")
        return info.index

    def available(self, account: int, asset: str) -> int:
        return self._bus.engine.balance(account, self.asset_index(asset))[0]

    async def credit_deposit(self, account: int, asset: str, amount: int, deposit_id: str) -> int:
        """Credit once per deposit: the client tag makes a retry a no-op within a day."""
        command = cmd.deposit_credit(
            0,
            0,
            account=account,
            asset=self.asset_index(asset),
            amount_minor=amount,
            client_tag=client_tag(f"deposit:{deposit_id}"),
        )
        try:
            submitted = await self._bus.submit(command, {NOTE_DEPOSIT: deposit_id})
        except DuplicateCommandError as exc:  # same tag, other payload: never credit twice
            return exc.original_seq
        self._raise_for(_accepted(submitted))
        return submitted.seq

    async def _move(
        self, build: object, account: int, asset: str, amount: int, withdrawal_id: str, step: str
    ) -> int:
        assert callable(build)
        command = build(0, 0, account=account, asset=self.asset_index(asset), amount_minor=amount)
        submitted = await self._bus.submit(command, {NOTE_WITHDRAWAL: withdrawal_id, "step": step})
        self._raise_for(_accepted(submitted))
        return submitted.seq

    async def hold(self, account: int, asset: str, amount: int, withdrawal_id: str) -> int:
        return await self._move(cmd.withdrawal_hold, account, asset, amount, withdrawal_id, "hold")

    async def release(self, account: int, asset: str, amount: int, withdrawal_id: str) -> int:
        return await self._move(
            cmd.withdrawal_release, account, asset, amount, withdrawal_id, "release"
        )

    async def debit(self, account: int, asset: str, amount: int, withdrawal_id: str) -> int:
        return await self._move(
            cmd.withdrawal_debit, account, asset, amount, withdrawal_id, "debit"
        )

    @staticmethod
    def _raise_for(code: int) -> None:
        if code == codes.OK:
            return
        if code in (codes.RISK_INSUFFICIENT_FUNDS, codes.RISK_INSUFFICIENT_HELD):
            raise InsufficientFundsError("the account's available balance does not cover it")
        raise EngineRefusedError(
            "the engine refused the custody command", reason=codes.REASON_NAMES.get(code, str(code))
        )
