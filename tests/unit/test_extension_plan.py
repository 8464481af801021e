"""graph/security/extension_plan.py: a composed extension behaves as its parts listed one
after another (order, results set by a part, errors before and after execution)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
import strawberry
from graphql import ExecutionResult, GraphQLError
from strawberry.extensions import SchemaExtension

from graph.security.extension_plan import composed

LOG: list[str] = []


@strawberry.type
class Query:
    @strawberry.field
    def hello(self) -> str:
        LOG.append("resolve")
        return "world"


class Outer(SchemaExtension):
    def on_execute(self) -> Iterator[None]:
        LOG.append("outer in")
        if self.execution_context.context.get("refuse"):
            raise ValueError("refused by outer")
        yield
        LOG.append("outer out")


class Middle(SchemaExtension):
    async def on_execute(self) -> AsyncIterator[None]:
        LOG.append("middle in")
        if self.execution_context.context.get("answer"):
            self.execution_context.result = ExecutionResult(
                data=None, errors=[GraphQLError("answered by middle")]
            )
        yield
        LOG.append("middle out")


class Inner(SchemaExtension):
    def on_execute(self) -> Iterator[None]:
        LOG.append(f"inner in {self.execution_context.result is None}")
        yield
        LOG.append("inner out")

    def get_results(self) -> dict[str, Any]:
        return {"inner": True}


class Parser(SchemaExtension):
    def on_parse(self) -> Iterator[None]:
        LOG.append("parse")
        yield


PARTS = (Outer, Middle, Inner, Parser)


async def run(extensions: list[type[SchemaExtension]], **context: Any) -> tuple[Any, list[str]]:
    LOG.clear()
    schema = strawberry.Schema(Query, extensions=extensions)
    result = await schema.execute("{ hello }", context_value=context)
    outcome = (result.data, [e.message for e in result.errors or []], result.extensions)
    return outcome, list(LOG)


@pytest.mark.parametrize("context", [{}, {"refuse": True}, {"answer": True}])
async def test_composed_runs_like_the_parts_listed(context: dict[str, Any]) -> None:
    separate = await run(list(PARTS), **context)
    together = await run([composed(*PARTS)], **context)
    assert together == separate
    assert separate[1][0] == "parse" and separate[1][1] == "outer in"


def test_the_composed_class_has_only_the_hooks_its_parts_have() -> None:
    cls = composed(Outer, Inner)
    assert "on_execute" in vars(cls) and "get_results" in vars(cls)
    assert "on_parse" not in vars(cls) and "on_validate" not in vars(cls)
    with pytest.raises(TypeError):
        composed(type("Plain", (SchemaExtension,), {"on_execute": lambda self: None}))
