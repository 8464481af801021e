"""The composed public schema and the five subgraph schemas, built from the same classes.

A field belongs to the domain whose module defines it (``domains.<name>.*``); a subgraph
schema keeps only its own fields plus entity keys. The composed schema merges every
domain's root types and is what `/graphql` serves and `schema.graphql` records.
"""

from __future__ import annotations

import contextlib
import functools
import warnings
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import strawberry
from graphql import GraphQLError, OperationDefinitionNode
from graphql import print_schema as print_graphql_schema
from strawberry.extensions import (
    DisableIntrospection,
    ParserCache,
    SchemaExtension,
    ValidationCache,
)
from strawberry.federation import Schema as FederationSchema
from strawberry.federation.schema_directives import Key
from strawberry.schema.config import StrawberryConfig
from strawberry.tools import merge_types
from strawberry.types.base import StrawberryObjectDefinition
from strawberry.types.field import StrawberryField

from domains.accounts.schema import AccountsMutation, AccountsQuery
from domains.accounts.stream_schema import AccountsSubscription
from domains.accounts.types import Account, Customer, Tenant
from domains.compliance.schema import (
    ComplianceMutation,
    ComplianceQuery,
    ComplianceSubscription,
)
from domains.custody.schema import CustodyMutation, CustodyQuery
from domains.orders.schema import OrdersMutation, OrdersQuery, OrdersSubscription
from domains.orders.types import Market, Order
from domains.positions.schema import PositionsMutation, PositionsQuery
from domains.positions.stream_schema import PositionsSubscription
from domains.shared.graphql import subgraph_of
from domains.shared.scalars import SCALAR_MAP
from graph.errors import ErrorPolicy
from graph.security.access import AccessGuard
from graph.security.audit_extension import AuditRecorder
from graph.security.extension_plan import composed
from graph.security.limits import LimitSettings
from graph.security.query_limits import query_limits
from graph.security.sandbox_marker import SandboxMarker
from graph.security.usage_extension import UsageCounter
from graph.writer.consistency import ReadYourWritesExtension, await_own_writes

LimitsFactory = Callable[[], SchemaExtension]

FEDERATION_VERSION: Literal["2.9"] = "2.9"
ENTITIES: tuple[type, ...] = (Tenant, Customer, Account, Market, Order)


@dataclass(frozen=True)
class Subgraph:
    """One domain's root types."""

    name: str
    query: type
    mutation: type | None = None
    subscription: type | None = None


SUBGRAPHS: tuple[Subgraph, ...] = (
    Subgraph("accounts", AccountsQuery, AccountsMutation, AccountsSubscription),
    Subgraph("orders", OrdersQuery, OrdersMutation, OrdersSubscription),
    Subgraph("positions", PositionsQuery, PositionsMutation, PositionsSubscription),
    Subgraph("custody", CustodyQuery, CustodyMutation),
    Subgraph("compliance", ComplianceQuery, ComplianceMutation, ComplianceSubscription),
)


# mutation payloads read their own writes although the read models follow the journal
await_own_writes(s.mutation for s in SUBGRAPHS if s.mutation is not None)


class SyntaxSafeParserCache(ParserCache):
    """ParserCache that lets strawberry report syntax errors itself.

    strawberry's ParserCache raises a syntax error from its hook, outside the operation's
    error handling, so the error policy never sees it (no ``extensions.code``). On a syntax
    error this leaves the document unparsed; strawberry parses it again and reports it as a
    request error like any other.
    """

    def on_parse(self) -> Iterator[None]:
        context = self.execution_context
        with contextlib.suppress(GraphQLError):
            context.graphql_document = self.cached_parse_document(
                context.query, **context.parse_options
            )
        yield


class OperationNameRequired(SchemaExtension):
    """A document with several operations needs an ``operationName`` (the spec's GetOperation).

    Strawberry runs the first operation when the request names none; here that is a request
    error, the one graphql-core's executor reports.
    """

    def on_parse(self) -> Iterator[None]:
        yield
        context = self.execution_context
        document = context.graphql_document
        # strawberry keeps the request's own operationName there (operation_name falls back)
        if document is None or context.pre_execution_errors or context._provided_operation_name:
            return
        if sum(isinstance(d, OperationDefinitionNode) for d in document.definitions) > 1:
            message = "Must provide operation name if query contains multiple operations."
            context.pre_execution_errors = [GraphQLError(message)]


class LimitsFirstValidationCache(ValidationCache):
    """ValidationCache that leaves alone a document the query limits refused after parsing.

    Such a document (graph/security/document_shape.py) is refused because validating it is
    what costs; strawberry's ValidationCache would validate it anyway and replace the error.
    """

    def on_validate(self) -> Iterator[None]:
        if self.execution_context.pre_execution_errors:
            yield
            return
        yield from super().on_validate()


# one extension for the five that act around execution (strawberry finds every extension's
# hooks again for every request and phase; graph/security/extension_plan.py): the guard
# first, then the trail, the sandbox marker, read-your-writes, and the usage meter after the
# guard and the trail (only operations that run are billed)
REQUEST_POLICY = composed(
    AccessGuard, AuditRecorder, SandboxMarker, ReadYourWritesExtension, UsageCounter
)


def _extensions(introspection: bool, limits: LimitsFactory | None) -> list[type[SchemaExtension]]:
    """Error policy, then caches so fixed query texts are parsed and validated once, then
    the query limits (graph/security/query_limits.py; default limits without rate limiting if None).
    Without introspection, error messages carry no field suggestions either.
    """
    extensions: list[type[SchemaExtension]] = [
        functools.partial(ErrorPolicy, hide_suggestions=not introspection),  # type: ignore[list-item]
        REQUEST_POLICY,
        functools.partial(SyntaxSafeParserCache, maxsize=512),  # type: ignore[list-item]
        OperationNameRequired,
        functools.partial(LimitsFirstValidationCache, maxsize=512),  # type: ignore[list-item]
        limits or query_limits(LimitSettings()),  # type: ignore[list-item]
    ]
    if not introspection:
        extensions.append(DisableIntrospection)
    return extensions


def _config() -> StrawberryConfig:
    return StrawberryConfig(scalar_map=SCALAR_MAP)


def _key_fields(definition: StrawberryObjectDefinition) -> set[str]:
    keys: set[str] = set()
    for directive in definition.directives or ():
        if isinstance(directive, Key):
            keys.update(str(directive.fields).split())
    return keys


def _owner(field: StrawberryField) -> str | None:
    origin = field.origin
    module = getattr(origin, "__module__", None) or ""
    return subgraph_of(module)


class SubgraphSchema(FederationSchema):
    """A Federation v2 subgraph: only the fields its domain owns, plus entity keys."""

    def __init__(
        self,
        subgraph: Subgraph,
        *,
        introspection: bool = True,
        limits: LimitsFactory | None = None,
    ) -> None:
        self.subgraph = subgraph.name
        owned_entities = [e for e in ENTITIES if self._contributes_to(e)]
        mutation, subscription = subgraph.mutation, subgraph.subscription
        super().__init__(
            query=merge_types("Query", (subgraph.query,)),
            mutation=merge_types("Mutation", (mutation,)) if mutation else None,
            subscription=merge_types("Subscription", (subscription,)) if subscription else None,
            types=owned_entities,
            extensions=_extensions(introspection, limits),
            config=_config(),
            federation_version=FEDERATION_VERSION,
        )

    def _contributes_to(self, entity: type) -> bool:
        definition: StrawberryObjectDefinition = entity.__strawberry_definition__  # type: ignore[attr-defined]
        keys = _key_fields(definition)
        return any(
            _owner(f) == self.subgraph for f in definition.fields if f.python_name not in keys
        )

    def get_fields(self, type_definition: StrawberryObjectDefinition) -> list[StrawberryField]:
        keys = _key_fields(type_definition)
        return [
            f
            for f in type_definition.fields
            if f.python_name in keys or _owner(f) in (None, self.subgraph)
        ]

    def process_errors(self, errors: Sequence[object], execution_context: object = None) -> None:
        """Errors are logged by ErrorPolicy, once, with a correlation id."""


class PublicSchema(strawberry.Schema):
    """The composed graph served at /graphql: every domain's fields, no federation plumbing."""

    def __init__(
        self,
        subgraphs: Iterable[Subgraph] = SUBGRAPHS,
        *,
        introspection: bool = True,
        limits: LimitsFactory | None = None,
    ) -> None:
        subgraphs = tuple(subgraphs)
        query = merge_types("Query", tuple(s.query for s in subgraphs))
        mutations = tuple(s.mutation for s in subgraphs if s.mutation is not None)
        subscriptions = tuple(s.subscription for s in subgraphs if s.subscription is not None)
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="Federation directive found in schema")
            super().__init__(
                query=query,
                mutation=merge_types("Mutation", mutations) if mutations else None,
                subscription=merge_types("Subscription", subscriptions) if subscriptions else None,
                types=ENTITIES,
                extensions=_extensions(introspection, limits),
                config=_config(),
            )

    def process_errors(self, errors: Sequence[object], execution_context: object = None) -> None:
        """Errors are logged by ErrorPolicy, once, with a correlation id."""

    def _collect_schema_directives(self, *args: Any, **kwargs: Any) -> list[type]:
        """No federation directive definitions in the public schema (they are subgraph plumbing)."""
        return []

    def public_sdl(self) -> str:
        """The SDL partners read: descriptions, no federation directives."""
        return print_graphql_schema(self._schema) + "\n"


def build_subgraphs(
    *, introspection: bool = True, limits: LimitsFactory | None = None
) -> dict[str, SubgraphSchema]:
    return {
        s.name: SubgraphSchema(s, introspection=introspection, limits=limits) for s in SUBGRAPHS
    }
