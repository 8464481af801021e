"""Helpers for declaring the GraphQL surface: described enums and the subgraph a type belongs to."""

from __future__ import annotations

import enum
from typing import Any, TypeVar

import strawberry
from strawberry.types import Info

E = TypeVar("E", bound=enum.Enum)


def described_enum(cls: type[E], description: str, **values: str) -> type[E]:
    """Register a model enum as a GraphQL enum with a description on the type and every value.

    A value without a description is a programming error, raised at import time.
    """
    strawberry.enum(cls, description=description)
    definition = cls.__strawberry_definition__  # type: ignore[attr-defined]
    for value in definition.values:
        if value.name not in values:
            raise ValueError(f"{cls.__name__}.{value.name} needs a description")
        value.description = values[value.name]
    return cls


def subgraph_of(module: str) -> str | None:
    """The domain a module belongs to: ``domains.orders.types`` -> ``orders``; shared -> None."""
    parts = module.split(".")
    if len(parts) >= 2 and parts[0] == "domains" and parts[1] != "shared":
        return parts[1]
    return None


async def resolve_entity(info: Info, type_name: str, id: strawberry.ID) -> Any:
    """Another domain's entity by its key, found through the running schema (late binding):
    a domain names the type it refers to instead of importing that domain's types module.

    The type must be a federation entity with a ``resolve_reference(info, id)`` classmethod.
    """
    definition = info.schema.get_type_by_name(type_name)
    origin = getattr(definition, "origin", None)
    resolve = getattr(origin, "resolve_reference", None)
    if resolve is None:
        raise LookupError(f"{type_name} is not an entity of this schema")
    return await resolve(info, id)
