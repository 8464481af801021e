"""How a domain publishes events without knowing the broker: a small protocol and topics."""

from __future__ import annotations

from collections.abc import AsyncIterable
from contextlib import AbstractAsyncContextManager
from typing import Protocol


class EventBus(Protocol):
    """Publish/subscribe of opaque payloads by topic (subscriptions.Broker satisfies it)."""

    async def publish(self, topic: str, payload: bytes) -> None: ...

    def subscribe(self, topic: str) -> AbstractAsyncContextManager[AsyncIterable[bytes]]: ...


def tenant_topic(stream: str, tenant_id: str) -> str:
    """Topic of a tenant-scoped stream, e.g. ``orders.ten_01J...``."""
    return f"{stream}.{tenant_id}"
