"""Query limits on every GraphQL endpoint: tokens, depth, aliases, rate and cost.

One schema extension, installed by graph/schema.py on the composed schema and on each
subgraph, so HTTP and WebSocket operations pass the same checks in the same order:

1. parse: at most ``max_tokens`` lexical tokens and ``max_comments`` comments
   (graphql-core's parser limits; strawberry's MaxTokensLimiter sets the deprecated
   ``max_tokens`` option, so this sets ``max_lexical_tokens`` itself) -> QUERY_TOO_LARGE;
2. after parsing, before validation (whose cost such documents drive up): the document's
   shape (graph/security/document_shape.py) -> TOO_MANY_FIELD_REPEATS, TOO_MANY_DIRECTIVES;
   the validation cache (graph/schema.py) then leaves the refused document alone;
3. validation: strawberry's QueryDepthLimiter and MaxAliasesLimiter rules, their errors
   tagged -> QUERY_TOO_DEEP, TOO_MANY_ALIASES (introspection fields do not count for depth;
   graphql-core's own rule bounds introspection lists, three deep -> QUERY_TOO_DEEP too);
4. after validation, before execution: the rate limit (graph/security/ratelimit.py) -> RATE_LIMITED,
   then the cost (graph/security/cost.py) -> QUERY_TOO_COSTLY with ``cost`` and ``maxCost``.

All are request errors (no ``data``): 400 with application/graphql-response+json, 200
with application/json, except RATE_LIMITED which is always 429 (graph/http/app.py).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

from graphql import DocumentNode, GraphQLError, GraphQLSyntaxError, ValidationContext
from graphql.validation import ASTValidationRule
from strawberry.extensions import SchemaExtension
from strawberry.extensions.max_aliases import create_validator as alias_rule
from strawberry.extensions.query_depth_limiter import create_validator as depth_rule
from strawberry.schema.schema import validate_document
from strawberry.types.graphql import OperationType

from domains.shared.streams import INITIAL, SharedFeed, SnapshotOnly
from graph.security.cost import CostCache, CostModel
from graph.security.document_shape import ShapeProblem, shape_problem
from graph.security.limits import LimitSettings
from graph.security.ratelimit import (
    AUTH_THROTTLED,
    RATE_LIMITED,
    Budget,
    Refusal,
    RequestRateLimiter,
    client_address,
)

QUERY_TOO_LARGE = "QUERY_TOO_LARGE"
QUERY_TOO_DEEP = "QUERY_TOO_DEEP"
TOO_MANY_ALIASES = "TOO_MANY_ALIASES"
QUERY_TOO_COSTLY = "QUERY_TOO_COSTLY"

_PARSER_LIMIT_MESSAGE = "Syntax Error: Document contains more than "
_INTROSPECTION_DEPTH_MESSAGE = "Maximum introspection depth exceeded"  # graphql-core's rule


def request_error_code(error: GraphQLError) -> str:
    """The code of a parse or validation error without one: QUERY_TOO_LARGE for a document
    over the parser's token or comment limit, QUERY_TOO_DEEP for introspection nested
    past graphql-core's limit (a circular introspection query), VALIDATION for the rest."""
    if isinstance(error, GraphQLSyntaxError) and error.message.startswith(_PARSER_LIMIT_MESSAGE):
        return QUERY_TOO_LARGE
    if error.message == _INTROSPECTION_DEPTH_MESSAGE:
        return QUERY_TOO_DEEP
    return "VALIDATION"


def _coded(rule: type[ASTValidationRule], code: str, **details: object) -> type[ASTValidationRule]:
    """``rule`` with ``extensions.code`` (and ``details``) on every error it reports.

    strawberry's limit rules do their whole check in ``__init__``; the context's error
    callback is wrapped for that call only.
    """

    class CodedRule(rule):  # type: ignore[valid-type,misc]
        def __init__(self, context: ValidationContext) -> None:
            report: Callable[[GraphQLError], None] = context.on_error

            def tag(error: GraphQLError) -> None:
                error.extensions = {**(error.extensions or {}), "code": code, **details}
                report(error)

            context.on_error = tag  # type: ignore[method-assign]
            try:
                super().__init__(context)
            finally:
                context.on_error = report  # type: ignore[method-assign,assignment]

    CodedRule.__name__ = f"Coded{rule.__name__}"
    return CodedRule


def validation_rules(settings: LimitSettings) -> tuple[type[ASTValidationRule], ...]:
    """The depth and alias rules; built once per schema so the validation cache keeps hitting."""
    return (
        _coded(depth_rule(settings.max_depth, None), QUERY_TOO_DEEP, maxDepth=settings.max_depth),
        _coded(alias_rule(settings.max_aliases), TOO_MANY_ALIASES, maxAliases=settings.max_aliases),
    )


class QueryLimits(SchemaExtension):
    """Applies the limits of ``settings``; ``rate_limiter`` None means no rate limit."""

    def __init__(
        self,
        *,
        settings: LimitSettings,
        rules: tuple[type[ASTValidationRule], ...],
        rate_limiter: RequestRateLimiter | None = None,
        costs: CostCache | None = None,
        shapes: ShapeCache | None = None,
    ) -> None:
        self.settings = settings
        self.shapes = shapes or ShapeCache()
        self.rules = rules
        self.rate_limiter = rate_limiter
        self.cost_model = CostModel(settings.default_list_size, settings.default_page_size)
        self.costs = costs or CostCache()

    def on_operation(self) -> Iterator[None]:
        context = self.execution_context
        # strawberry's ParseOptions only declares the deprecated max_tokens; parse() takes all
        options: dict[str, Any] = context.parse_options  # type: ignore[assignment]
        options["max_lexical_tokens"] = self.settings.max_tokens
        options["max_comments"] = self.settings.max_comments
        context.validation_rules = (*context.validation_rules, *self.rules)
        yield

    def on_parse(self) -> Iterator[None]:
        """After parsing: refuse a document over a shape limit before it is validated."""
        yield
        context = self.execution_context
        if context.graphql_document is None or context.pre_execution_errors:
            return
        problem = self.shapes.problem(
            context.query or "",
            context.graphql_document,
            max_field_repeats=self.settings.max_field_repeats,
            max_directives=self.settings.max_directives,
        )
        if problem is not None:
            context.pre_execution_errors = [
                GraphQLError(
                    problem.message,
                    nodes=[problem.node],
                    extensions={"code": problem.code, **problem.details},
                )
            ]

    async def on_validate(self) -> AsyncIterator[None]:
        """Runs after the validation cache's hook, before strawberry looks at the errors."""
        context = self.execution_context
        if context.pre_execution_errors is None and context.graphql_document is not None:
            context.pre_execution_errors = validate_document(
                context.schema._schema, context.graphql_document, context.validation_rules
            )
        if not context.pre_execution_errors:
            refused = await self._rate_limit() or self._cost_limit()
            if refused is not None:
                context.pre_execution_errors = [refused]
        yield

    async def _rate_limit(self) -> GraphQLError | None:
        if self.rate_limiter is None or _internal_execution(self.execution_context.root_value):
            return None
        context: Any = self.execution_context.context
        throttled = getattr(context, "transport", {}).get(AUTH_THROTTLED)
        if isinstance(throttled, Refusal):
            return _rate_limited(throttled, "too many refused credentials from this address")
        principal: Any = getattr(context, "principal", None)
        if principal is None:
            identity, budget = f"ip:{client_address.get()}", Budget.ANONYMOUS
        else:
            mutation = self.execution_context.operation_type is OperationType.MUTATION
            identity = f"key:{principal.key_id}"
            budget = Budget.MUTATIONS if mutation else Budget.READS
        refusal = await self.rate_limiter.hit(identity, budget)
        if refusal is None:
            return None
        return _rate_limited(refusal, f"Rate limit of {refusal.limit} for {budget.value} reached")

    def _cost_limit(self) -> GraphQLError | None:
        context = self.execution_context
        assert context.graphql_document is not None
        cost = self.costs.cost(
            context.schema._schema,
            context.graphql_document,
            context.query or "",
            context.operation_name,
            context.variables,
            self.cost_model,
        )
        if cost <= self.settings.max_cost:
            return None
        return GraphQLError(
            f"Query cost {cost} exceeds the limit of {self.settings.max_cost}: "
            "ask for smaller pages (`first`) or fewer nested lists",
            extensions={"code": QUERY_TOO_COSTLY, "cost": cost, "maxCost": self.settings.max_cost},
        )


def _rate_limited(refusal: Refusal, what: str) -> GraphQLError:
    return GraphQLError(
        f"{what}; retry in {refusal.retry_after_s} s",
        extensions={
            "code": RATE_LIMITED,
            "retryAfter": refusal.retry_after_s,
            "budget": refusal.budget.value,
        },
    )


class ShapeCache:
    """The shape check's verdict per document text (clients send fixed texts: the walk ran
    for every request, ~3% of a trivial query's CPU)."""

    def __init__(self, max_documents: int = 1024) -> None:
        self.max_documents = max_documents
        self._verdicts: OrderedDict[tuple[str, int, int], ShapeProblem | None] = OrderedDict()

    def problem(
        self, text: str, document: DocumentNode, *, max_field_repeats: int, max_directives: int
    ) -> ShapeProblem | None:
        key = (text, max_field_repeats, max_directives)
        if key in self._verdicts:
            self._verdicts.move_to_end(key)
            return self._verdicts[key]
        found = shape_problem(
            document, max_field_repeats=max_field_repeats, max_directives=max_directives
        )
        if text:
            self._verdicts[key] = found
            if len(self._verdicts) > self.max_documents:
                self._verdicts.popitem(last=False)
        return found


def query_limits(
    settings: LimitSettings, rate_limiter: RequestRateLimiter | None = None
) -> Callable[[], QueryLimits]:
    """The extension factory a schema takes: one QueryLimits per operation, shared rules."""
    rules = validation_rules(settings)
    costs = CostCache()  # per schema text and page size, shared by every operation
    shapes = ShapeCache()  # per document text

    def build() -> QueryLimits:
        return QueryLimits(settings=settings, rules=rules, rate_limiter=rate_limiter, costs=costs,
                           shapes=shapes)  # fmt: skip

    return build


def _internal_execution(root_value: object) -> bool:
    """A fan-out group's shared execution, or a subscriber's resync snapshot: not a request."""
    if isinstance(root_value, SharedFeed):
        return True
    return isinstance(root_value, SnapshotOnly) and root_value.reason != INITIAL
