"""Read-your-writes: a caller's queries see the read models at least as of its own last
mutation, although the writer answers before the read models are written.

The writer answers a command once it is journaled and applied (graph/writer/sequencer.py);
the read models follow a few milliseconds behind (graph/writer/projections.py). A front end
that places an order and then lists its orders must see it, so after a mutation this
remembers the sequence the writer had reached for that caller, and the caller's next query
waits (briefly, at most ``wait_s``) until the read models have passed it. Other callers
never wait. Without an engine writer in this process (an API process), the mutation's
reply already came through the writer; the writer publishes how far its read models are
and this waits on that (graph/writer/roles.py).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import OrderedDict
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from typing import Any

from redis.asyncio.client import Pipeline
from strawberry.extensions import FieldExtension, SchemaExtension
from strawberry.types import Info
from strawberry.types.base import StrawberryObjectDefinition
from strawberry.types.graphql import OperationType

from domains.shared.context import Principal, RequestContext
from domains.shared.engine_port import ReadModels
from subscriptions.redis_batches import RedisOutbox

Caller = tuple[str, str | None]  # (key id, customer id): one front-end session's writes


class ReadYourWrites(ReadModels):
    """Per-caller high-water marks of writes, and the wait for the read models to reach them."""

    def __init__(
        self,
        written_seq: Callable[[], int],
        reached: Callable[[int], Awaitable[None]],
        projected_seq: Callable[[], int],
        *,
        writes_here: Callable[[], bool] = lambda: True,
        wait_s: float = 2.0,
        max_callers: int = 100_000,
    ) -> None:
        self.writes_here = writes_here
        self._written_seq = written_seq
        self._reached = reached
        self._projected_seq = projected_seq
        self.wait_s = wait_s
        self.max_callers = max_callers
        self._last: OrderedDict[Caller, int] = OrderedDict()

    @staticmethod
    def caller(principal: Principal) -> Caller:
        return principal.key_id, principal.customer_id

    def wrote(self, principal: Principal) -> None:
        """The caller's mutation was answered: its effects are at or below written_seq()."""
        seq = self._written_seq()
        if seq <= self._projected_seq():
            return
        who = self.caller(principal)
        self._last[who] = seq
        self._last.move_to_end(who)
        while len(self._last) > self.max_callers:
            self._last.popitem(last=False)

    async def settled(self) -> None:
        """Return once the read models include everything this process was answered for
        (or wait_s passed): a mutation's payload reads its own write."""
        await self._wait_for(self._written_seq())

    async def caught_up(self, principal: Principal) -> None:
        """Return once the read models include the caller's last write (or wait_s passed)."""
        who = self.caller(principal)
        seq = self._last.get(who)
        if seq is None:
            return
        await self._wait_for(seq)
        if self._last.get(who) == seq:
            del self._last[who]

    async def _wait_for(self, seq: int) -> None:
        if self._projected_seq() < seq:
            # asyncio.timeout, not wait_for: 3.11's wait_for can lose a cancellation that
            # arrives as the awaited wait completes
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.wait_s):
                    await self._reached(seq)

    @staticmethod
    def of(context: object) -> ReadYourWrites | None:
        """The request's instance, when the composition root wired one."""
        found = (
            context.services.get(ReadYourWrites) if isinstance(context, RequestContext) else None
        )
        return found if isinstance(found, ReadYourWrites) else None


# Mutations whose payload the writer's process answers from memory (the order as its own
# events left it: domains/orders/order_events.py, RecentOrders): they never wait there.
ANSWERED_FROM_EVENTS = frozenset({"place_order", "cancel_order", "amend_order"})


class AwaitOwnWrite(FieldExtension):
    """On every mutation field: its payload resolves once the read models include the
    mutation's own write (placeOrder, cancelOrder and amendOrder only in an API process,
    whose memory does not follow the writer's orders)."""

    def __init__(self, from_events: bool = False) -> None:
        super().__init__()
        self.from_events = from_events

    def resolve(self, next_: Callable[..., Any], source: Any, info: Info, **kwargs: Any) -> Any:
        return next_(source, info, **kwargs)

    async def resolve_async(
        self, next_: Callable[..., Awaitable[Any]], source: Any, info: Info, **kwargs: Any
    ) -> Any:
        result = await next_(source, info, **kwargs)
        service = ReadYourWrites.of(info.context)
        if service is not None and not (self.from_events and service.writes_here()):
            await service.settled()
        return result


def await_own_writes(mutation_types: Iterable[type]) -> None:
    """Put AwaitOwnWrite on every field of these Mutation types (once; before schemas build)."""
    for mutation in mutation_types:
        definition: StrawberryObjectDefinition = mutation.__strawberry_definition__  # type: ignore[attr-defined]
        for field in definition.fields:
            if not any(isinstance(e, AwaitOwnWrite) for e in field.extensions):
                field.extensions.append(AwaitOwnWrite(field.python_name in ANSWERED_FROM_EVENTS))


class ReadYourWritesExtension(SchemaExtension):
    """Schema extension: queries wait for the caller's own writes; mutations record them."""

    async def on_execute(self) -> AsyncIterator[None]:
        context: Any = self.execution_context.context
        service = ReadYourWrites.of(context)
        principal = context.principal if service is not None else None
        mutation = self.execution_context.operation_type is OperationType.MUTATION
        if service is not None and principal is not None and not mutation:
            await service.caught_up(principal)
        yield
        if service is not None and principal is not None and mutation:
            service.wrote(principal)


PROJECTED_CHANNEL = "engine:projected"  # after the key prefix; payload: the projected seq
PROJECTED_KEY = "engine:projected"  # the same value, for a process that missed messages


class ProjectedPublisher:
    """The writer's side: after each read-model flush, the projected sequence goes to Redis
    (a key and a message) for the API processes' read-your-writes. Queued on the writer's
    fan-out outbox, never awaited: a lost one is covered by the next flush (and the API
    processes' reading of the key)."""

    def __init__(self, outbox: RedisOutbox, prefix: str) -> None:
        self._outbox, self._prefix = outbox, prefix

    async def __call__(self, seq: int) -> None:
        key, channel = self._prefix + PROJECTED_KEY, self._prefix + PROJECTED_CHANNEL

        def stage(pipe: Pipeline) -> None:
            pipe.set(key, seq)
            pipe.publish(channel, seq)

        self._outbox.offer(stage)


class RemoteProjections:
    """An API process's view of how far the writer's read models are: follows the writer's
    messages, and reads the key when a wait outlasts ``poll_s`` (a message may be lost)."""

    def __init__(self, redis: Any, prefix: str, *, poll_s: float = 0.05) -> None:
        self._redis, self._prefix, self.poll_s = redis, prefix, poll_s
        self.projected_seq = 0
        self._advanced = asyncio.Condition()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._listen(), name="projected-follower")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def reached(self, seq: int) -> None:
        while self.projected_seq < seq:
            async with self._advanced:
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(self.poll_s):
                        await self._advanced.wait_for(lambda: self.projected_seq >= seq)
            if self.projected_seq < seq:
                await self._read_key()

    async def _advance(self, seq: int) -> None:
        if seq > self.projected_seq:
            async with self._advanced:
                self.projected_seq = seq
                self._advanced.notify_all()

    async def _read_key(self) -> None:
        with contextlib.suppress(Exception):  # Redis away: the caller's wait_s bounds it
            raw = await self._redis.get(self._prefix + PROJECTED_KEY)
            if raw is not None:
                await self._advance(int(raw))

    async def _listen(self) -> None:
        while True:
            pubsub = self._redis.pubsub()
            try:
                await pubsub.subscribe(self._prefix + PROJECTED_CHANNEL)
                await self._read_key()
                async for message in pubsub.listen():
                    if message.get("type") == "message":
                        await self._advance(int(message["data"]))
            except Exception:
                await asyncio.sleep(1)
            finally:
                with contextlib.suppress(Exception):
                    await pubsub.aclose()
