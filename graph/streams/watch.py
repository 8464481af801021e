"""`caas watch BOOK MARKET`: follow a market's book stream and check it against the query.

``LocalBook`` is the client side of the depth-stream contract, usable on its own (README
"Streams"): replace the book on a snapshot, apply deltas that continue its sequence (absolute
level quantities, 0 deletes), count gaps. ``watch`` subscribes over graphql-transport-ws and
every few seconds compares the local book with the ``orderBook`` query at the same sequence.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from decimal import Decimal
from typing import Any

import httpx
from httpx_ws import AsyncWebSocketSession, aconnect_ws

BOOK_SUBSCRIPTION = """subscription($m: ID!, $d: Int!) { orderBook(market: $m, depth: $d) {
  kind sequence firstSequence lastSequence conflated reason
  bids { price quantity } asks { price quantity } } }"""
BOOK_QUERY = """query($m: ID!, $d: Int!) { orderBook(market: $m, depth: $d) { sequence
  bids { price quantity } asks { price quantity } } }"""


class LocalBook:
    """A book kept from `orderBook` stream messages."""

    def __init__(self) -> None:
        self.sequence = -1
        self.bids: dict[Decimal, Decimal] = {}
        self.asks: dict[Decimal, Decimal] = {}
        self.deltas = 0
        self.snapshots = 0
        self.gaps = 0

    def apply(self, message: dict[str, Any]) -> None:
        """Apply one `OrderBookEvent` (as JSON)."""
        if message["kind"] == "SNAPSHOT":
            self.bids = {Decimal(lv["price"]): Decimal(lv["quantity"]) for lv in message["bids"]}
            self.asks = {Decimal(lv["price"]): Decimal(lv["quantity"]) for lv in message["asks"]}
            self.sequence = message["sequence"]
            self.snapshots += 1
            return
        if message["lastSequence"] <= self.sequence:
            return
        if message["firstSequence"] > self.sequence + 1:
            self.gaps += 1
        for side, levels in ((self.bids, message["bids"]), (self.asks, message["asks"])):
            for level in levels:
                price, quantity = Decimal(level["price"]), Decimal(level["quantity"])
                if quantity == 0:
                    side.pop(price, None)
                else:
                    side[price] = quantity
        self.sequence = message["lastSequence"]
        self.deltas += 1

    def levels(self, depth: int) -> tuple[list[tuple[Decimal, Decimal]], ...]:
        bids = sorted(self.bids.items(), reverse=True)[:depth]
        return bids, sorted(self.asks.items())[:depth]

    def diverges_from(self, snapshot: dict[str, Any]) -> list[str]:
        """Differences from an `orderBook` query result, level by level (empty: equal)."""
        depth = max(len(snapshot["bids"]), len(snapshot["asks"]), 1)
        problems = []
        if snapshot["sequence"] != self.sequence:
            problems.append(f"sequence: local {self.sequence}, server {snapshot['sequence']}")
        mine = self.levels(max(depth, len(self.bids), len(self.asks)))
        for name, local, remote in zip(("bid", "ask"), mine, ("bids", "asks"), strict=True):
            theirs = [(Decimal(lv["price"]), Decimal(lv["quantity"])) for lv in snapshot[remote]]
            local = local[: len(theirs)] if len(theirs) < depth else local
            if local != theirs:
                problems.append(f"{name}s: local {local[:5]}..., server {theirs[:5]}...")
        return problems


async def watch(
    url: str, token: str | None, market: str, every_s: float, depth: int,
    report: Callable[[str], None], duration_s: float | None = None,
) -> int:  # fmt: skip
    """Follow the stream; every ``every_s`` compare with the query. Returns divergences seen."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    book, divergences = LocalBook(), 0
    deadline = time.monotonic() + duration_s if duration_s else None
    async with httpx.AsyncClient(base_url=url, headers=headers, timeout=10) as http:
        ws_url = url.replace("http", "ws", 1) + "/graphql"
        connect: AbstractAsyncContextManager[AsyncWebSocketSession] = aconnect_ws(
            ws_url, http, subprotocols=["graphql-transport-ws"]
        )
        async with connect as ws:
            await ws.send_json({"type": "connection_init", "payload": headers})
            ack = await ws.receive_json(timeout=10)
            if ack.get("type") != "connection_ack":
                raise RuntimeError(f"connection refused: {ack}")
            variables = {"m": market, "d": depth}
            payload = {"query": BOOK_SUBSCRIPTION, "variables": variables}
            await ws.send_json({"id": "book", "type": "subscribe", "payload": payload})
            next_check = time.monotonic() + every_s
            while deadline is None or time.monotonic() < deadline:
                try:
                    message = await ws.receive_json(
                        timeout=max(next_check - time.monotonic(), 0.01)
                    )
                except TimeoutError:
                    message = None
                if message is not None:
                    if message.get("type") != "next" or "errors" in message.get("payload", {}):
                        raise RuntimeError(f"stream ended: {message}")
                    book.apply(message["payload"]["data"]["orderBook"])
                if time.monotonic() >= next_check:
                    divergences += await _check(http, book, variables, report)
                    next_check = time.monotonic() + every_s
    return divergences


async def _check(
    http: httpx.AsyncClient, book: LocalBook, variables: dict[str, Any],
    report: Callable[[str], None],
) -> int:  # fmt: skip
    """Compare with the query when both are at the same sequence (else report the lag)."""
    response = await http.post("/graphql", json={"query": BOOK_QUERY, "variables": variables})
    body = response.json()
    if body.get("errors"):
        report(f"query failed: {body['errors'][0].get('message')}")
        return 0
    snapshot = body["data"]["orderBook"]
    if snapshot["sequence"] != book.sequence:
        await asyncio.sleep(0)
        report(f"seq {book.sequence}: server at {snapshot['sequence']} (in flight), not compared")
        return 0
    problems = book.diverges_from(snapshot)
    for problem in problems:
        report(f"DIVERGENCE at seq {book.sequence}: {problem}")
    if not problems:
        report(f"seq {book.sequence}: {len(book.bids)} bids, {len(book.asks)} asks, in sync "
               f"({book.deltas} deltas, {book.snapshots} snapshots, {book.gaps} gaps)")  # fmt: skip
    return len(problems)
