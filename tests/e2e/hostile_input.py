"""Hostile input for the fuzz tests: what every answer to it must look like, hypothesis
strategies for JSON values and request objects, and a tally of the inputs sent (printed
after the run by tests/e2e/conftest.py)."""

from __future__ import annotations

import re
from collections import Counter
from typing import Any

import httpx
from hypothesis import strategies as st

from graph.schema import SUBGRAPHS

ENDPOINTS = ("/graphql", *(f"/subgraphs/{s.name}/graphql" for s in SUBGRAPHS))
LEAKS = ("Traceback", 'File "', "Internal Server Error")
STABLE_CODE = re.compile(r"^[A-Z][A-Z0-9_]*$")

# inputs sent, by kind ("http corpus", "http hypothesis", ...): the README's Reliability figures
TRIED: Counter[str] = Counter()


def error_codes_of(errors: object) -> list[str]:
    """The codes of a list of GraphQL errors, asserting each has a stable one."""
    assert isinstance(errors, list) and errors, errors
    codes = []
    for error in errors:
        code = error.get("extensions", {}).get("code") if isinstance(error, dict) else None
        assert isinstance(code, str) and STABLE_CODE.match(code), error
        codes.append(code)
    return codes


def typed_answer(response: httpx.Response) -> dict[str, Any]:
    """The JSON body of an answer that is no server error: status below 500, no traceback,
    every error with a stable ``extensions.code`` and none of them INTERNAL."""
    assert response.status_code < 500, (response.status_code, response.text[:500])
    assert not any(leak in response.text for leak in LEAKS), response.text[:500]
    assert response.headers["content-type"].startswith(
        ("application/json", "application/graphql-response+json")
    ), response.headers
    body = response.json()
    assert isinstance(body, dict) and ("data" in body or "errors" in body), body
    if "errors" in body:
        assert "INTERNAL" not in error_codes_of(body["errors"]), body
    return body


def refusal_code(response: httpx.Response) -> str:
    """The one code of a request refused before execution (no ``data`` entry)."""
    body = typed_answer(response)
    assert "data" not in body, body
    codes = error_codes_of(body["errors"])
    assert len(codes) == 1, body
    return codes[0]


json_scalars: st.SearchStrategy[Any] = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=30)
)
json_values: st.SearchStrategy[Any] = st.recursive(
    json_scalars,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=16,
)
query_texts = st.sampled_from(
    [
        "{ __typename }",
        "query Q { __typename }",
        "mutation { __typename }",
        "subscription { __typename }",
        "query A { __typename } query B { __typename }",
        "{ viewer { role } }",
        "query($n: Int) { markets { id } }",
        "{",
        "",
        "   ",
        "# only a comment",
        "fragment F on Query { __typename }",
        "{ ...F }",
        "{ __schema { types { name } } }",
        "{ nope }",
    ]
) | st.text(max_size=40)
json_objects = st.dictionaries(st.text(max_size=6), json_values, max_size=3)
request_fields = st.fixed_dictionaries(
    {},
    optional={
        "query": query_texts | json_values,
        "variables": json_objects | json_values,
        "operationName": st.sampled_from(["Q", "A", "B", ""]) | json_values,
        "extensions": json_objects | json_values,
    },
)
# a request object: the four fields with any values, and maybe keys nobody asked for
request_objects: st.SearchStrategy[dict[str, Any]] = st.builds(
    lambda fields, extra: {**extra, **fields}, request_fields, json_objects
)
