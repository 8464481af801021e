"""Custody's money moves: engine commands through the CommandBus, journaled with notes.

deposit_credit (chain -> available), withdrawal_hold (available -> held),
withdrawal_release (held -> available) and withdrawal_debit (held -> gone). The ledger
posts DEPOSIT / WITHDRAWAL legs against ``external`` from these, so reconcile stays clean.
"""

from __future__ import annotations

import asyncio
from typing import Protocol

from domains.custody.errors import InsufficientFundsError
from domains.custody.ports import Directory
from domains.custody.steps import NOTE_DEPOSIT, NOTE_STEP, NOTE_WITHDRAWAL, CustodySteps
from domains.shared.engine_port import CommandBus, Submitted
from domains.shared.errors import DomainError, ValidationError
from engine import codes
from engine import commands as cmd
from engine.layout import Records


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


class MoneyCommand(Protocol):
    def __call__(
        self, seq: int, ts_ns: int, *, account: int, asset: int, amount_minor: int,
        client_tag: int = 0,
    ) -> Records: ...  # fmt: skip


class CustodyMoney:
    """Builds and submits custody's engine commands."""

    def __init__(self, bus: CommandBus, directory: Directory, steps: CustodySteps) -> None:
        self._bus = bus
        self._directory = directory
        self._steps = steps
        self._locks: dict[str, asyncio.Lock] = {}

    async def _once(self, key: str, command: Records, note: dict[str, str]) -> int:
        """Submit unless the journal already holds this step (then its sequence)."""
        lock = self._locks.setdefault(key, asyncio.Lock())
        try:
            async with lock:
                done = await self._steps.seq_of(key)
                if done is not None:
                    return done
                submitted = await self._bus.submit(command, note)
                self._raise_for(_accepted(submitted))
                return submitted.seq
        finally:
            if not lock.locked():
                self._locks.pop(key, None)

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
        """Credit a confirmed deposit once (``credit:<deposit id>`` in the step log)."""
        command = cmd.deposit_credit(0, 0, account=account, asset=self.asset_index(asset),
                                     amount_minor=amount)  # fmt: skip
        note = {NOTE_DEPOSIT: deposit_id, NOTE_STEP: "credit"}
        return await self._once(f"credit:{deposit_id}", command, note)

    async def _move(
        self, build: MoneyCommand, account: int, asset: str, amount: int, withdrawal_id: str,
        step: str,
    ) -> int:  # fmt: skip
        """One step of a withdrawal, at most once (``<step>:<withdrawal id>``)."""
        command = build(0, 0, account=account, asset=self.asset_index(asset), amount_minor=amount)
        note = {NOTE_WITHDRAWAL: withdrawal_id, NOTE_STEP: step}
        return await self._once(f"{step}:{withdrawal_id}", command, note)

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
