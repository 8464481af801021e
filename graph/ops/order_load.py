"""Order load for soak and fault runs: concurrent placeOrder clients over HTTP that record
every outcome, then resolve the unknown ones by clientOrderId, as a real client would.

Orders follow `caas bench orders`' crossing pattern (alice and bob alternate, each
alternating BUY and SELL at one price, so pairs cross and nobody's balance drifts); every
clientOrderId is new (``<run>-<n>``). An outcome is ``acked`` (a placeOrder result),
``refused`` (a typed error other than UNAVAILABLE: definite), ``unsent`` (no connection to
the server: it never saw the request), ``unknown`` (UNAVAILABLE, or the connection broke or
timed out after the request went out: the order may or may not have run) or ``untyped``
(INTERNAL, a 5xx other than a GraphQL 503 UNAVAILABLE, a body that is not GraphQL: a bug,
whatever the fault).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx

PLACE = """mutation($i: PlaceOrderInput!) { placeOrder(input: $i) {
  replayed order { id clientOrderId status } } }"""
LOOKUP = """query($a: ID!, $c: String!) { orderByClientOrderId(accountId: $a, clientOrderId: $c) {
  id clientOrderId } }"""
UNKNOWN_CODES = frozenset({"UNAVAILABLE"})  # typed, retryable, outcome not known
PRICE = "64250"
QUANTITY = "0.0001"


@dataclass(frozen=True)
class Trader:
    """A demo key (``caas seed-demo --json``) that places orders for its main account."""

    name: str
    token: str
    account_id: str

    @classmethod
    def from_key(cls, key: dict[str, Any]) -> Trader:
        return cls(key["name"], key["token"], key["account_id"])

    @property
    def headers(self) -> dict[str, str]:
        return {"authorization": f"Bearer {self.token}"}


@dataclass
class Outcome:
    """What one placeOrder request got back."""

    kind: str  # acked, refused, unsent, unknown, untyped
    code: str = ""  # extensions.code, or the transport failure's class name
    order_id: str | None = None
    replayed: bool = False
    detail: str = ""


def classify(response: httpx.Response) -> Outcome:
    """The outcome of one placeOrder HTTP answer."""
    try:
        body = response.json()
    except ValueError:
        body = None
    typed_503 = response.status_code == 503 and isinstance(body, dict) and body.get("errors")
    if response.status_code >= 500 and not typed_503:  # a 503 UNAVAILABLE is a typed answer
        return Outcome("untyped", f"HTTP {response.status_code}", detail=response.text[:300])
    if body is None:
        return Outcome("untyped", "NOT_JSON", detail=response.text[:300])
    placed = (body.get("data") or {}).get("placeOrder") if isinstance(body, dict) else None
    if placed:
        return Outcome("acked", order_id=placed["order"]["id"], replayed=placed["replayed"])
    errors = body.get("errors") if isinstance(body, dict) else None
    code = str(((errors or [{}])[0].get("extensions") or {}).get("code", ""))
    if code in UNKNOWN_CODES:
        return Outcome("unknown", code, detail=errors[0].get("message", "") if errors else "")
    if not code or code == "INTERNAL":
        return Outcome("untyped", code or "NO_CODE", detail=str(body)[:300])
    return Outcome("refused", code)


@dataclass
class OrderLoad:
    """Places orders from several clients; remembers each clientOrderId's outcomes."""

    traders: list[Trader]
    run_id: str
    timeout_s: float = 30.0
    outcomes: dict[str, list[Outcome]] = field(default_factory=dict)
    orders: dict[str, dict[str, Any]] = field(default_factory=dict)  # the input, for retries
    owner: dict[str, Trader] = field(default_factory=dict)
    acked: dict[str, str] = field(default_factory=dict)  # clientOrderId -> order id
    untyped: list[str] = field(default_factory=list)
    submitted: int = 0  # placeOrder requests sent, retries included
    slowest_s: float = 0.0  # the longest any placeOrder took to answer
    numbers: itertools.count[int] = field(default_factory=itertools.count)  # order numbers

    def order(self, n: int) -> tuple[Trader, dict[str, Any]]:
        trader = self.traders[n % len(self.traders)]
        side = ("BUY", "SELL")[(n // 2 + n) % 2]
        return trader, {"accountId": trader.account_id, "market": "BTC-USDT", "side": side,
                        "type": "LIMIT", "price": PRICE, "quantity": QUANTITY,
                        "clientOrderId": f"{self.run_id}-{n}"}  # fmt: skip

    @property
    def codes(self) -> Counter[str]:
        """Every outcome by kind and code, e.g. ``unknown:UNAVAILABLE``."""
        return Counter(f"{o.kind}:{o.code}" if o.code else o.kind
                       for seen in self.outcomes.values() for o in seen)  # fmt: skip

    def unresolved(self) -> list[str]:
        """clientOrderIds that may have run but no answer said so (all unknown or unsent,
        at least one unknown)."""
        return [c for c, seen in self.outcomes.items()
                if all(o.kind in ("unknown", "unsent") for o in seen)
                and any(o.kind == "unknown" for o in seen)]  # fmt: skip

    async def place(self, client: httpx.AsyncClient, url: str, order: dict[str, Any],
                    trader: Trader) -> Outcome:  # fmt: skip
        """Send one placeOrder and record its outcome under its clientOrderId."""
        coid = order["clientOrderId"]
        self.owner[coid] = trader
        self.orders[coid] = order
        self.submitted += 1
        started = time.monotonic()
        try:
            response = await client.post(f"{url}/graphql", json={"query": PLACE,
                                         "variables": {"i": order}}, headers=trader.headers,
                                         timeout=self.timeout_s)  # fmt: skip
            outcome = classify(response)
        except httpx.ConnectError as exc:  # nothing was sent
            outcome = Outcome("unsent", type(exc).__name__)
        except httpx.TimeoutException as exc:
            outcome = Outcome("unknown", type(exc).__name__)
        except httpx.TransportError as exc:
            outcome = Outcome("unknown", type(exc).__name__)
        self.slowest_s = max(self.slowest_s, time.monotonic() - started)
        self.outcomes.setdefault(coid, []).append(outcome)
        if outcome.kind == "untyped":
            self.untyped.append(f"{coid}: {outcome.code} {outcome.detail}")
        if outcome.kind == "acked" and outcome.order_id is not None:
            known = self.acked.setdefault(coid, outcome.order_id)
            if known != outcome.order_id:
                self.untyped.append(f"{coid}: acknowledged as {known}, then {outcome.order_id}")
        return outcome

    async def drive(self, url: Callable[[], str], clients: int, stop: asyncio.Event,
                    pause_s: float = 0.1) -> None:  # fmt: skip
        """``clients`` concurrent clients place new orders until ``stop`` is set; a client
        whose order's outcome was unknown (or not sent) waits ``pause_s`` before the next."""
        async with httpx.AsyncClient(limits=httpx.Limits(max_connections=clients)) as client:

            async def one_client() -> None:
                while not stop.is_set():
                    trader, order = self.order(next(self.numbers))
                    outcome = await self.place(client, url(), order, trader)
                    if outcome.kind in ("unknown", "unsent"):  # back off, as clients should
                        with contextlib.suppress(TimeoutError):
                            await asyncio.wait_for(stop.wait(), pause_s)

            await asyncio.gather(*(one_client() for _ in range(clients)))

    async def barrier(self, client: httpx.AsyncClient, url: str) -> None:
        """One acknowledged order per trader: their next reads wait for everything before."""
        for trader in self.traders:
            for _attempt in range(100):
                _, order = self.order(next(self.numbers))
                order["accountId"] = trader.account_id
                if (await self.place(client, url, order, trader)).kind == "acked":
                    break
                await asyncio.sleep(0.2)
            else:
                raise RuntimeError(f"{trader.name}: no order acknowledged after healing")

    async def lookup(self, client: httpx.AsyncClient, url: str, coid: str) -> str | None:
        """The order id behind a clientOrderId (None: it never ran), or an error."""
        trader = self.owner[coid]
        variables = {"a": trader.account_id, "c": coid}
        response = await client.post(f"{url}/graphql", json={"query": LOOKUP,
                                     "variables": variables}, headers=trader.headers,
                                     timeout=self.timeout_s)  # fmt: skip
        body = response.json()
        if response.status_code != 200 or body.get("errors"):
            raise RuntimeError(f"lookup of {coid} failed: {response.status_code} {body}")
        found = body["data"]["orderByClientOrderId"]
        return str(found["id"]) if found else None
