"""Helpers for declaring the GraphQL surface: described enums and the subgraph a type belongs to."""

from __future__ import annotations

import enum
from typing import TypeVar

import strawberry

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
