"""The error policy: DomainError passes through with its code; request errors are VALIDATION;
anything else is masked as INTERNAL with a correlation id and logged once with its traceback.
"""

from __future__ import annotations

import logging
import uuid

from graphql.error import GraphQLError
from strawberry.extensions import MaskErrors

from domains.shared.errors import DomainError
from graph.security.query_limits import request_error_code

log = logging.getLogger("caas.errors")

INTERNAL_MESSAGE = "Internal error. Quote the correlationId when contacting support."


def classify(error: GraphQLError) -> GraphQLError:
    """Return the error the client sees for ``error``."""
    original = error.original_error
    if isinstance(original, DomainError):
        error.extensions = {**original.extensions, **(error.extensions or {})}
        error.extensions["code"] = original.code
        return error
    if original is None or (isinstance(original, (ValueError, TypeError)) and error.path is None):
        # parse, validation and variable-coercion errors: safe, useful messages
        extensions = dict(error.extensions or {})
        extensions.setdefault("code", request_error_code(error))
        error.extensions = extensions
        return error
    if isinstance(original, GraphQLError):
        return classify(original)
    correlation_id = uuid.uuid4().hex
    log.error(
        "unexpected error in %s",
        ".".join(str(p) for p in error.path or ()),
        exc_info=original,
        extra={"correlation_id": correlation_id},
    )
    return GraphQLError(
        INTERNAL_MESSAGE,
        nodes=error.nodes,
        source=error.source,
        positions=error.positions,
        path=error.path,
        original_error=None,
        extensions={"code": "INTERNAL", "correlationId": correlation_id},
    )


class ErrorPolicy(MaskErrors):
    """Applies ``classify`` to every error of every result, streamed ones included."""

    def _process_errors(self, errors: list[GraphQLError]) -> list[GraphQLError]:
        return [classify(error) for error in errors]
