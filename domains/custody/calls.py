"""Custody operations that run where the chain runs: in the engine writer's process.

The chain adapter (its watch list, broadcasts, the simulator's blocks) and the deposit
watcher live in the writer. A resolver in any process calls these; in the writer they run
at once, elsewhere (``caas serve --role api``, a standby) the ``WriterDispatch`` the root
wires in forwards them to the writer and returns its answer: the same model, or the same
domain error with its code. Arguments and answers cross as JSON (``codec.py``).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from decimal import Decimal
from typing import Any, Protocol, TypeVar, cast

from domains.custody import codec
from domains.custody.chain import ChainRejectedError as ChainRefusal
from domains.custody.chain_sim import SimulatedChain
from domains.custody.errors import ChainRejectedError, SandboxCustodyError
from domains.custody.model import (
    PLATFORM_TENANT,
    CustodyMode,
    CustodySetup,
    DepositAddress,
    Wallet,
    WalletTemperature,
    Withdrawal,
)
from domains.custody.omnibus import CustodyModes
from domains.custody.proofs import ReserveSnapshot, ReservesService
from domains.custody.service import CustodyService, to_minor
from domains.custody.treasury import TreasuryService
from domains.custody.withdrawals import RequestWithdrawal, WithdrawalService
from domains.shared.context import Principal, TenantScope
from domains.shared.errors import DomainError, ForbiddenError

T = TypeVar("T")
JSON = Any
Handler = Callable[[Principal, dict[str, JSON]], Awaitable[object]]


class WriterDispatch(Protocol):
    """Forwards a call to the engine writer (filled in by the composition root)."""

    @property
    def local(self) -> bool:
        """Whether this process is the engine writer (then calls run here)."""
        ...

    async def call(self, name: str, principal: JSON, args: dict[str, JSON]) -> JSON:
        """The writer's answer: ``{"result": ...}`` or ``{"error": {...}}``."""
        ...


_REMOTE_ERRORS: dict[str, type[DomainError]] = {}


def remote_error(code: str, message: str, extensions: dict[str, object]) -> DomainError:
    """The writer's domain error, re-raised here with the same code and details."""
    kind = _REMOTE_ERRORS.get(code)
    if kind is None:
        kind = type(f"Remote{code.title().replace('_', '')}Error", (DomainError,), {"code": code})
        _REMOTE_ERRORS[code] = kind
    details = {k: v for k, v in extensions.items() if k != "code"}
    return kind(message, **details)


class CustodyCalls:
    """The writer-bound custody operations, run here or forwarded."""

    def __init__(
        self, services: Mapping[type, object], dispatch: WriterDispatch | None = None
    ) -> None:
        self._services = services
        self.dispatch = dispatch
        self._handlers: dict[str, Handler] = {
            "open_wallet": self._open_wallet,
            "deposit_address": self._deposit_address,
            "request_withdrawal": self._request_withdrawal,
            "approve_withdrawal": self._approve,
            "reject_withdrawal": self._reject,
            "submit_cold_signature": self._cold,
            "sweep": self._sweep,
            "publish_reserves": self._publish,
            "set_mode": self._set_mode,
            "simulate_transfer": self._transfer,
            "mine_blocks": self._mine,
        }

    # --- what resolvers call ----------------------------------------------------------
    async def open_wallet(self, principal: Principal, asset: str, temperature: WalletTemperature,
                          label: str, xpub: str | None) -> Wallet:  # fmt: skip
        args = {"asset": asset, "temperature": temperature.value, "label": label, "xpub": xpub}
        return await self._run("open_wallet", principal, args, _as(Wallet))

    async def deposit_address(
        self, principal: Principal, account_id: str, asset: str
    ) -> DepositAddress:
        args = {"account_id": account_id, "asset": asset}
        return await self._run("deposit_address", principal, args, _as(DepositAddress))

    async def request_withdrawal(self, principal: Principal, req: RequestWithdrawal) -> Withdrawal:
        args = {"account_id": req.account_id, "asset": req.asset, "amount": str(req.amount),
                "destination": req.destination, "idempotency_key": req.idempotency_key}  # fmt: skip
        return await self._run("request_withdrawal", principal, args, _as(Withdrawal))

    async def approve_withdrawal(self, principal: Principal, id: str, signature: str) -> Withdrawal:
        args = {"id": id, "signature": signature}
        return await self._run("approve_withdrawal", principal, args, _as(Withdrawal))

    async def reject_withdrawal(self, principal: Principal, id: str, reason: str) -> Withdrawal:
        args = {"id": id, "reason": reason}
        return await self._run("reject_withdrawal", principal, args, _as(Withdrawal))

    async def submit_cold_signature(self, principal: Principal, id: str, signed: str) -> Withdrawal:
        args = {"id": id, "signed": signed}
        return await self._run("submit_cold_signature", principal, args, _as(Withdrawal))

    async def sweep(self, principal: Principal, asset: str) -> Withdrawal | None:
        def decode(data: JSON) -> Withdrawal | None:
            return None if data is None else codec.decode(Withdrawal, data)

        return await self._run("sweep", principal, {"asset": asset}, decode)

    async def publish_reserves(self, principal: Principal, asset: str) -> ReserveSnapshot:
        return await self._run("publish_reserves", principal, {"asset": asset},
                               _as(ReserveSnapshot))  # fmt: skip

    async def set_mode(self, principal: Principal, mode: CustodyMode) -> CustodySetup:
        return await self._run("set_mode", principal, {"mode": mode.value}, _as(CustodySetup))

    async def simulate_transfer(
        self, principal: Principal, asset: str, address: str, amount: Decimal
    ) -> str:
        args = {"asset": asset, "address": address, "amount": str(amount)}
        return await self._run("simulate_transfer", principal, args, str)

    async def mine_blocks(
        self, principal: Principal, count: int, *, notify_each: bool = True
    ) -> int:
        """Mine blocks; custody's per-block work runs on each (or only on the last) block."""
        args = {"count": count, "each": notify_each}
        return await self._run("mine_blocks", principal, args, int)

    async def _run(self, name: str, principal: Principal, args: dict[str, JSON],
                   decode: Callable[[JSON], T]) -> T:  # fmt: skip
        """Run ``name`` here when this process writes, else in the writer; its answer."""
        if self.dispatch is None or self.dispatch.local:
            return cast(T, await self._handlers[name](principal, args))
        reply = await self.dispatch.call(name, codec.encode(principal), args)
        if "error" in reply:
            error = reply["error"]
            raise remote_error(str(error["code"]), str(error["message"]), error["extensions"])
        return decode(reply["result"])

    async def serve(self, name: str, principal: JSON, args: dict[str, JSON]) -> JSON:
        """The writer's side: run a forwarded call; its answer as JSON."""
        handler = self._handlers.get(name)
        if handler is None:
            return _error("VALIDATION", f"unknown custody call {name!r}", {})
        try:
            result = await handler(codec.decode(Principal, principal), args)
        except DomainError as exc:
            return _error(exc.extensions.get("code", exc.code), exc.message, exc.extensions)
        return {"result": codec.encode(result)}

    def _get(self, kind: type[T]) -> T:
        service = self._services[kind]
        assert isinstance(service, kind)
        return service

    # --- the operations, arguments as JSON --------------------------------------------
    def _sandbox_chain(self, principal: Principal) -> None:
        """A sandbox tenant's wallets and addresses exist on a simulated chain only."""
        chain = self._get(CustodyService).chain
        if principal.sandbox and not isinstance(chain, SimulatedChain):
            raise SandboxCustodyError("a sandbox's custody runs on the simulated chain only")

    async def _open_wallet(self, principal: Principal, a: dict[str, JSON]) -> Wallet:
        self._sandbox_chain(principal)
        return await self._get(CustodyService).open_wallet(
            TenantScope.of(principal), a["asset"], WalletTemperature(a["temperature"]),
            a["label"], a["xpub"],
        )  # fmt: skip

    async def _deposit_address(self, principal: Principal, a: dict[str, JSON]) -> DepositAddress:
        self._sandbox_chain(principal)
        return await self._get(CustodyService).deposit_address(
            principal, a["account_id"], a["asset"]
        )

    async def _request_withdrawal(self, principal: Principal, a: dict[str, JSON]) -> Withdrawal:
        request = RequestWithdrawal(a["account_id"], a["asset"], Decimal(a["amount"]),
                                    a["destination"], a["idempotency_key"])  # fmt: skip
        return await self._get(WithdrawalService).request(principal, request)

    async def _approve(self, principal: Principal, a: dict[str, JSON]) -> Withdrawal:
        return await self._get(WithdrawalService).approve(principal, a["id"], a["signature"])

    async def _reject(self, principal: Principal, a: dict[str, JSON]) -> Withdrawal:
        return await self._get(WithdrawalService).reject(principal, a["id"], a["reason"])

    async def _cold(self, principal: Principal, a: dict[str, JSON]) -> Withdrawal:
        return await self._get(WithdrawalService).submit_cold_signature(
            principal, a["id"], a["signed"]
        )

    async def _sweep(self, principal: Principal, a: dict[str, JSON]) -> Withdrawal | None:
        tenant = principal.tenant_id or PLATFORM_TENANT
        return await self._get(TreasuryService).sweep(tenant, a["asset"], principal.key_id)

    async def _publish(self, principal: Principal, a: dict[str, JSON]) -> ReserveSnapshot:
        return await self._get(ReservesService).publish(principal, a["asset"])

    async def _set_mode(self, principal: Principal, a: dict[str, JSON]) -> CustodySetup:
        if principal.sandbox and CustodyMode(a["mode"]) is CustodyMode.OMNIBUS:
            raise SandboxCustodyError(
                "a sandbox's coins stay in its own segregated wallets, never the platform's"
            )
        return await self._get(CustodyModes).set_mode(principal, CustodyMode(a["mode"]))

    async def _transfer(self, principal: Principal, a: dict[str, JSON]) -> str:
        custody = self._get(CustodyService)
        minor = to_minor(Decimal(a["amount"]), custody.decimals(a["asset"]), "amount")
        try:
            return await _simulator(custody).send_from_outside(a["asset"], a["address"], minor)
        except ChainRefusal as exc:
            raise ChainRejectedError(str(exc)) from exc

    async def _mine(self, principal: Principal, a: dict[str, JSON]) -> int:
        chain = _simulator(self._get(CustodyService))
        return await chain.mine(int(a["count"]), notify_each=bool(a.get("each", True)))


def _as(kind: type[T]) -> Callable[[JSON], T]:
    return lambda data: codec.decode(kind, data)


def _simulator(custody: CustodyService) -> SimulatedChain:
    if not isinstance(custody.chain, SimulatedChain):
        raise ForbiddenError("this server talks to a real chain; the simulator is off")
    return custody.chain


def _error(code: object, message: str, extensions: Mapping[str, object]) -> JSON:
    return {"error": {"code": str(code), "message": message,
                      "extensions": codec.encode(dict(extensions))}}  # fmt: skip


__all__ = ["CustodyCalls", "WriterDispatch"]
