"""Several schema extensions run as one, with their hooks found once per class.

For every request and phase strawberry looks up each extension's hook again (an attribute,
a generator check, a fresh context-manager factory and an exit-stack entry per extension),
whether or not the extension has work in that phase. ``composed(A, B, C)`` is one extension
whose hooks enter the parts' hooks in the order given (the first outermost, as strawberry
enters a list of extensions), so errors, results set by a part and exceptions thrown into
the hooks behave as they did; only the per-request discovery is gone.
"""

from __future__ import annotations

import contextlib
import inspect
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

from strawberry.extensions import SchemaExtension
from strawberry.types import ExecutionContext

PHASES = ("on_operation", "on_parse", "on_validate", "on_execute")
Factory = Callable[[SchemaExtension], Any]  # an extension -> its hook's context manager


def _hook(cls: type[SchemaExtension], phase: str) -> tuple[Factory, bool] | None:
    """The context-manager factory of ``cls``'s hook for ``phase`` and whether it is async;
    None when the class keeps SchemaExtension's default."""
    fn = getattr(cls, phase)
    if fn is getattr(SchemaExtension, phase):
        return None
    if inspect.isasyncgenfunction(fn):
        return contextlib.asynccontextmanager(fn), True
    if inspect.isgeneratorfunction(fn):
        return contextlib.contextmanager(fn), False
    raise TypeError(f"{cls.__name__}.{phase} must be a generator (a yield around the phase)")


def composed(*parts: type[SchemaExtension]) -> type[SchemaExtension]:
    """One extension class running ``parts`` (classes with no-argument construction) in order."""
    for part in parts:
        if part._implements_resolve():
            raise TypeError(f"{part.__name__} is a resolver middleware: keep it separate")
    hooks = {phase: [(i, h) for i, p in enumerate(parts) if (h := _hook(p, phase))]
             for phase in PHASES}  # fmt: skip
    with_results = [
        i for i, p in enumerate(parts) if p.get_results is not SchemaExtension.get_results
    ]
    if any(inspect.iscoroutinefunction(parts[i].get_results) for i in with_results):
        raise TypeError("composed parts' get_results must be synchronous")

    def phase_hook(phase: str) -> Callable[[Any], AsyncIterator[None] | Iterator[None]]:
        entries = hooks[phase]
        if all(not is_async for _, (_, is_async) in entries):

            def sync_hook(self: Any) -> Iterator[None]:
                with contextlib.ExitStack() as stack:
                    for i, (factory, _) in entries:
                        stack.enter_context(factory(self.parts[i]))
                    yield

            return sync_hook

        async def async_hook(self: Any) -> AsyncIterator[None]:
            async with contextlib.AsyncExitStack() as stack:
                for i, (factory, is_async) in entries:
                    if is_async:
                        await stack.enter_async_context(factory(self.parts[i]))
                    else:
                        stack.enter_context(factory(self.parts[i]))
                yield

        return async_hook

    def __init__(self: Any, *, execution_context: ExecutionContext | None = None) -> None:
        self.parts = [part() for part in parts]
        if execution_context is not None:
            self.execution_context = execution_context

    def _get_context(self: Any) -> ExecutionContext:
        return self.parts[0].execution_context  # type: ignore[no-any-return]

    def _set_context(self: Any, value: ExecutionContext) -> None:
        for part in self.parts:
            part.execution_context = value

    def get_results(self: Any) -> dict[str, Any]:
        results: dict[str, Any] = {}
        for i in with_results:
            results.update(self.parts[i].get_results())
        return results

    namespace: dict[str, Any] = {
        "__init__": __init__,
        "__doc__": "Composed: " + ", ".join(p.__name__ for p in parts) + " (in this order).",
        "execution_context": property(_get_context, _set_context),
        **{phase: phase_hook(phase) for phase in PHASES if hooks[phase]},
    }
    if with_results:
        namespace["get_results"] = get_results
    name = "Composed" + "".join(p.__name__ for p in parts)
    return type(name, (SchemaExtension,), namespace)
