"""A store that does not answer is UNAVAILABLE to the client (retryable), never INTERNAL."""

from __future__ import annotations

from graphql import GraphQLError
from pymongo.errors import AutoReconnect, ServerSelectionTimeoutError

from graph.errors import STORE_UNAVAILABLE, classify


def test_a_store_connection_failure_in_a_resolver_is_unavailable() -> None:
    for failure in (ServerSelectionTimeoutError("no servers"), AutoReconnect("reset")):
        error = GraphQLError("x", path=["placeOrder"], original_error=failure)
        seen = classify(error)
        assert seen.extensions == {"code": "UNAVAILABLE"}
        assert seen.message == STORE_UNAVAILABLE and "no servers" not in seen.message


def test_any_other_error_is_still_internal() -> None:
    seen = classify(GraphQLError("x", path=["a"], original_error=RuntimeError("boom")))
    assert (seen.extensions or {})["code"] == "INTERNAL" and "boom" not in seen.message
